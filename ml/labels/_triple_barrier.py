"""Triple-barrier labels (volatility-scaled, session-bounded) and meta-labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ml._checks import check_bool, check_int
from ml.exceptions import ParameterError
from ml.labels._checks import (
    barrier_names,
    check_bars,
    check_float,
    check_series,
    kernel,
    segments,
    wrap_t1,
)

__all__ = ["meta_labels", "triple_barrier_labels"]


def _bar_volatility(open_: np.ndarray, close: np.ndarray, first_in_session: np.ndarray,
                    span: int) -> np.ndarray:
    """Causal EWM std of 1-bar log returns; the first bar of a session uses close/open.

    Overnight gaps and contract rolls would otherwise inflate the intraday
    volatility that sizes the barriers.
    """
    r = np.empty(len(close))
    r[0] = math.log(close[0] / open_[0])
    r[1:] = np.log(close[1:] / close[:-1])
    r[first_in_session] = np.log(close[first_in_session] / open_[first_in_session])
    return pd.Series(r).ewm(span=span, min_periods=span).std().to_numpy()


def triple_barrier_labels(bars: pd.DataFrame, *, max_holding: int, pt: float | None = 1.0,
                          sl: float | None = 1.0, vol=None, vol_span: int = 100,
                          min_ret: float = 0.0, side=None, calendar=None,
                          cross_session: bool = False) -> pd.DataFrame:
    """Label every bar by which of three barriers a position entered at the next open hits first.

    The decision for bar ``t`` is made after its close; the position is
    entered at ``entry = open[t + 1]``.  With ``width_t = sigma_t *
    sqrt(h_t)`` (log-return units), ``h_t = min(max_holding, whole bars
    left after t before the session close by the calendar)`` (``max_holding``
    with ``cross_session``), the horizontal barriers are

    - profit taking ("upper"): ``entry * exp(+side * pt * width_t)``;
    - stop loss ("lower"): ``entry * exp(-side * sl * width_t)``;

    (``side = +1`` without a ``side`` argument) and the vertical barrier is
    the close of bar ``t_end = min(t + max_holding, last bar of t's
    session)``.  Bars ``t + 1 .. t_end`` are scanned in order; the first bar
    that touches a horizontal barrier (``high >=`` / ``low <=``, equality
    counts) ends the event.

    Parameters
    ----------
    bars : DataFrame
        Bars indexed by their tz-aware open time (strictly increasing), with
        columns ``open, high, low, close``.  A ``symbol`` column, when present,
        marks contracts: an event never spans a change of symbol (roll).
    max_holding : int
        Vertical barrier in bars after ``t``, >= 1.
    pt, sl : float or None, default 1.0
        Profit-taking and stop-loss multiples of ``width_t``, >= 0; 0 or None
        disables that barrier.
    vol : Series or array-like of shape (n_bars,), optional
        Per-bar sigma (std of 1-bar log returns) known at bar ``t``'s close,
        indexed like ``bars``.  Default: EWM std (``span=vol_span``,
        ``min_periods=vol_span``) of 1-bar log close returns up to and
        including ``t``, where the first bar of each session (or contract)
        contributes ``log(close / open)`` instead of the overnight gap.
    vol_span : int, default 100
        Span of the default volatility, >= 2.
    min_ret : float, default 0.0
        A vertical exit gets label 0 when ``|ret| <= min_ret`` (log units, >= 0).
    side : Series or array-like of shape (n_bars,), optional
        Position decided at bar ``t`` (+1 long, -1 short, 0 or NaN flat), e.g.
        a primary model's signal, indexed like ``bars``.  Barriers, ``ret``
        and ``label`` are then side-adjusted, and rows with side 0 / NaN get
        NaN labels.
    calendar : str or SessionCalendar, optional
        Session calendar; default as :func:`ml.data.bars_calendar`.
    cross_session : bool, default False
        Let the vertical barrier lie in a later session (a change of
        ``symbol`` still ends every event).

    Returns
    -------
    DataFrame
        Indexed like ``bars``, columns:

        - ``label`` : float64 in {-1, 0, +1}; +1 "upper", -1 "lower", 0
          "both"; a vertical exit gives ``sign(ret)`` if ``|ret| > min_ret``
          else 0.  NaN where undefined.
        - ``ret`` : float64, ``side * log(exit_price / entry_price)``.
        - ``t1`` : datetime, open time of the exit bar (the label uses data up
          to that bar's close); NaT where undefined.  Always ``t1 >= `` the
          next bar and never past the session end (unless ``cross_session``).
        - ``barrier`` : str, ``"upper"`` (profit taking), ``"lower"`` (stop
          loss), ``"vertical"`` or ``"both"``; missing where undefined.
        - ``entry_price``, ``exit_price`` : float64.

        ``attrs["labels"]`` records the parameters and counts.

    Raises
    ------
    TypeError
        Wrong types (``bars`` not a DataFrame, ``max_holding`` not an int, ...).
    ml.exceptions.ParameterError
        ``max_holding < 1``, ``vol_span < 2``, negative ``pt``/``sl``/
        ``min_ret``, negative ``vol``, ``side`` values other than -1/0/+1, or
        ``vol``/``side`` not aligned with ``bars``.
    ml.exceptions.MissingColumnsError, ml.exceptions.BarDataError
        Missing columns; unsorted, duplicate or naive timestamps; bad prices.

    Notes
    -----
    Fills (see ``PITFALLS.md`` rules 1, 4-7):

    - A bar that *opens* beyond a barrier (a gap) exits at its open, not at
      the barrier: a stop gapped through loses more, a target gapped through
      gains more.  Otherwise the exit price is the barrier itself, so every
      exit price lies within its bar's [low, high].
    - Both horizontal barriers inside one bar's range: without ``side`` the
      order is unknown, so ``label = 0``, ``barrier = "both"`` and the exit is
      that bar's close; with ``side`` the stop is assumed hit first
      (pessimistic): ``barrier = "lower"``, exit at the stop price.
    - The vertical exit is at ``close[t_end]``.

    A label is undefined (NaN) where the side is 0/NaN, where ``t`` is the
    last bar of its session (no entry bar), where ``sigma_t`` is NaN or 0 and
    a horizontal barrier is enabled (e.g. the ``vol_span`` warm-up), and
    where the vertical barrier would lie after the last bar of data that may
    continue (the data end inside a session, or anywhere with
    ``cross_session``) and no horizontal barrier was touched before it: a
    label is never cut short by the end of the data.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 3.4 (the triple-barrier method), 3.5 (learning side and
    size) and 3.6 (meta-labeling).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-01-02 10:00", periods=3, freq="min", tz="UTC")
    >>> bars = pd.DataFrame({"open": [100.0, 100.0, 95.0], "high": [100.0, 100.5, 96.0],
    ...                      "low": [100.0, 99.5, 94.0], "close": [100.0, 100.0, 95.0]},
    ...                     index=idx)
    >>> out = triple_barrier_labels(bars, max_holding=2, vol=[0.01 / 2 ** 0.5] * 3,
    ...                             calendar="24/7")
    >>> row = out.iloc[0]  # bar 2 opens at 95, below the stop 99.005: exit at the open
    >>> float(row["label"]), row["barrier"], float(row["exit_price"])
    (-1.0, 'lower', 95.0)
    """
    max_holding = check_int("max_holding", max_holding, 1, hint=" It counts bars after t.")
    pt = check_float("pt", pt, allow_none=True)
    sl = check_float("sl", sl, allow_none=True)
    vol_span = check_int("vol_span", vol_span, 2, hint=" A span of 1 has no variance; try 100.")
    min_ret = check_float("min_ret", min_ret)
    cross_session = check_bool("cross_session", cross_session)
    cols = check_bars(bars, ("open", "high", "low", "close"))
    index = bars.index
    n = len(index)
    seg_end, first_in_session, open_end, cal_name, bars_to_close = segments(bars, calendar, cross_session)

    if vol is None:
        sigma = _bar_volatility(cols["open"], cols["close"], first_in_session, vol_span)
    else:
        sigma = check_series("vol", vol, index)
        neg = np.flatnonzero(sigma < 0)
        if len(neg):
            raise ParameterError(f"`vol` must be >= 0 (a standard deviation), got {float(sigma[neg[0]])!r} "
                                 f"at {index[neg[0]]} ({len(neg)} such rows).")
    if side is None:
        side_arr = np.ones(n)
        has_side = False
    else:
        side_arr = check_series("side", side, index)
        bad = np.flatnonzero(~(np.isin(side_arr, (-1.0, 0.0, 1.0)) | np.isnan(side_arr)))
        if len(bad):
            raise ParameterError(f"`side` must hold -1, 0, +1 or NaN, got {float(side_arr[bad[0]])!r} at "
                                 f"{index[bad[0]]} ({len(bad)} such rows); use np.sign(signal).")
        has_side = True
    # Horizon actually available: the vertical barrier is cut at the session
    # close, and the barriers shrink with it so that late bars are not labelled
    # by barriers too wide for the time left.  Taken from the calendar, not
    # from the rows present, so it is known at decision time.
    horizon = np.clip(bars_to_close, 1.0, float(max_holding))
    width = sigma * np.sqrt(horizon)

    label, ret, entry, exit_px, exit_idx, codes = kernel("triple_barrier")(
        cols["open"], cols["high"], cols["low"], cols["close"], width, side_arr, seg_end,
        max_holding, pt, sl, min_ret, has_side, open_end)
    out = pd.DataFrame({"label": label, "ret": ret, "t1": wrap_t1(index, exit_idx)}, index=index)
    out["barrier"] = barrier_names(codes, index)
    out["entry_price"] = entry
    out["exit_price"] = exit_px
    n_defined = int(np.isfinite(label).sum())
    out.attrs["labels"] = {
        "method": "triple_barrier",
        "max_holding": max_holding,
        "pt": pt,
        "sl": sl,
        "vol": "given" if vol is not None else f"ewm_std(span={vol_span})",
        "min_ret": min_ret,
        "side": has_side,
        "calendar": cal_name,
        "cross_session": cross_session,
        "data_may_continue": open_end,
        "n_defined": n_defined,
        "n_undefined": n - n_defined,
        "barrier_counts": {k: int(v) for k, v in out["barrier"].value_counts().items()},
    }
    return out


def meta_labels(bars: pd.DataFrame, side, **triple_barrier_kwargs) -> pd.DataFrame:
    """Meta-labels: 1 where the primary model's trade (``side``) would have made more than ``min_ret``.

    Runs :func:`triple_barrier_labels` with ``side`` and maps its side-adjusted
    return: ``label = 1`` if ``ret > min_ret`` else ``0``; NaN where the side
    is 0 / NaN or the triple-barrier label is undefined.

    Parameters
    ----------
    bars : DataFrame
        As for :func:`triple_barrier_labels`.
    side : Series or array-like of shape (n_bars,)
        Primary model's position decided at each bar: +1, -1, 0 or NaN.
    **triple_barrier_kwargs
        ``max_holding`` (required), ``pt``, ``sl``, ``vol``, ``vol_span``,
        ``min_ret``, ``calendar``, ``cross_session``.

    Returns
    -------
    DataFrame
        Same columns as :func:`triple_barrier_labels`, ``label`` in {0, 1}.
        A bar holding both barriers counts as a stop (label 0).

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 3.6 (meta-labeling) and 3.7 (how to use meta-labeling).
    """
    if side is None:
        raise TypeError("`side` is required for meta_labels (the primary model's -1/0/+1 signal).")
    out = triple_barrier_labels(bars, side=side, **triple_barrier_kwargs)
    min_ret = out.attrs["labels"]["min_ret"]
    ret = out["ret"].to_numpy()
    out["label"] = np.where(np.isnan(ret), np.nan, (ret > min_ret).astype(np.float64))
    out.attrs["labels"] = dict(out.attrs["labels"], method="meta_labels")
    return out
