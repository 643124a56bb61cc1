"""A reusable look-ahead check for any function of bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.exceptions import LookAheadError, ParameterError

__all__ = ["check_causality", "perturb_after"]


def perturb_after(bars: pd.DataFrame, t: int, seed: int = 0, scale: float = 0.05) -> pd.DataFrame:
    """Copy of ``bars`` with every row after position ``t`` replaced by other valid bars.

    Prices of rows ``> t`` are multiplied by random factors (high/low kept
    consistent), volumes redrawn; rows ``<= t`` are untouched.
    """
    if not 0 <= t < len(bars):
        raise ParameterError(f"`t` must be a row position in [0, {len(bars) - 1}], got {t!r}.")
    rng = np.random.default_rng(seed)
    out = bars.copy()
    n = len(bars) - t - 1
    if n == 0:
        return out
    tail = slice(t + 1, None)
    f = np.exp(rng.normal(0.0, scale, size=(n, 4)))
    o = bars["open"].to_numpy()[tail] * f[:, 0]
    c = bars["close"].to_numpy()[tail] * f[:, 1]
    h = np.maximum(np.maximum(o, c), bars["high"].to_numpy()[tail] * f[:, 2])
    lo = np.minimum(np.minimum(o, c), bars["low"].to_numpy()[tail] * f[:, 3])
    for name, vals in (("open", o), ("high", h), ("low", lo), ("close", c)):
        out.iloc[t + 1:, out.columns.get_loc(name)] = vals
    vol = bars["volume"].to_numpy()[tail] * rng.uniform(0.2, 3.0, size=n)
    out.iloc[t + 1:, out.columns.get_loc("volume")] = vol
    if "buy_volume" in out.columns and "sell_volume" in out.columns:
        share = rng.uniform(0.0, 1.0, size=n)
        out.iloc[t + 1:, out.columns.get_loc("buy_volume")] = vol * share
        out.iloc[t + 1:, out.columns.get_loc("sell_volume")] = vol * (1.0 - share)
    if "trades" in out.columns:
        out.iloc[t + 1:, out.columns.get_loc("trades")] = np.round(
            bars["trades"].to_numpy()[tail] * rng.uniform(0.2, 3.0, size=n))
    if "vwap" in out.columns:
        w = rng.uniform(0.0, 1.0, size=n)
        out.iloc[t + 1:, out.columns.get_loc("vwap")] = lo + w * (h - lo)
    return out


def check_causality(fn, bars: pd.DataFrame, t: int, *, seed: int = 0, raise_error: bool = True) -> list[str]:
    """Check that ``fn(bars)`` at rows ``<= t`` ignores every row after ``t``.

    ``fn`` maps bars to a DataFrame (or Series) aligned with ``bars``.  It is
    run on the original bars, on bars perturbed after ``t``
    (:func:`perturb_after`) and on bars cut after ``t``; the rows ``<= t`` of
    all three must be bit-identical (NaN equal to NaN).

    Returns
    -------
    list of str
        Columns that leak (empty when causal).

    Raises
    ------
    LookAheadError
        When ``raise_error`` and some column leaks.
    """
    base = _frame(fn(bars))
    pert = _frame(fn(perturb_after(bars, t, seed=seed)))
    cut = _frame(fn(bars.iloc[: t + 1]))
    leaks = []
    for col in base.columns:
        a = base[col].to_numpy()[: t + 1]
        for other in (pert, cut):
            b = other[col].to_numpy()[: t + 1] if col in other.columns else np.full(t + 1, np.nan)
            if not _same(a, b):
                leaks.append(str(col))
                break
    if leaks and raise_error:
        raise LookAheadError(
            f"{len(leaks)} column(s) change at rows <= {t} ({bars.index[t]}) when later rows change: "
            f"{', '.join(leaks[:20])}{' ...' if len(leaks) > 20 else ''}")
    return leaks


def _frame(x) -> pd.DataFrame:
    return x.to_frame() if isinstance(x, pd.Series) else x


def _same(a, b) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
