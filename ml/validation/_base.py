"""What every splitter implements, and the purge / embargo rules they share.

A splitter is a scikit-learn cross-validator: ``split(X, y=None,
groups=None)`` yields ``(train, test)`` pairs of sorted ``int64`` position
arrays and ``get_n_splits(X=None, y=None, groups=None)`` says how many.
``__init__`` only stores its arguments; everything is validated when
``split`` (or ``get_n_splits``) is called, and ``split`` validates *every*
split before it yields the first one, so a bad configuration fails before a
model is fitted.

A subclass implements

- ``_plan(n_samples, groups)`` -> list of :class:`SplitPlan`: where the test
  blocks and the training window of each split are, before purging;
- ``get_n_splits``;
- ``_hint`` (class attribute): what to change when purging and the embargo
  eat a whole training fold.

:class:`BaseSplitter` turns the plans into index arrays: it removes the test
blocks from the training window, then purges and embargoes around every test
block with :func:`purged_positions` (rules in its docstring, from
Lopez de Prado 2018, chapter 7).
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import numbers
from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator

from ml._checks import close_match
from ml.exceptions import ParameterError

__all__ = [
    "BaseSplitter",
    "Embargo",
    "LabelTimes",
    "SplitPlan",
    "check_embargo",
    "check_label_times",
    "embargo_end",
    "group_bounds",
    "n_samples_of",
    "purged_positions",
]


@dataclass(frozen=True)
class Embargo:
    """A validated ``embargo``: ``kind`` is "bars", "fraction" or "time"."""

    kind: str
    value: object

    def is_zero(self) -> bool:
        return (self.value == 0) if self.kind != "time" else self.value == pd.Timedelta(0)


def check_embargo(embargo) -> Embargo:
    """Validate ``embargo``: an int of bars >= 0, a float fraction in [0, 1) or a Timedelta >= 0."""
    if isinstance(embargo, (bool, np.bool_)):
        raise TypeError(f"`embargo` must be an int (bars), a float in [0, 1) (fraction of samples) or a "
                        f"pandas Timedelta, got bool {embargo!r}.")
    if isinstance(embargo, numbers.Integral):
        if embargo < 0:
            raise ParameterError(f"`embargo` must be >= 0 bars, got {int(embargo)!r}.")
        return Embargo("bars", int(embargo))
    if isinstance(embargo, numbers.Real):
        value = float(embargo)
        if not (math.isfinite(value) and 0.0 <= value < 1.0):
            raise ParameterError(
                f"`embargo` as a float is a fraction of the samples and must be in [0, 1), got {value!r}; "
                "pass an int for a number of bars (e.g. embargo=5) or a pd.Timedelta for a duration."
            )
        return Embargo("fraction", value)
    if isinstance(embargo, (pd.Timedelta, dt.timedelta, np.timedelta64)):
        value = pd.Timedelta(embargo)
        if value is pd.NaT:
            raise ParameterError("`embargo` must be a Timedelta >= 0, got NaT.")
        if value < pd.Timedelta(0):
            raise ParameterError(f"`embargo` must be a Timedelta >= 0, got {value!r}.")
        return Embargo("time", value)
    raise TypeError(
        f"`embargo` must be an int (bars), a float in [0, 1) (fraction of samples) or a pandas "
        f"Timedelta, got {type(embargo).__name__} {embargo!r}"
        + ("; wrap it: pd.Timedelta(...)." if isinstance(embargo, str) else ".")
    )


# --------------------------------------------------------------------------- samples
def n_samples_of(X) -> int:
    """Number of rows of ``X`` (array-like, DataFrame, list)."""
    if X is None:
        raise TypeError("`X` is required: pass the feature matrix (array-like of shape (n_samples, n_features)).")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(f"`X` must be array-like with a length, got {type(X).__name__}.") from None


def group_bounds(n_samples: int, n_groups: int) -> np.ndarray:
    """Boundaries of ``n_groups`` contiguous groups, the first ``n_samples % n_groups`` one larger.

    Returns an int64 array ``b`` of length ``n_groups + 1``: group ``g`` is
    positions ``b[g] .. b[g + 1] - 1`` (the rule of :func:`numpy.array_split`
    and :class:`sklearn.model_selection.KFold`).
    """
    sizes = np.full(n_groups, n_samples // n_groups, dtype=np.int64)
    sizes[: n_samples % n_groups] += 1
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


@dataclass(frozen=True)
class LabelTimes:
    """Validated label intervals ``[start_i, end_i]`` as comparable numbers.

    ``kind`` is "time" (int64 nanoseconds; ``tz`` for display) or
    "position" (``start = arange(n)``, ``end`` = last position the label
    uses) or "number" (a numeric index, e.g. seconds).
    """

    start: np.ndarray
    end: np.ndarray
    kind: str
    tz: object = None

    def show(self, value) -> str:
        if self.kind == "time":
            return str(pd.Timestamp(int(value), tz="UTC").tz_convert(self.tz) if self.tz is not None
                       else pd.Timestamp(int(value)))
        if self.kind == "position":
            return f"position {int(value)}"
        return repr(value.item() if hasattr(value, "item") else value)


def _to_ns(values) -> tuple[np.ndarray, object]:
    """Int64 nanoseconds since the epoch (UTC for tz-aware values) and the timezone."""
    idx = pd.DatetimeIndex(values)
    return idx.as_unit("ns").asi8.astype(np.int64), idx.tz


def check_label_times(t1, X, n_samples: int, *, owner: str, required_for: str = "") -> LabelTimes:
    """Validate ``t1`` against ``X`` and return its intervals.

    ``t1`` is either a Series indexed by each sample's start time whose
    values are the label end times, or a 1-D array of integer end positions
    (``t1[i]`` = last sample position the label of sample ``i`` uses).  A
    Series may cover more samples than ``X`` when ``X`` is a DataFrame whose
    DatetimeIndex is a subset of ``t1.index`` (nested cross-validation: the
    inner splitter sees the outer training rows); its rows are then taken.
    """
    if t1 is None:
        raise ParameterError(
            f"`t1` is required by {owner}{required_for}: without label end times nothing can be purged, and "
            "purging nothing silently leaks labels into training. Pass the `t1` column of "
            "ml.labels.triple_barrier_labels / fixed_horizon_labels (a Series indexed like X), or, for labels "
            "that end on the bar they start, `t1=pd.Series(X.index, index=X.index)` (or `np.arange(n_samples)`)."
        )
    if isinstance(t1, pd.DataFrame):
        raise TypeError("`t1` must be a Series (index: sample start times, values: label end times) or a "
                        "1-D array of end positions, got a DataFrame; pass labels['t1'].")
    if isinstance(t1, pd.Series):
        x_index = getattr(X, "index", None)
        if (len(t1) != n_samples and isinstance(x_index, pd.DatetimeIndex) and len(x_index) == n_samples
                and isinstance(t1.index, pd.DatetimeIndex) and t1.index.is_unique
                and (t1.index.tz is None) == (x_index.tz is None) and bool(x_index.isin(t1.index).all())):
            # nested cross-validation: an inner splitter built with the whole `t1` is handed the outer
            # training rows (a DataFrame keeps its index), so take their label times
            t1 = t1.loc[x_index]
        times = _series_times(t1)
        if len(t1) != n_samples:
            raise ParameterError(f"`t1` must have one entry per sample of `X` ({n_samples}), got {len(t1)}; "
                                 "align it first (e.g. `t1.loc[X.index]`).")
        if isinstance(x_index, pd.DatetimeIndex) and not _same_instants(t1.index, x_index):
            bad = 0
            if isinstance(t1.index, pd.DatetimeIndex) and (t1.index.tz is None) == (x_index.tz is None):
                bad = int(np.flatnonzero(_to_ns(t1.index)[0] != _to_ns(x_index)[0])[0])
            raise ParameterError(
                f"`t1.index` must equal `X.index` (sample start times); they first differ at position {bad} "
                f"({t1.index[bad]} vs {x_index[bad]}); align them, e.g. `t1 = t1.loc[X.index]`."
            )
    else:
        times = _position_times(t1, n_samples)
    start, end = times.start, times.end
    if len(start) > 1:
        back = np.flatnonzero(np.diff(start) < 0)
        if len(back):
            i = int(back[0]) + 1
            raise ParameterError(
                f"`t1.index` (sample start times) must be sorted in time; {times.show(start[i])} at position {i} "
                f"comes before {times.show(start[i - 1])}; sort X, y and t1 by time first."
            )
    before = np.flatnonzero(end < start)
    if len(before):
        i = int(before[0])
        raise ParameterError(
            f"`t1` must not end before its sample starts; at position {i} the label ends at "
            f"{times.show(end[i])} but starts at {times.show(start[i])} ({len(before)} such samples)."
        )
    return times


def _same_instants(a: pd.Index, b: pd.DatetimeIndex) -> bool:
    """Same timestamps in the same order (timezones may differ, awareness may not)."""
    return (isinstance(a, pd.DatetimeIndex) and len(a) == len(b) and (a.tz is None) == (b.tz is None)
            and np.array_equal(_to_ns(a)[0], _to_ns(b)[0]))


def _series_times(t1: pd.Series) -> LabelTimes:
    index = t1.index
    if isinstance(index, pd.DatetimeIndex):
        if not pd.api.types.is_datetime64_any_dtype(t1.dtype):
            raise TypeError(f"`t1` values must be timestamps (label end times) like its DatetimeIndex, "
                            f"got dtype {t1.dtype}.")
        if (index.tz is None) != (t1.dt.tz is None):
            raise TypeError("`t1` mixes timezone-aware and naive timestamps between its index and its values; "
                            "localise both (e.g. `.tz_localize('America/Sao_Paulo')`).")
        missing = np.flatnonzero(t1.isna().to_numpy())
        if len(missing):
            i = int(missing[0])
            raise ParameterError(
                f"`t1` has no label end time (NaT) at position {i} ({index[i]}; {len(missing)} such samples); "
                "their labels are undefined: drop those rows from X, y and t1 first "
                "(e.g. `keep = labels['label'].notna()`)."
            )
        start, tz = _to_ns(index)
        end, _ = _to_ns(t1)
        return LabelTimes(start, end, "time", tz)
    if (pd.api.types.is_numeric_dtype(index.dtype) and not pd.api.types.is_bool_dtype(index.dtype)):
        if pd.api.types.is_bool_dtype(t1.dtype) or not pd.api.types.is_numeric_dtype(t1.dtype):
            raise TypeError(f"`t1` values must be numbers like its numeric index, got dtype {t1.dtype}.")
        start = index.to_numpy(dtype="float64")
        end = t1.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.flatnonzero(~np.isfinite(end) | ~np.isfinite(start))
        if len(missing):
            i = int(missing[0])
            raise ParameterError(f"`t1` must hold finite end times, got {end[i]!r} at position {i} "
                                 f"({len(missing)} such samples); drop the rows whose labels are undefined.")
        return LabelTimes(start, end, "number")
    raise TypeError(f"`t1` must be indexed by sample start times (a DatetimeIndex or numbers), got a "
                    f"{type(index).__name__} of dtype {index.dtype}.")


def _position_times(t1, n_samples: int) -> LabelTimes:
    arr = np.asarray(t1)
    if arr.ndim != 1:
        raise ParameterError(f"`t1` must be 1-D with one end position per sample, got shape {arr.shape}.")
    if arr.dtype.kind in "mM" or (arr.dtype == object and len(arr)
                                  and isinstance(arr[0], (dt.datetime, dt.date, np.datetime64))):
        raise TypeError("`t1` as an array must hold integer end positions; for end timestamps pass a Series "
                        "indexed by the sample start times (e.g. labels['t1']).")
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise TypeError(f"`t1` as an array must hold integer end positions (t1[i] >= i), got dtype {arr.dtype}.")
    if len(arr) != n_samples:
        raise ParameterError(f"`t1` must have one end position per sample of `X` ({n_samples}), got {len(arr)}.")
    end = arr.astype(np.int64)
    start = np.arange(n_samples, dtype=np.int64)
    past = np.flatnonzero(end > n_samples - 1)
    if len(past):
        i = int(past[0])
        raise ParameterError(f"`t1` end positions must be <= {n_samples - 1} (the last sample), got {int(end[i])} "
                             f"at position {i}.")
    return LabelTimes(start, end, "position")


# --------------------------------------------------------------------------- purge / embargo
def embargo_end(times: LabelTimes, embargo: Embargo, after: int, last_end) -> int:
    """End (exclusive) of the embargo that starts at position ``after``."""
    n = len(times.start)
    if embargo.kind == "time":
        return int(np.searchsorted(times.start, last_end + embargo.value.value, side="right"))
    h = embargo.value if embargo.kind == "bars" else math.floor(embargo.value * n + 1e-9)
    return min(after + h, n)


def purged_positions(times: LabelTimes, embargo: Embargo, a: int, b: int) -> tuple[np.ndarray, int, int]:
    """Samples to drop from training around the test block of positions ``a .. b - 1``.

    With ``T0 = start[a]`` (the first test label's start) and ``T1 =
    max(end[a:b])`` (the last test label's end), a sample ``i`` is purged
    when its closed interval ``[start_i, end_i]`` overlaps ``[T0, T1]``:

    - before the block: ``end_i >= T0``;
    - after the block: ``start_i <= T1`` (positions ``b .. p - 1``).

    The embargo then drops the samples that follow, from ``p``: ``h`` bars,
    ``floor(fraction * n_samples)`` bars, or those starting in ``(T1, T1 +
    timedelta]``; it never applies before a test block.

    Returns
    -------
    before : ndarray of int64
        Purged positions before ``a``.
    purge_end : int
        Samples ``b .. purge_end - 1`` are purged.
    embargo_end : int
        Samples ``purge_end .. embargo_end - 1`` are embargoed.
    """
    t0 = times.start[a]
    t1 = times.end[a:b].max()
    before = np.flatnonzero(times.end[:a] >= t0).astype(np.int64)
    purge_end = max(b, int(np.searchsorted(times.start, t1, side="right")))
    return before, purge_end, max(purge_end, embargo_end(times, embargo, purge_end, t1))


@dataclass
class SplitPlan:
    """One split before purging.

    Attributes
    ----------
    test_blocks : list of (int, int)
        Contiguous test blocks ``[a, b)`` in increasing order.
    train_window : (int, int)
        Training candidates ``[lo, hi)`` (test blocks inside are excluded).
    train_units : list of (str, int, int)
        Named parts of the training window that must keep at least one
        sample after purging and embargo (folds, groups, the window).
    label : str
        How the split is described in error messages.
    """

    test_blocks: list
    train_window: tuple
    train_units: list = field(default_factory=list)
    label: str = ""


# --------------------------------------------------------------------------- base class
class BaseSplitter(BaseCrossValidator):
    """Base class of the purged splitters (scikit-learn cross-validator API).

    Subclasses implement ``_plan(n_samples, groups)`` (validate the
    parameters and return one :class:`SplitPlan` per split),
    ``get_n_splits`` and may set ``_hint``, the advice given when purging and
    the embargo remove a whole training fold.  They store their ``t1`` and
    ``embargo`` parameters (``None`` / ``0`` when they have none) and set
    ``_purges`` to say whether ``t1`` is needed.
    """

    _hint = "use fewer folds, a smaller `embargo` or shorter labels (`t1`)"

    # ----------------------------------------------------------------- params
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters, by name (as :meth:`sklearn.base.BaseEstimator.get_params`)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self``."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                close = close_match(key, valid)
                hint = f"; did you mean {close!r}?" if close else f"; valid: {', '.join(valid)}."
                raise ParameterError(f"{type(self).__name__} has no parameter `{key}`{hint}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        parts = []
        for name, value in self.get_params().items():
            if isinstance(value, (pd.Series, pd.Index, np.ndarray)):
                shown = f"<{type(value).__name__} of length {len(value)}>"
            elif isinstance(value, (list, tuple)) and len(value) > 6:
                shown = f"<{type(value).__name__} of length {len(value)}>"
            else:
                shown = repr(value)
            parts.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ----------------------------------------------------------------- API
    @abstractmethod
    def _plan(self, n_samples: int, groups) -> list[SplitPlan]:
        """Validate the parameters and return the splits before purging."""

    @abstractmethod
    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of splits :meth:`split` yields."""

    def _label_times(self, X, n_samples: int) -> LabelTimes | None:
        return check_label_times(self.t1, X, n_samples, owner=type(self).__name__)

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in time order.  When it is a DataFrame with a
            DatetimeIndex, ``t1.index`` must equal ``X.index``.
        y : array-like of shape (n_samples,), optional
            Ignored; exists for compatibility.
        groups : array-like of shape (n_samples,), optional
            Session ids (used by :class:`WalkForward` with
            ``unit="sessions"``; ignored by the others).

        Yields
        ------
        train : ndarray of int64
            Training positions of the split (sorted), after purging and embargo.
        test : ndarray of int64
            Test positions of the split (sorted).

        Raises
        ------
        ParameterError
            For a bad parameter, misaligned ``t1``, or when purging and the
            embargo remove a whole training fold of any split (checked for
            all splits before the first is yielded).
        """
        n_samples = n_samples_of(X)
        embargo = check_embargo(self.embargo)
        plans = self._plan(n_samples, groups)
        times = self._label_times(X, n_samples)
        if times is not None and embargo.kind == "time" and times.kind != "time":
            raise ParameterError(
                f"`embargo`={embargo.value!r} is a duration, which needs `t1` as a Series of timestamps indexed "
                f"by the sample start times; `t1` holds {times.kind}s. Pass an int number of bars instead."
            )
        cache: dict = {}
        for k, plan in enumerate(plans):  # validate every split before yielding one
            self._indices(plan, k, n_samples, times, embargo, cache)
        return self._generate(plans, n_samples, times, embargo, cache)

    def _generate(self, plans, n_samples, times, embargo, cache):
        for k, plan in enumerate(plans):
            yield self._indices(plan, k, n_samples, times, embargo, cache)

    def _indices(self, plan: SplitPlan, k: int, n_samples: int, times, embargo, cache):
        lo, hi = plan.train_window
        mask = np.zeros(n_samples, dtype=bool)
        mask[lo:hi] = True
        for a, b in plan.test_blocks:
            mask[a:b] = False
        if times is not None:
            for a, b in plan.test_blocks:
                if (a, b) not in cache:
                    cache[(a, b)] = purged_positions(times, embargo, a, b)
                before, _, end = cache[(a, b)]
                mask[before] = False
                mask[b:end] = False
        for name, ulo, uhi in plan.train_units:
            if uhi > ulo and not mask[ulo:uhi].any():
                self._raise_eaten(plan, k, name, ulo, uhi, times, embargo, cache)
        test = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in plan.test_blocks])
        return np.flatnonzero(mask).astype(np.int64), test

    def _raise_eaten(self, plan, k, name, ulo, uhi, times, embargo, cache):
        details = []
        for a, b in plan.test_blocks:
            before, purge_end, end = cache[(a, b)]
            reach = times.show(times.end[a:b].max())
            details.append(f"test block {a}-{b - 1}: labels end at {reach}, {len(before)} purged before, "
                           f"{purge_end - b} purged and {end - purge_end} embargoed after")
        raise ParameterError(
            f"{type(self).__name__}: purging (`t1`) and `embargo`={self.embargo!r} remove all {uhi - ulo} samples "
            f"of {name} (positions {ulo}-{uhi - 1}) in split {k} ({plan.label}; {'; '.join(details)}); "
            f"{self._hint}."
        )
