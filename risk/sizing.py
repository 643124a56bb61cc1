"""Position sizing: contract specs, whole-contract rounding, fixed fraction,
volatility targeting and capped fractional Kelly.

The public functions validate their arguments and call the numba kernels of
:mod:`risk._sizing_nb`, which the sweep kernel and the backtrader strategy call
directly (with the arguments :meth:`ContractSpec.kernel_args` gives), so both
engines size every trade with the same code.

Conventions (PITFALLS rule 10)
------------------------------
- Every ``fraction`` is a fraction, never a percentage: ``0.02`` means 2% and
  a value above 1 is an error (``fraction=2`` "means 200%"), never read as 2%.
- Sizes are absolute numbers of contracts (``>= 0``); multiply by the side.
- Futures trade whole contracts: sizes are truncated toward zero to whole lots
  exactly as backtrader's ``int()`` does (``int(20.9) == 20``,
  ``int(-20.9) == -20``), except that a value within :data:`QTY_EPS` lots
  below a whole number is float noise and counts as that number.  Crypto specs
  (``allow_fractional=True``) truncate to whole multiples of ``lot_size``.
- Order of the last steps: cap at ``max_position``, truncate to lots, sizes
  below ``min_qty`` become 0.
- Scalar sizes come back as ``int`` for whole-contract specs and ``float``
  for fractional ones.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.data._instruments import INSTRUMENTS, Instrument, bars_instrument, get_instrument
from ml.exceptions import ParameterError
from risk import _checks
from risk._checks import (
    check_fraction,
    check_int,
    check_max_position,
    check_probability,
    check_real,
)
from risk._sizing_nb import QTY_EPS

__all__ = [
    "CONTRACTS",
    "QTY_EPS",
    "ContractSpec",
    "contract_for",
    "fixed_contracts",
    "fixed_fraction",
    "get_contract",
    "kelly_fraction",
    "kelly_size",
    "round_quantity",
    "volatility_target",
]


@dataclass(frozen=True)
class ContractSpec:
    """What one contract is worth and how it may be traded.

    Parameters
    ----------
    multiplier : float, default 10.0
        Currency per point per contract (WDO: R$10 per point).
    tick_size : float, default 0.5
        Minimum price increment, in points (WDO: 0.5).
    lot_size : float, default 1
        Quantities are whole multiples of this (a whole number unless
        ``allow_fractional``).
    min_qty : float, default 1
        Smallest tradable size; smaller sizes become 0.
    allow_fractional : bool, default False
        Whether sizes may be fractions of a unit (crypto).  False for futures.
    margin : float, optional
        Margin per contract in currency: an account whose equity falls below
        ``margin`` times the contracts held is blown (trading stops), and an
        entry the equity cannot margin is refused.  None: only equity <= 0
        blows the account.
    name : str, optional
        The instrument preset it comes from (``"WDO"``), for the run's records.
    currency : str, optional
        Currency of P&L and costs (``"BRL"``, ``"USD"``).
    """

    multiplier: float = 10.0
    tick_size: float = 0.5
    lot_size: float = 1
    min_qty: float = 1
    allow_fractional: bool = False
    margin: float | None = None
    name: str | None = None
    currency: str | None = None

    def __post_init__(self):
        for name in ("multiplier", "tick_size", "lot_size"):
            check_real(name, getattr(self, name), positive=True)
        check_real("min_qty", self.min_qty, nonnegative=True)
        if not isinstance(self.allow_fractional, (bool, np.bool_)):
            raise TypeError(f"`allow_fractional` must be True or False, got {self.allow_fractional!r}.")
        if self.margin is not None:
            check_real("margin", self.margin, positive=True)
        if not self.allow_fractional:
            for name in ("lot_size", "min_qty"):
                value = getattr(self, name)
                if value != math.floor(value):
                    raise ParameterError(
                        f"`{name}` must be a whole number of contracts when `allow_fractional` is "
                        f"False, got {value!r}; futures trade whole contracts.")

    @classmethod
    def from_instrument(cls, instrument) -> "ContractSpec":
        """The spec of an :class:`ml.data.Instrument` (or a preset name)."""
        inst = get_instrument(instrument)
        return cls(multiplier=float(inst.multiplier), tick_size=float(inst.tick_size),
                   lot_size=inst.lot_size, min_qty=inst.min_qty, allow_fractional=bool(inst.fractional),
                   margin=inst.margin, name=inst.name, currency=inst.currency)

    @property
    def margin_arg(self) -> float:
        """Margin per contract as the kernels take it (0: none)."""
        return 0.0 if self.margin is None else float(self.margin)

    def kernel_args(self) -> tuple[float, float, bool]:
        """``(lot_size, min_qty, allow_fractional)`` as the sizing kernels take them."""
        return float(self.lot_size), float(self.min_qty), bool(self.allow_fractional)

    def round_quantity(self, qty):
        """Signed ``qty`` truncated toward zero to whole lots (see :func:`round_quantity`)."""
        return round_quantity(qty, self)

    def round_price(self, price: float, direction: int = 0) -> float:
        """``price`` on the tick grid: ``direction`` -1 down, +1 up, 0 nearest."""
        price = check_real("price", price)
        if direction not in (-1, 0, 1):
            raise ParameterError(f"`direction` must be -1 (down), 0 (nearest) or 1 (up), got {direction!r}.")
        return float(_checks.kernel("round_to_tick")(price, float(self.tick_size), int(direction)))

    def point_value(self, points: float) -> float:
        """Currency value of ``points`` price points for one contract."""
        return float(points) * float(self.multiplier)


#: The instrument presets' contract specs (:data:`ml.data.INSTRUMENTS`: B3
#: futures and stocks, CME futures, US stocks, crypto), by preset name.
CONTRACTS: dict[str, ContractSpec] = {name: ContractSpec.from_instrument(inst)
                                      for name, inst in INSTRUMENTS.items()}


def get_contract(contract=None, multiplier=None) -> ContractSpec:
    """A :class:`ContractSpec` from a spec, an instrument, a preset name
    (case-insensitive, with a did-you-mean) or ``None`` (WDO-like defaults, for
    the sizing functions on plain numbers; engines resolve the contract from
    the bars with :func:`contract_for`).

    ``multiplier``, when given, overrides the spec's multiplier.
    """
    if contract is None:
        spec = ContractSpec()
    elif isinstance(contract, ContractSpec):
        spec = contract
    elif isinstance(contract, str):
        spec = CONTRACTS[get_instrument(contract).name]
    elif isinstance(contract, Instrument):
        spec = ContractSpec.from_instrument(contract)
    else:
        raise TypeError(f"`contract` must be a ContractSpec, an Instrument, a preset name or None, "
                        f"got {type(contract).__name__} {contract!r}.")
    if multiplier is not None:
        spec = dataclasses.replace(spec, multiplier=check_real("multiplier", multiplier, positive=True))
    return spec


def contract_for(bars, contract=None) -> ContractSpec:
    """The contract of a run on ``bars``: never a silent default.

    Parameters
    ----------
    bars : DataFrame
        Bars as :func:`ml.data.load_bars` returns them (the instrument it
        recorded, else the ``symbol`` column, gives the preset).
    contract : str, Instrument or ContractSpec, optional
        None: the bars' instrument.  A preset name or Instrument: checked
        against the bars' symbol (a preset that contradicts it raises).  A
        ContractSpec: used as given (an explicit specification).

    Raises
    ------
    UnknownInstrumentError
        No contract given and the bars' symbol maps to no preset.
    ParameterError
        No contract given and the bars carry neither a recorded instrument
        nor a symbol; or ``contract`` contradicts the symbol.

    Examples
    --------
    >>> import pandas as pd
    >>> bars = pd.DataFrame({"close": [1.1], "symbol": ["6EH4"]},
    ...                     index=pd.DatetimeIndex(["2024-01-02 10:00"], tz="America/Chicago"))
    >>> spec = contract_for(bars)
    >>> spec.name, spec.multiplier, spec.currency
    ('6E', 125000.0, 'USD')
    """
    if isinstance(contract, ContractSpec):
        return contract
    return ContractSpec.from_instrument(bars_instrument(bars, None if contract is None else get_instrument(contract)))


def _out(q: float, spec: ContractSpec):
    return float(q) if spec.allow_fractional else int(q)


def round_quantity(qty, contract=None):
    """Truncate a signed quantity toward zero to whole lots, as backtrader's ``int()``.

    Parameters
    ----------
    qty : float
        Signed quantity.
    contract : ContractSpec, str or None
        Lot size and whether fractions are allowed (default: whole contracts).

    Returns
    -------
    int or float
        ``int(qty)`` for whole-contract specs with lot size 1 (except for a
        value within :data:`QTY_EPS` below a whole number, which is float
        noise and counts as that number); whole multiples of ``lot_size``
        otherwise.

    Examples
    --------
    >>> round_quantity(20.9), round_quantity(-20.9), round_quantity(19.999999999999996)
    (20, -20, 20)
    >>> round_quantity(0.12345, "crypto")
    0.123
    """
    spec = get_contract(contract)
    qty = check_real("qty", qty)
    lot, _, frac = spec.kernel_args()
    return _out(_checks.kernel("round_quantity")(qty, lot, frac), spec)


def fixed_contracts(n_contracts, *, contract=None, max_position=None):
    """A fixed number of contracts, capped at ``max_position`` and rounded to whole lots.

    Examples
    --------
    >>> fixed_contracts(3), fixed_contracts(3, max_position=2), fixed_contracts(2.7)
    (3, 2, 2)
    """
    spec = get_contract(contract)
    n = check_real("n_contracts", n_contracts, nonnegative=True)
    lot, min_qty, frac = spec.kernel_args()
    q = _checks.kernel("fixed_contracts")(n, lot, min_qty, check_max_position(max_position), frac)
    return _out(q, spec)


def fixed_fraction(equity, fraction, price=None, multiplier=None, stop_distance=None, *,
                   contract=None, max_position=None):
    """Contracts that risk ``fraction`` of ``equity`` on one trade.

    Parameters
    ----------
    equity : float
        Account equity in currency, > 0.
    fraction : float
        Fraction of equity in (0, 1]: **0.02 means 2%**.  Values above 1 are
        an error (``fraction=2`` means 200%), never read as percentages.
    price : float, optional
        Entry price in points; required without ``stop_distance``.
    multiplier : float, optional
        Currency per point per contract; default ``contract``'s (WDO: 10).
    stop_distance : float, optional
        Distance from entry to stop in price points, > 0.  With it, losing at
        the stop costs ``fraction * equity``; without it, ``fraction`` is the
        notional exposure.
    contract : ContractSpec, str or None
        Lot size, minimum size and fractional trading (default WDO-like).
    max_position : float, optional
        Cap on the absolute size, applied before rounding.

    Returns
    -------
    int or float
        Absolute size, truncated to whole lots (0 when below ``min_qty``).

    Notes
    -----
    With a stop: ``qty = fraction * equity / (stop_distance * multiplier)``.
    Without: ``qty = fraction * equity / (price * multiplier)``.

    Examples
    --------
    WDO (R$10/point), R$100,000, risk 1% with a 5-point stop:
    1,000 / (5 * 10) = 20 contracts.

    >>> fixed_fraction(100_000, 0.01, price=5000.0, multiplier=10.0, stop_distance=5.0)
    20
    """
    spec = get_contract(contract, multiplier)
    equity = check_real("equity", equity, positive=True)
    fraction = check_fraction("fraction", fraction)
    stop_distance = check_real("stop_distance", stop_distance, positive=True, allow_none=True)
    if stop_distance is None and price is None:
        raise ParameterError("`price` is required when `stop_distance` is None (notional sizing); "
                             "pass the entry price or a stop distance.")
    price = check_real("price", price, positive=True, allow_none=True)
    lot, min_qty, frac = spec.kernel_args()
    q = _checks.kernel("fixed_fraction")(
        equity, fraction, math.nan if price is None else price, float(spec.multiplier),
        math.nan if stop_distance is None else stop_distance,
        lot, min_qty, check_max_position(max_position), frac)
    return _out(q, spec)


def _as_float_array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value.to_numpy() if isinstance(value, pd.Series) else value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a real number or a 1-D array of them: {exc}") from None
    if arr.ndim > 1:
        raise ParameterError(f"`{name}` must be a scalar or 1-D, got shape {arr.shape}.")
    return arr


def volatility_target(equity, target_vol, sigma_forecast, price, multiplier=None, *,
                      periods_per_year=None, contract=None, max_position=None):
    """Contracts whose expected per-bar P&L volatility is ``target_vol`` of equity.

    Parameters
    ----------
    equity : float or array-like of shape (n_bars,)
        Account equity in currency.
    target_vol : float
        Target volatility as a fraction of equity in (0, 1]: 0.001 means 0.1%.
        Per bar, or per year when ``periods_per_year`` is given (then divided
        by ``sqrt(periods_per_year)``; e.g. 252 * 540 for 1-minute bars in a
        9-hour session, PITFALLS rule 14).
    sigma_forecast : float or array-like of shape (n_bars,)
        Per-bar return volatility forecast in return units (not percent), e.g.
        :meth:`ml.models.GarchModel.predict_volatility`: its row ``t`` uses
        data up to ``t`` and sizes an entry decided at ``t`` and filled at
        ``t + 1``.  NaN (warm-up) gives size 0; negative values are an error.
    price : float or array-like of shape (n_bars,)
        Price in points, > 0 (NaN gives size 0).
    multiplier : float, optional
        Currency per point per contract; default ``contract``'s.
    periods_per_year : int, optional
        Makes ``target_vol`` annual.
    contract, max_position
        As in :func:`fixed_fraction`.

    Returns
    -------
    int, float, ndarray or Series
        A scalar for scalar inputs, else float64 sizes of shape (n_bars,)
        (a Series with the index of the Series given, if any).

    Notes
    -----
    ``qty = target_vol * equity / (sigma * price * multiplier)``.

    Examples
    --------
    R$100,000, 0.1% per bar, sigma 0.05% per bar, WDO at 5,000:
    100 / (0.0005 * 5000 * 10) = 4 contracts.

    >>> volatility_target(100_000, 0.001, 0.0005, 5000.0, 10.0)
    4
    """
    spec = get_contract(contract, multiplier)
    target = check_fraction("target_vol", target_vol, what="of equity per period")
    ppy = check_int("periods_per_year", periods_per_year, 1, allow_none=True)
    if ppy is not None:
        target = target / math.sqrt(ppy)
    lot, min_qty, frac = spec.kernel_args()
    cap = check_max_position(max_position)
    mult = float(spec.multiplier)
    series = [v for v in (sigma_forecast, equity, price) if isinstance(v, pd.Series)]
    for other in series[1:]:
        if not other.index.equals(series[0].index):
            raise ParameterError("`sigma_forecast`, `equity` and `price` Series must share one index.")
    sigma = _as_float_array("sigma_forecast", sigma_forecast)
    eq = _as_float_array("equity", equity)
    px = _as_float_array("price", price)
    if np.any(sigma < 0) or np.any(np.isinf(sigma)):
        bad = sigma[(sigma < 0) | np.isinf(sigma)][0]
        raise ParameterError(f"`sigma_forecast` must be >= 0 and finite (NaN allowed: size 0), got {bad!r}.")
    if np.any(eq <= 0) or np.any(np.isinf(eq)):
        raise ParameterError("`equity` must be finite and > 0.")
    if np.any(px <= 0) or np.any(np.isinf(px)):
        raise ParameterError("`price` must be finite and > 0 (NaN allowed: size 0).")
    if sigma.ndim == eq.ndim == px.ndim == 0:
        q = _checks.kernel("volatility_target")(float(eq), target, float(sigma), float(px), mult,
                                               lot, min_qty, cap, frac)
        return _out(q, spec)
    try:
        eq, sigma, px = (np.ascontiguousarray(a, dtype=np.float64)
                         for a in np.broadcast_arrays(eq, sigma, px))
    except ValueError:
        raise ParameterError(f"`equity`, `sigma_forecast` and `price` must broadcast to one "
                             f"length, got shapes {np.shape(equity)}, {np.shape(sigma_forecast)}, "
                             f"{np.shape(price)}.") from None
    out = _checks.kernel("volatility_target_array")(eq, target, sigma, px, mult, lot, min_qty, cap, frac)
    if series:
        return pd.Series(out, index=series[0].index, name="qty")
    return out


def kelly_fraction(p_win, payoff_ratio, fraction=0.5, cap=0.25):
    """Capped fractional Kelly fraction of equity to risk per trade.

    Parameters
    ----------
    p_win : float
        Probability of a win, in [0, 1] (0.55 means 55%).
    payoff_ratio : float
        ``b`` = average win / average loss, > 0 (e.g. take distance / stop distance).
    fraction : float, default 0.5
        Multiple of full Kelly in (0, 1] (0.5 = half Kelly).
    cap : float, default 0.25
        Largest fraction of equity returned, in (0, 1].

    Returns
    -------
    float
        ``min(cap, fraction * max(0, p - (1 - p) / b))``; 0 when there is no edge.

    Notes
    -----
    Full Kelly ``f* = p - (1 - p) / b`` maximises the expected log growth of a
    bet that wins ``b`` per unit risked with probability ``p``; fractional
    Kelly trades some growth for much lower drawdowns and robustness to an
    overestimated ``p``.

    References
    ----------
    Kelly, J. L. (1956). A new interpretation of information rate.
    *Bell System Technical Journal*, 35(4), 917-926.

    Examples
    --------
    >>> round(kelly_fraction(0.55, 1.0, fraction=1.0), 12), round(kelly_fraction(0.55, 1.0), 12)
    (0.1, 0.05)
    """
    p = check_probability("p_win", p_win)
    b = check_real("payoff_ratio", payoff_ratio, positive=True)
    frac = check_fraction("fraction", fraction, what="of full Kelly")
    cap = check_fraction("cap", cap)
    return float(_checks.kernel("kelly_fraction")(p, b, frac, cap))


def kelly_size(equity, p_win, payoff_ratio, price=None, multiplier=None, stop_distance=None, *,
               fraction=0.5, cap=0.25, contract=None, max_position=None):
    """:func:`fixed_fraction` sizing with the fraction from :func:`kelly_fraction`.

    With ``stop_distance``, the Kelly fraction of equity is what the stop
    loses (``payoff_ratio`` is then the take distance over the stop
    distance); without it, the Kelly fraction is the notional exposure.
    No edge gives 0 contracts.

    Examples
    --------
    R$100,000, p=0.55, b=1, half Kelly 5%, WDO 5-point stop:
    5,000 / (5 * 10) = 100 contracts (capped by ``max_position``).

    >>> kelly_size(100_000, 0.55, 1.0, stop_distance=5.0, max_position=50)
    50
    """
    spec = get_contract(contract, multiplier)
    equity = check_real("equity", equity, positive=True)
    p = check_probability("p_win", p_win)
    b = check_real("payoff_ratio", payoff_ratio, positive=True)
    frac = check_fraction("fraction", fraction, what="of full Kelly")
    cap_f = check_fraction("cap", cap)
    stop_distance = check_real("stop_distance", stop_distance, positive=True, allow_none=True)
    if stop_distance is None and price is None:
        raise ParameterError("`price` is required when `stop_distance` is None (notional sizing); "
                             "pass the entry price or a stop distance.")
    price = check_real("price", price, positive=True, allow_none=True)
    lot, min_qty, fr = spec.kernel_args()
    q = _checks.kernel("kelly_size")(
        equity, p, b, math.nan if price is None else price, float(spec.multiplier),
        math.nan if stop_distance is None else stop_distance, frac, cap_f,
        lot, min_qty, check_max_position(max_position), fr)
    return _out(q, spec)
