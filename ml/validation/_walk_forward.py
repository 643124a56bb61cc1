"""Walk-forward splits (rolling or anchored), in bars or sessions, purged at the train/test seam."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ml._checks import check_bool, check_choice, check_int
from ml.exceptions import ParameterError
from ml.validation._base import (
    BaseSplitter,
    SplitPlan,
    check_embargo,
    check_label_times,
    n_samples_of,
)

__all__ = ["WalkForward"]

UNITS = ("bars", "sessions")


class WalkForward(BaseSplitter):
    """Walk-forward splits: train on a window, test on the window right after it, move on.

    Split ``j`` tests units ``[s_j, s_j + test_size)`` with ``s_j =
    train_size + j * step`` (a unit is a sample for ``unit="bars"`` or a
    whole session for ``unit="sessions"``) and trains on the ``train_size``
    units before ``s_j`` (rolling), or on every unit before ``s_j``
    (``anchored=True``, an expanding window).  The test window starts on the
    first unit after the training window.  Windows continue while they start
    inside the data; the last test window is cut short at the end of the data
    (so with ``step == test_size`` every sample after the first training
    window is tested exactly once), and no window follows one that reaches
    the end.

    With ``purge=True`` the training samples whose label ``[t_i, t1_i]``
    reaches into the test window (``t1_i >= `` start of the first test
    label) are dropped; the training set is not refilled from earlier data.

    Parameters
    ----------
    train_size : int
        Training window length in ``unit``\\ s, >= 1 (with ``anchored=True``:
        the length of the first training window).
    test_size : int
        Test window length in ``unit``\\ s, >= 1.
    step : int, optional
        How far the windows move each split, in ``unit``\\ s, >= 1; default
        ``test_size``.
    anchored : bool, default=False
        Expand the training window from the first sample instead of rolling it.
    purge : bool, default=True
        Drop training samples whose labels overlap the test window; needs
        ``t1``.  Pass ``purge=False`` only when labels end on the bar they
        start (nothing to purge).
    embargo : int, float or Timedelta, default=0
        Accepted for symmetry with :class:`PurgedKFold` and validated the
        same way, but it never changes a walk-forward split: an embargo
        removes training samples *after* a test window, and every training
        window here ends before its test window starts.  A non-zero value
        gives a ``UserWarning`` saying so.
    t1 : Series or array-like of shape (n_samples,), optional
        Label end times (see :class:`PurgedKFold`); required when ``purge``,
        validated but unused when ``purge=False``.
    unit : {"bars", "sessions"}, default="bars"
        What ``train_size``, ``test_size`` and ``step`` count.  With
        ``"sessions"``, pass the per-sample session ids as ``groups`` to
        :meth:`split` and :meth:`get_n_splits` (e.g.
        ``ml.data.bars_calendar(bars).sessions(bars.index).session``); each
        session must be one contiguous run of samples.

    See Also
    --------
    PurgedKFold, CombinatorialPurgedCV : training on both sides of the test set.

    Notes
    -----
    With ``U`` units the number of splits is the number of ``j >= 0`` with
    ``s_j < U`` up to and including the first ``j`` with ``s_j + test_size
    >= U``.  Purging is the rule of :class:`PurgedKFold` restricted to the
    training window; :class:`ParameterError` is raised when it would empty a
    training window, and when the data are too short for one full split
    (``U < train_size + test_size``).

    References
    ----------
    .. [1] Lopez de Prado, M. (2018). *Advances in Financial Machine
       Learning*, Wiley, chapters 7.4 (purging) and 11-12 (walk-forward).

    Examples
    --------
    Ten samples whose labels each end one sample later: the last training
    sample of every window is purged.

    >>> import numpy as np
    >>> from ml.validation import WalkForward
    >>> X = np.zeros((10, 1))
    >>> t1 = np.minimum(np.arange(10) + 1, 9)
    >>> cv = WalkForward(train_size=4, test_size=2, t1=t1)
    >>> for train, test in cv.split(X):
    ...     print("train:", train, "test:", test)
    train: [0 1 2] test: [4 5]
    train: [2 3 4] test: [6 7]
    train: [4 5 6] test: [8 9]
    >>> cv.set_params(anchored=True).get_n_splits(X)
    3
    >>> for train, test in cv.split(X):
    ...     print("train:", train, "test:", test)
    train: [0 1 2] test: [4 5]
    train: [0 1 2 3 4] test: [6 7]
    train: [0 1 2 3 4 5 6] test: [8 9]

    In sessions (ids passed as ``groups``), training on two sessions and
    testing on the next one:

    >>> sessions = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    >>> cv = WalkForward(train_size=2, test_size=1, unit="sessions", purge=False)
    >>> for train, test in cv.split(X, groups=sessions):
    ...     print("train:", train, "test:", test)
    train: [0 1 2 3 4] test: [5 6 7]
    train: [3 4 5 6 7] test: [8 9]
    """

    _hint = "increase `train_size` or shorten the labels (`t1`)"
    # with metadata routing enabled, ask for `groups` (session ids) by default
    __metadata_request__split = {"groups": True}

    def __init__(self, train_size, test_size, step=None, anchored=False, purge=True, embargo=0,
                 t1=None, unit="bars"):
        self.train_size = train_size
        self.test_size = test_size
        self.step = step
        self.anchored = anchored
        self.purge = purge
        self.embargo = embargo
        self.t1 = t1
        self.unit = unit

    # ----------------------------------------------------------------- windows
    def _unit_bounds(self, n_samples: int | None, groups) -> np.ndarray:
        """Start position of every unit, plus ``n_samples`` at the end."""
        unit = check_choice("unit", self.unit, UNITS)
        if unit == "bars":
            return np.arange(n_samples + 1, dtype=np.int64)
        if groups is None:
            raise ParameterError(
                "`groups` is required with unit='sessions': pass the session id of every sample, e.g. "
                "`cv.split(X, groups=ml.data.bars_calendar(bars).sessions(bars.index).session)`."
            )
        if isinstance(groups, pd.DataFrame):
            raise TypeError("`groups` must be 1-D (one session id per sample), got a DataFrame.")
        g = np.asarray(groups)
        if g.ndim != 1:
            raise ParameterError(f"`groups` must be 1-D (one session id per sample), got shape {g.shape}.")
        if n_samples is not None and len(g) != n_samples:
            raise ParameterError(f"`groups` must have one session id per sample of `X` ({n_samples}), "
                                 f"got {len(g)}.")
        if len(g) == 0:
            raise ParameterError("`groups` holds no samples.")
        if pd.isna(g).any():
            i = int(np.flatnonzero(pd.isna(g))[0])
            raise ParameterError(f"`groups` has a missing session id at position {i}.")
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ids = g[starts]
        if len(pd.unique(ids)) != len(ids):
            seen: dict = {}
            for pos, sid in zip(starts, ids):
                if sid in seen:
                    shown = sid.item() if isinstance(sid, np.generic) else sid
                    raise ParameterError(
                        f"`groups`: session {shown!r} is not one contiguous run of samples (at positions "
                        f"{seen[sid]} and {int(pos)}); sort the samples by time, one session after another."
                    )
                seen[sid] = int(pos)
        return np.r_[starts, len(g)].astype(np.int64)

    def _windows(self, n_units: int) -> list[tuple[int, int, int]]:
        """``(train_lo, test_lo, test_hi)`` of each split, in units."""
        train = check_int("train_size", self.train_size, 1)
        test = check_int("test_size", self.test_size, 1)
        step = test if self.step is None else check_int("step", self.step, 1)
        anchored = check_bool("anchored", self.anchored)
        unit = check_choice("unit", self.unit, UNITS)
        if n_units < train + test:
            raise ParameterError(
                f"`train_size`={train} plus `test_size`={test} need at least {train + test} {unit} for one split, "
                f"got {n_units}; use smaller windows or more data."
            )
        out = []
        s = train
        while s < n_units:
            hi = min(s + test, n_units)
            out.append((0 if anchored else s - train, s, hi))
            if hi >= n_units:
                break
            s += step
        return out

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of splits :meth:`split` yields for these data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Needed with ``unit="bars"``.
        y : object
            Ignored.
        groups : array-like of shape (n_samples,)
            Session ids, needed with ``unit="sessions"``.

        Returns
        -------
        int
        """
        unit = check_choice("unit", self.unit, UNITS)
        if unit == "bars":
            if X is None:
                raise ParameterError("`X` is required by WalkForward.get_n_splits with unit='bars': the number "
                                     "of splits depends on the number of samples.")
            n_units = n_samples_of(X)
        else:
            n = None if X is None else n_samples_of(X)
            n_units = len(self._unit_bounds(n, groups)) - 1
        return len(self._windows(n_units))

    def _plan(self, n_samples, groups):
        check_bool("purge", self.purge)
        embargo = check_embargo(self.embargo)
        bounds = self._unit_bounds(n_samples, groups)
        unit = "bars" if self.unit == "bars" else "sessions"
        if not embargo.is_zero():
            warnings.warn(
                f"`embargo`={self.embargo!r} has no effect in WalkForward: an embargo drops training samples "
                "after a test window, and every training window here ends before its test window; only "
                "purging (`t1`) matters.", UserWarning, stacklevel=3,
            )
        plans = []
        for lo, s, hi in self._windows(len(bounds) - 1):
            a, b = int(bounds[s]), int(bounds[hi])
            plans.append(SplitPlan([(a, b)], (int(bounds[lo]), a),
                                   [("the training window", int(bounds[lo]), a)],
                                   f"training {unit} {lo}-{s - 1}, test {unit} {s}-{hi - 1}"))
        return plans

    def _label_times(self, X, n_samples):
        purge = check_bool("purge", self.purge)
        if not purge:
            if self.t1 is not None:
                check_label_times(self.t1, X, n_samples, owner="WalkForward")
            return None
        return check_label_times(
            self.t1, X, n_samples, owner="WalkForward",
            required_for=" with `purge=True` (pass `purge=False` only when labels end on the bar they start)",
        )
