"""Combinatorial purged cross-validation and its backtest paths (Lopez de Prado 2018, ch. 12)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ml._checks import check_int
from ml.exceptions import ParameterError
from ml.validation._base import BaseSplitter, SplitPlan, group_bounds

__all__ = ["CombinatorialPurgedCV"]


class CombinatorialPurgedCV(BaseSplitter):
    """Combinatorial purged cross-validation (CPCV): many backtest paths from one data set.

    The samples (in time order) are cut into ``n_groups`` contiguous groups
    (the first ``n_samples % n_groups`` one sample larger).  Every
    combination of ``n_test_groups`` groups is the test set of one split, in
    the order of :func:`itertools.combinations`, so there are ``C(N, k)``
    splits.  Adjacent test groups form one test block; around each block the
    training set is purged (labels overlapping the block) and embargoed
    (after the block only), as in :class:`PurgedKFold`.

    Each group is tested in ``C(N-1, k-1)`` splits, so the test predictions
    recombine into ``n_paths = C(N-1, k-1)`` complete out-of-sample paths:
    :meth:`paths` says which split feeds each group of each path and
    :meth:`stitch_paths` assembles them, giving a strategy a distribution of
    Sharpe ratios instead of a single backtest.

    Parameters
    ----------
    n_groups : int, default=6
        Number of groups ``N``, >= 2.
    n_test_groups : int, default=2
        Test groups per split ``k``, in [1, n_groups - 1]; ``k = 1`` is
        :class:`PurgedKFold` with one path.
    t1 : Series or array-like of shape (n_samples,)
        Label end times, required (see :class:`PurgedKFold`).
    embargo : int, float or Timedelta, default=0
        Embargo after each test block (see :class:`PurgedKFold`).

    See Also
    --------
    PurgedKFold : one test fold per split.

    Notes
    -----
    ``n_splits = C(N, k)`` and ``n_paths = k * C(N, k) / N = C(N-1, k-1)``.
    Path ``p`` takes, for group ``g``, the test predictions of the ``p``-th
    split (in split order) whose test set contains ``g``, so each group
    appears exactly once per path and every path covers every sample.

    References
    ----------
    .. [1] Lopez de Prado, M. (2018). *Advances in Financial Machine
       Learning*, Wiley, chapter 12.4 (combinatorial purged cross-validation).

    Examples
    --------
    Twelve samples in four groups of three, two test groups per split, labels
    that end one sample later:

    >>> import numpy as np
    >>> from ml.validation import CombinatorialPurgedCV
    >>> X = np.zeros((12, 1))
    >>> t1 = np.minimum(np.arange(12) + 1, 11)
    >>> cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, t1=t1)
    >>> for train, test in cv.split(X):
    ...     print("train:", train, "test:", test)
    train: [ 7  8  9 10 11] test: [0 1 2 3 4 5]
    train: [ 4 10 11] test: [0 1 2 6 7 8]
    train: [4 5 6 7] test: [ 0  1  2  9 10 11]
    train: [ 0  1 10 11] test: [3 4 5 6 7 8]
    train: [0 1 7] test: [ 3  4  5  9 10 11]
    train: [0 1 2 3 4] test: [ 6  7  8  9 10 11]
    >>> cv.get_n_splits(), cv.n_paths
    (6, 3)
    >>> cv.paths()
    array([[0, 0, 1, 2],
           [1, 3, 3, 4],
           [2, 4, 5, 5]])

    Stitching "predictions" that are just the split number shows which
    split feeds each sample of each path:

    >>> preds = [np.full(len(test), s) for s, (_, test) in enumerate(cv.split(X))]
    >>> cv.stitch_paths(preds, n_samples=12)
    array([[0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2],
           [1, 1, 1, 3, 3, 3, 3, 3, 3, 4, 4, 4],
           [2, 2, 2, 4, 4, 4, 5, 5, 5, 5, 5, 5]])

    Path 0 uses split 0 for groups 0 and 1, split 1 for group 2 and split 2
    for group 3.
    """

    _hint = "use fewer `n_groups`, a smaller `embargo` or shorter labels (`t1`)"

    def __init__(self, n_groups=6, n_test_groups=2, t1=None, embargo=0):
        self.n_groups = n_groups
        self.n_test_groups = n_test_groups
        self.t1 = t1
        self.embargo = embargo

    # ----------------------------------------------------------------- counts
    def _check_groups(self) -> tuple[int, int]:
        n = check_int("n_groups", self.n_groups, 2)
        k = check_int("n_test_groups", self.n_test_groups, 1)
        if k >= n:
            raise ParameterError(
                f"`n_test_groups` must be < `n_groups` ({n}) so that every split keeps training data, got {k}."
            )
        return n, k

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of splits, ``C(n_groups, n_test_groups)``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; exist for compatibility.

        Returns
        -------
        int
        """
        n, k = self._check_groups()
        return math.comb(n, k)

    @property
    def n_paths(self) -> int:
        """Number of backtest paths, ``C(n_groups - 1, n_test_groups - 1)``."""
        n, k = self._check_groups()
        return math.comb(n - 1, k - 1)

    def _combinations(self) -> list[tuple[int, ...]]:
        n, k = self._check_groups()
        return list(itertools.combinations(range(n), k))

    # ----------------------------------------------------------------- splits
    def _plan(self, n_samples, groups):
        n, _ = self._check_groups()
        if n > n_samples:
            raise ParameterError(f"`n_groups`={n} must not exceed the number of samples ({n_samples}).")
        bounds = group_bounds(n_samples, n)
        plans = []
        for combo in self._combinations():
            blocks = []
            for g in combo:  # merge adjacent test groups into one block
                a, b = int(bounds[g]), int(bounds[g + 1])
                if blocks and blocks[-1][1] == a:
                    blocks[-1] = (blocks[-1][0], b)
                else:
                    blocks.append((a, b))
            units = [(f"training group {g}", int(bounds[g]), int(bounds[g + 1]))
                     for g in range(n) if g not in combo]
            plans.append(SplitPlan(blocks, (0, n_samples), units, f"test groups {combo}"))
        return plans

    # ----------------------------------------------------------------- paths
    def paths(self) -> np.ndarray:
        """Which split's predictions each path uses for each group.

        Returns
        -------
        ndarray of int64 of shape (n_paths, n_groups)
            ``paths()[p, g]`` is the position (in :meth:`split` order) of the
            split whose test predictions make up group ``g`` of path ``p``.
        """
        n, _ = self._check_groups()
        combos = self._combinations()
        per_group = [[s for s, combo in enumerate(combos) if g in combo] for g in range(n)]
        return np.array(per_group, dtype=np.int64).T.copy()

    def stitch_paths(self, predictions, n_samples) -> np.ndarray:
        """Assemble the out-of-sample predictions of every split into complete paths.

        Parameters
        ----------
        predictions : sequence of array-like, one per split
            ``predictions[s]`` holds split ``s``'s predictions for its test
            samples, in the order of the ``test`` array :meth:`split` yielded
            (shape (n_test,) or (n_test, n_outputs), e.g. ``predict_proba``).
        n_samples : int
            Number of samples of the ``X`` that was split.

        Returns
        -------
        ndarray of shape (n_paths, n_samples) or (n_paths, n_samples, n_outputs)
            Row ``p`` is path ``p``'s prediction for every sample; compute
            one performance figure (e.g. a Sharpe ratio) per row.
        """
        n, _ = self._check_groups()
        n_samples = check_int("n_samples", n_samples, n)
        combos = self._combinations()
        if isinstance(predictions, np.ndarray) and predictions.dtype != object and predictions.ndim >= 1:
            predictions = list(predictions)
        if not hasattr(predictions, "__len__") or isinstance(predictions, (str, bytes)):
            raise TypeError(f"`predictions` must be a sequence of one array per split, got "
                            f"{type(predictions).__name__}.")
        if len(predictions) != len(combos):
            raise ParameterError(f"`predictions` must hold one array per split ({len(combos)}), "
                                 f"got {len(predictions)}.")
        bounds = group_bounds(n_samples, n)
        size = np.diff(bounds)
        arrays = []
        for s, (combo, pred) in enumerate(zip(combos, predictions)):
            arr = np.asarray(getattr(pred, "to_numpy", lambda: pred)())
            expected = int(size[list(combo)].sum())
            if arr.ndim not in (1, 2) or len(arr) != expected:
                raise ParameterError(
                    f"`predictions[{s}]` must have one row per test sample of split {s} ({expected}; "
                    f"test groups {combo}), got shape {arr.shape}."
                )
            arrays.append(arr)
        tail = arrays[0].shape[1:]
        bad = [s for s, arr in enumerate(arrays) if arr.shape[1:] != tail]
        if bad:
            raise ParameterError(f"`predictions` must all have the same number of columns; "
                                 f"predictions[0] has shape {arrays[0].shape}, predictions[{bad[0]}] "
                                 f"{arrays[bad[0]].shape}.")
        out = np.empty((self.n_paths, n_samples) + tail, dtype=np.result_type(*arrays))
        for p, row in enumerate(self.paths()):
            for g, s in enumerate(row):
                combo = combos[s]
                offset = int(size[[h for h in combo if h < g]].sum())
                out[p, bounds[g]:bounds[g + 1]] = arrays[s][offset:offset + size[g]]
        return out
