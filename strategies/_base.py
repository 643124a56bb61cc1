"""What a strategy is: probabilities (or a model and its features) in, desired sides out.

A strategy turns, bar by bar, a model's out-of-sample probability of an up move
into the *desired side* decided with that bar's data: +1 long, -1 short, 0
flat.  It knows the session facts (which session a bar belongs to, how many
bars of it are left) so that it can stay flat over the close, but nothing
about fills, sizes, costs or stops: the engines (``engines.simulate``, the
sweep kernel, backtrader) turn sides into orders, fill a decision made at bar
``i`` at bar ``i + 1``'s open (PITFALLS rule 1), size with :mod:`risk` and
apply the stops.  A strategy must not import an engine.

Subclasses implement :meth:`BaseStrategy._sides_array`; the public
:meth:`BaseStrategy.sides` validates the inputs, computes the session facts
and wraps the result in a Series on the bars' index.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.data import bar_minutes_of, bars_calendar, get_calendar
from ml.data._frame import per_bar_values
from ml.exceptions import ParameterError

__all__ = ["PURE_PYTHON", "BaseStrategy", "SessionFacts", "session_facts"]

#: Test-only switch: strategies run the plain-Python twins of
#: :mod:`strategies._signals_py` instead of the numba kernels.
PURE_PYTHON = False


@dataclass(frozen=True)
class SessionFacts:
    """Per-bar session facts a strategy (and an engine) needs.

    Attributes
    ----------
    index : DatetimeIndex
        The bars' timestamps (bar open times).
    session : ndarray of int64, shape (n_bars,)
        Session number, increasing by one per session present.
    bars_to_close : ndarray of float64, shape (n_bars,)
        Bars of the same session that come *after* each bar, from the
        calendar (not from the data, so a missing bar does not move it):
        ``ceil(minutes_to_close / bar_minutes) - 1``.  0 on the last bar of a
        session (18:29 for 1-minute B3 bars), 1 on the one before, negative on
        bars after the session end.
    bar_minutes : float
        Bar length used.
    calendar : str
        Name of the session calendar used.
    """

    index: pd.DatetimeIndex
    session: np.ndarray
    bars_to_close: np.ndarray
    bar_minutes: float
    calendar: str


def _index_of(bars) -> pd.DatetimeIndex:
    idx = bars.index if isinstance(bars, (pd.DataFrame, pd.Series)) else bars
    if not isinstance(idx, pd.DatetimeIndex):
        raise TypeError(f"`bars` must be a DataFrame of bars (or a Series / DatetimeIndex) indexed by "
                        f"tz-aware bar open times, got an index of type {type(idx).__name__}.")
    if idx.tz is None:
        raise ParameterError("`bars` timestamps must be timezone-aware; localise them first "
                             "(e.g. bars.tz_localize('America/Sao_Paulo')).")
    return idx


def bars_to_close(minutes_to_close, bar_minutes: float):
    """Bars left in the session after a bar whose open is ``minutes_to_close`` minutes before the close:
    bars whose open lies in ``[t + bar, end)``, ``ceil(mtc / bar) - 1`` (a tiny tolerance absorbs float
    noise of the nanosecond division).  Array or scalar."""
    return np.ceil(minutes_to_close / bar_minutes - 1e-9) - 1.0


def session_facts(bars, calendar=None, bar_minutes=None) -> SessionFacts:
    """Session number and bars left in the session for every bar.

    Parameters
    ----------
    bars : DataFrame, Series or DatetimeIndex
        Bars as :func:`ml.data.load_bars` returns them (calendar and bar length
        are read from ``bars.attrs``), or just their tz-aware index (then
        ``calendar`` is required).
    calendar : str or SessionCalendar, optional
        Overrides the calendar recorded in the bars (``"B3"``, ``"24/7"``).
    bar_minutes : float, optional
        Bar length; default as recorded by the loader, else the median spacing.

    Returns
    -------
    SessionFacts

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2025-02-03 18:26", periods=4, freq="1min", tz="America/Sao_Paulo")
    >>> session_facts(idx, calendar="B3").bars_to_close.tolist()
    [3.0, 2.0, 1.0, 0.0]
    """
    idx = _index_of(bars)
    if isinstance(bars, pd.DataFrame):
        cal = bars_calendar(bars, calendar)
    else:
        if calendar is None:
            raise ParameterError("`calendar` is required when `bars` is an index or a Series, "
                                 "e.g. calendar='B3'; a default calendar could cross a session close.")
        cal = get_calendar(calendar)
    if bar_minutes is None:
        bar_minutes = bar_minutes_of(bars if isinstance(bars, pd.DataFrame) else pd.DataFrame(index=idx))
    bar_minutes = float(bar_minutes)
    if not (math.isfinite(bar_minutes) and bar_minutes > 0):
        raise ParameterError(f"`bar_minutes` must be > 0, got {bar_minutes!r}.")
    info = cal.sessions(idx)
    # Bars whose open time lies in [t + bar, end): ceil(mtc / bar) - 1 (a tiny
    # tolerance absorbs float noise of the nanosecond division).
    btc = bars_to_close(np.asarray(info.minutes_to_close, dtype=np.float64), bar_minutes)
    return SessionFacts(index=idx, session=np.array(info.session, dtype=np.int64),
                        bars_to_close=np.array(btc, dtype=np.float64), bar_minutes=bar_minutes,
                        calendar=cal.name)


def _probabilities(values, index, name) -> np.ndarray:
    """A float64 array aligned with ``index``; NaN allowed (means no opinion)."""
    arr = per_bar_values(values, index, name, hint=" (NaN means flat; for predict_proba output pass "
                                                   "the up column, e.g. proba[:, 1].)")
    bad = np.flatnonzero(~np.isnan(arr) & ((arr < 0.0) | (arr > 1.0)))
    if len(bad):
        i = int(bad[0])
        raise ParameterError(f"`{name}` must hold probabilities in [0, 1] (NaN for no opinion), "
                             f"got {float(arr[i])!r} at position {i} ({index[i]}).")
    return np.require(arr, dtype=np.float64, requirements=["C", "W", "O"])


def _up_probability(model, X) -> np.ndarray:
    """Column of ``model.predict_proba(X)`` for the up class (label 1, else the largest label)."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    if proba.ndim != 2:
        raise ParameterError(f"`model.predict_proba` must return shape (n_samples, n_classes), "
                             f"got {proba.shape}.")
    classes = list(getattr(model, "classes_", range(proba.shape[1])))
    col = classes.index(1) if 1 in classes else int(np.argmax(classes))
    return proba[:, col]


class BaseStrategy(ABC):
    """Base class of strategies: probabilities in, desired sides out.

    What a subclass must implement
    ------------------------------
    ``_sides_array(proba, facts, meta_proba) -> ndarray of int8``
        ``proba`` and ``meta_proba`` (or ``None``) are validated float64
        arrays aligned with the bars, NaN meaning "no opinion"; ``facts`` is a
        :class:`SessionFacts`.  Return the desired side (+1 / 0 / -1) decided
        at each bar with data up to that bar only: the value at bar ``i`` must
        not depend on anything at bars after ``i`` (causality, PITFALLS 2).
        NaN must never give a side other than flat or the one already held.
    ``_validate()`` (optional)
        Check the parameters, raising :class:`~ml.exceptions.ParameterError`
        with a message in the house style.

    Parameters are stored unchanged by ``__init__`` (scikit-learn style);
    :meth:`get_params` lists them.
    """

    @abstractmethod
    def _sides_array(self, proba: np.ndarray, facts: SessionFacts,
                     meta_proba: np.ndarray | None) -> np.ndarray:
        """Desired sides for validated arrays (see the class docstring)."""

    def _validate(self) -> None:
        """Check the parameters (no-op by default)."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters and their values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters (validated on the next call); returns ``self``."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                from ml._checks import did_you_mean
                raise ParameterError(f"{type(self).__name__} has no parameter {key!r}; parameters are "
                                     f"{', '.join(valid)}.{did_you_mean(key, valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def sides(self, proba, bars, *, meta_proba=None, calendar=None, bar_minutes=None) -> pd.Series:
        """Desired side decided at each bar.

        Parameters
        ----------
        proba : Series or array-like of shape (n_bars,)
            Probability of an up move per bar (out of sample); NaN means no
            opinion and never opens a trade.  A Series is aligned on the bars'
            index.
        bars : DataFrame, Series or DatetimeIndex
            The bars (or their tz-aware index) the probabilities belong to.
        meta_proba : Series or array-like of shape (n_bars,), optional
            Meta-label probability (used by strategies with a meta filter).
        calendar, bar_minutes : optional
            See :func:`session_facts`.

        Returns
        -------
        Series of int8
            +1 long, -1 short, 0 flat, on the bars' index, named ``"side"``.
            An engine fills the side decided at bar ``i`` at bar ``i + 1``'s open.
        """
        self._validate()
        facts = session_facts(bars, calendar=calendar, bar_minutes=bar_minutes)
        p = _probabilities(proba, facts.index, "proba")
        meta = None if meta_proba is None else _probabilities(meta_proba, facts.index, "meta_proba")
        out = np.asarray(self._sides_array(p, facts, meta), dtype=np.int8)
        return pd.Series(out, index=facts.index, name="side")

    def sides_from_model(self, model, X, bars, *, meta_model=None, meta_X=None,
                         calendar=None, bar_minutes=None) -> pd.Series:
        """:meth:`sides` with probabilities from ``model.predict_proba(X)``.

        The up probability is the column of the class labelled 1 (else of the
        largest label).  ``X`` must hold one row per bar, each row computed
        with data up to that bar only (out-of-sample predictions: use a model
        not fitted on these rows).  ``meta_model`` / ``meta_X`` likewise give
        the meta-label probability.
        """
        proba = _up_probability(model, X)
        meta = None
        if meta_model is not None:
            meta = _up_probability(meta_model, X if meta_X is None else meta_X)
        return self.sides(proba, bars, meta_proba=meta, calendar=calendar, bar_minutes=bar_minutes)
