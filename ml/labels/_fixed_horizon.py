"""Fixed-horizon labels: the sign of the return over the next ``horizon`` bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml._checks import check_bool, check_int
from ml.labels._checks import (
    barrier_names,
    check_bars,
    check_float,
    kernel,
    segments,
    wrap_t1,
)

__all__ = ["fixed_horizon_labels"]


def fixed_horizon_labels(bars: pd.DataFrame, horizon: int, threshold: float = 0.0, *,
                         calendar=None, cross_session: bool = False) -> pd.DataFrame:
    """Label every bar by the log return of a position held for ``horizon`` bars.

    The decision for bar ``t`` is made after its close, so the position is
    entered at the next bar's open and exited at the close of bar
    ``t + horizon``:

    ``ret_t = log(close[t + horizon] / open[t + 1])``

    and ``label_t = +1`` if ``ret_t > threshold``, ``-1`` if
    ``ret_t < -threshold``, else ``0``.

    Parameters
    ----------
    bars : DataFrame
        Bars indexed by their tz-aware open time (strictly increasing), with
        columns ``open`` and ``close`` (as from :func:`ml.data.load_bars`).  A
        ``symbol`` column, when present, marks contracts: a label never spans
        a change of symbol (futures roll).
    horizon : int
        Bars held, >= 1 (``horizon=1`` holds bar ``t + 1`` from open to close).
    threshold : float, default 0.0
        Dead zone in log-return units, >= 0; typically the round-trip cost.
    calendar : str or SessionCalendar, optional
        Session calendar; default: the one recorded by ``load_bars`` or
        inferred from the symbol (see :func:`ml.data.bars_calendar`).
    cross_session : bool, default False
        Allow labels whose exit bar lies in a later session.  By default a row
        whose horizon would cross its session's end gets a NaN label.

    Returns
    -------
    DataFrame
        Indexed like ``bars``, columns:

        - ``label`` : float64, +1 / 0 / -1, NaN where undefined;
        - ``ret`` : float64, the log return above, NaN where undefined;
        - ``t1`` : datetime, open time of the exit bar ``t + horizon`` (the
          label uses data up to that bar's close), NaT where undefined;
        - ``barrier`` : str, ``"vertical"``, missing where undefined.

        ``attrs["labels"]`` records the parameters and the number of defined
        and undefined labels.

    Raises
    ------
    TypeError
        ``bars`` is not a DataFrame, has no DatetimeIndex, or ``horizon`` is
        not an int.
    ml.exceptions.ParameterError
        ``horizon < 1`` or ``threshold`` negative or not finite.
    ml.exceptions.MissingColumnsError, ml.exceptions.BarDataError
        Missing columns; unsorted, duplicate or naive timestamps; prices NaN
        or <= 0.

    Notes
    -----
    A label is undefined (NaN) when the exit bar ``t + horizon`` lies past
    the last bar of ``t``'s session (unless ``cross_session``), past a change
    of ``symbol``, or past the end of the data.  The horizon counts bars, not
    minutes: missing bars inside a session lengthen it in time.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 3.2 (the fixed-time horizon method) and 3.3 (why dynamic
    thresholds and path-dependent barriers are usually better).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-01-02 10:00", periods=4, freq="min", tz="UTC")
    >>> bars = pd.DataFrame({"open": [10.0, 10.0, 11.0, 12.0],
    ...                      "close": [10.0, 11.0, 12.0, 12.0]}, index=idx)
    >>> out = fixed_horizon_labels(bars, horizon=2, calendar="24/7")
    >>> out["label"].tolist()
    [1.0, 1.0, nan, nan]
    >>> round(float(out["ret"].iloc[0]), 6)  # log(close[2] / open[1]) = log(12 / 10)
    0.182322
    """
    horizon = check_int("horizon", horizon, 1, hint=" It counts bars held after the entry bar's open.")
    threshold = check_float("threshold", threshold,
                            hint=" It is the round-trip cost in log-return units.")
    cross_session = check_bool("cross_session", cross_session)
    cols = check_bars(bars, ("open", "close"))
    index = bars.index
    seg_end, _, _, cal_name, _ = segments(bars, calendar, cross_session)
    label, ret, exit_idx = kernel("fixed_horizon")(cols["open"], cols["close"], seg_end,
                                                   horizon, threshold)
    codes = np.where(exit_idx >= 0, 3, 0).astype(np.int8)
    out = pd.DataFrame({"label": label, "ret": ret, "t1": wrap_t1(index, exit_idx)}, index=index)
    out["barrier"] = barrier_names(codes, index)
    n_defined = int(np.isfinite(label).sum())
    out.attrs["labels"] = {
        "method": "fixed_horizon",
        "horizon": horizon,
        "threshold": threshold,
        "calendar": cal_name,
        "cross_session": cross_session,
        "n_defined": n_defined,
        "n_undefined": len(index) - n_defined,
    }
    return out
