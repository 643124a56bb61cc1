"""Daily trading limits: loss per session, entries per session, position cap.

:class:`DailyLimits` holds and validates the limits; the kernels of
:mod:`risk._limits_nb` apply them to a small float64 state array inside the
sweep kernel, and :class:`DailyLimitTracker` wraps the same kernels for an
event-driven engine (backtrader), so both apply identical rules.

Engine contract
---------------
1. First bar of each session, before any order:
   ``new_session_reset(session, equity)`` with the equity at the session's
   start (sessions are numbered; daily means by exchange session, PITFALLS
   rule 11).
2. Each bar's close ``t``: ``loss_limit_hit(session, equity)`` with equity
   marked to that close (realised + unrealised, net of costs).  True means
   the session is halted: flatten any position at bar ``t + 1``'s open and
   open nothing more until the next session, even if equity recovers.
3. Before an order that adds exposure: ``can_open(...)``; orders that only
   reduce or close are always allowed.  Refused: halted session, a result
   above ``max_position`` contracts, or a new entry (from flat or a
   reversal) once ``max_trades_per_day`` entries were made.
4. After every fill: ``after_fill(...)``, which counts entries (from flat or
   a reversal; adds to an open position are not entries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml.exceptions import ParameterError
from risk import _checks
from risk._checks import check_fraction, check_int, check_real
from risk._limits_nb import N_LIMIT_STATE, S_HALTED, S_SESSION, S_START_EQ, S_TRADES

__all__ = [
    "N_LIMIT_STATE",
    "S_HALTED",
    "S_SESSION",
    "S_START_EQ",
    "S_TRADES",
    "DailyLimitTracker",
    "DailyLimits",
]


@dataclass(frozen=True)
class DailyLimits:
    """Limits per trading session; ``None`` disables a limit.

    Parameters
    ----------
    max_daily_loss : float, optional
        Loss in **currency** from the session's starting equity (e.g. 2000.0
        for R$2,000) that halts the session.  Values below 1 are refused as a
        probable fraction: use ``max_daily_loss_fraction`` for those.
    max_daily_loss_fraction : float, optional
        The same as a fraction of start-of-session equity in (0, 1]: **0.02
        means 2%**; 2 is an error (it would mean 200%).  When both are given,
        whichever is reached first halts.
    max_trades_per_day : int, optional
        Entries per session (from flat or reversals), >= 1.
    max_position : float, optional
        Largest absolute position in contracts, > 0.
    """

    max_daily_loss: float | None = None
    max_daily_loss_fraction: float | None = None
    max_trades_per_day: int | None = None
    max_position: float | None = None

    def __post_init__(self):
        loss = check_real("max_daily_loss", self.max_daily_loss, positive=True, allow_none=True)
        if loss is not None and loss < 1.0:
            raise ParameterError(
                f"`max_daily_loss` is a loss in currency, got {loss!r}; it looks like a fraction. "
                f"For {loss * 100:g}% of the session's starting equity pass "
                f"max_daily_loss_fraction={loss!r}.")
        check_fraction("max_daily_loss_fraction", self.max_daily_loss_fraction, allow_none=True,
                       what="of start-of-session equity")
        check_int("max_trades_per_day", self.max_trades_per_day, 1, allow_none=True)
        check_real("max_position", self.max_position, positive=True, allow_none=True,
                   hint=" Pass None for no cap.")

    def kernel_args(self) -> tuple[float, float, int, float]:
        """``(max_loss, max_loss_frac, max_trades, max_position)`` as the kernels take them.

        Disabled limits become 0.0, 0.0, 0 and inf.
        """
        return (
            0.0 if self.max_daily_loss is None else float(self.max_daily_loss),
            0.0 if self.max_daily_loss_fraction is None else float(self.max_daily_loss_fraction),
            0 if self.max_trades_per_day is None else int(self.max_trades_per_day),
            math.inf if self.max_position is None else float(self.max_position),
        )

    def new_state(self) -> np.ndarray:
        """A fresh state array of length :data:`N_LIMIT_STATE` (no session yet)."""
        return _checks.kernel("new_limits_state")()


def _session(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`session` must be an int session number, got {type(value).__name__} {value!r}.")
    return float(value)


class DailyLimitTracker:
    """One account's limit state for an event-driven engine (backtrader).

    Calls the same kernels as the sweep kernel (see the module docstring for
    the order of calls).

    Parameters
    ----------
    limits : DailyLimits

    Examples
    --------
    >>> t = DailyLimitTracker(DailyLimits(max_daily_loss=1000.0, max_trades_per_day=2))
    >>> t.new_session_reset(1, 100_000.0)
    >>> t.can_open(1, 100_000.0, position=0, order_qty=1)
    True
    >>> t.loss_limit_hit(1, 98_900.0)      # R$1,100 down: halted for the session
    True
    >>> t.can_open(1, 100_500.0, position=0, order_qty=1)  # recovered, still halted
    False
    >>> t.can_open(2, 100_500.0, position=0, order_qty=1)  # next session
    True
    """

    def __init__(self, limits: DailyLimits):
        if not isinstance(limits, DailyLimits):
            raise TypeError(f"`limits` must be a DailyLimits, got {type(limits).__name__}.")
        self.limits = limits
        self._args = limits.kernel_args()
        self.state = limits.new_state()

    @property
    def trades_today(self) -> int:
        return int(self.state[S_TRADES])

    @property
    def halted(self) -> bool:
        return bool(self.state[S_HALTED])

    def new_session_reset(self, session: int, equity: float) -> None:
        _checks.kernel("new_session_reset")(self.state, _session(session), check_real("equity", equity))

    def loss_limit_hit(self, session: int, equity: float) -> bool:
        """True when the session is halted: flatten and open nothing more today."""
        max_loss, max_frac, _, _ = self._args
        return bool(_checks.kernel("loss_limit_hit")(
            self.state, _session(session), check_real("equity", equity), max_loss, max_frac))

    def can_open(self, session: int, equity: float, position: float, order_qty: float) -> bool:
        """Whether the signed ``order_qty`` on top of ``position`` is allowed now."""
        return bool(_checks.kernel("can_open")(
            self.state, _session(session), check_real("equity", equity),
            check_real("position", position), check_real("order_qty", order_qty), *self._args))

    def after_fill(self, session: int, equity: float, position_before: float, position_after: float) -> int:
        """Record a fill; returns the entries made so far this session."""
        return int(_checks.kernel("after_fill_update")(
            self.state, _session(session), check_real("equity", equity),
            check_real("position_before", position_before), check_real("position_after", position_after)))
