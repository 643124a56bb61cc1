"""Position sizing, stops and trading limits shared by both engines.

- :mod:`risk.sizing` -- :class:`ContractSpec` and presets (:data:`CONTRACTS`),
  whole-contract rounding (truncation like backtrader's ``int()``), fixed
  contracts, fixed fraction, volatility targeting and capped fractional Kelly.
- :mod:`risk.stops` -- ATR and volatility stop/take levels, trailing stops,
  exit checks with gap fills (stop first when both levels lie in one bar),
  time stops.
- :mod:`risk.limits` -- daily loss (currency or fraction), trades per day and
  position caps (:class:`DailyLimits`).
- :mod:`risk.rules` -- :class:`Sizing` and :class:`Stops`, the configuration
  of a run's sizing and stops; with :class:`DailyLimits` they are the rules
  every engine executes (``engines.engine.Rules``).

Each public function validates its inputs and calls a numba kernel
(``risk._sizing_nb``, ``risk._stops_nb``, ``risk._limits_nb``); the sweep
kernel and the backtrader strategy call those same kernels, so both engines
apply identical rules.  Fractions are fractions: 0.02 means 2%.
"""

from risk.limits import DailyLimits, DailyLimitTracker
from risk.rules import Sizing, Stops
from risk.sizing import (
    CONTRACTS,
    ContractSpec,
    contract_for,
    fixed_contracts,
    fixed_fraction,
    get_contract,
    kelly_fraction,
    kelly_size,
    round_quantity,
    volatility_target,
)
from risk.stops import (
    EXIT_NONE,
    EXIT_STOP,
    EXIT_TAKE,
    atr_stop_levels,
    check_exit,
    exit_ambiguous,
    time_stop,
    trailing_stop_update,
    vol_stop_levels,
)

__all__ = sorted([
    "CONTRACTS",
    "ContractSpec",
    "contract_for",
    "DailyLimitTracker",
    "DailyLimits",
    "Sizing",
    "Stops",
    "EXIT_NONE",
    "EXIT_STOP",
    "EXIT_TAKE",
    "atr_stop_levels",
    "check_exit",
    "exit_ambiguous",
    "fixed_contracts",
    "fixed_fraction",
    "get_contract",
    "kelly_fraction",
    "kelly_size",
    "round_quantity",
    "time_stop",
    "trailing_stop_update",
    "vol_stop_levels",
    "volatility_target",
])
