"""K-fold cross-validation with purging and an embargo (Lopez de Prado 2018, ch. 7)."""

from __future__ import annotations

from ml._checks import check_int
from ml.exceptions import ParameterError
from ml.validation._base import BaseSplitter, SplitPlan, group_bounds

__all__ = ["PurgedKFold"]


class PurgedKFold(BaseSplitter):
    """K-fold cross-validation for overlapping labels: purged and embargoed.

    The samples (in time order) are cut into ``n_splits`` contiguous folds,
    never shuffled; the first ``n_samples % n_splits`` folds get one sample
    more (as :class:`sklearn.model_selection.KFold`).  Each fold is the test
    set once; the training set is every other sample except

    - **purged** samples, whose label interval ``[t_i, t1_i]`` overlaps the
      test fold's ``[T0, T1]`` (``T0``: start of the fold's first label,
      ``T1``: the latest end of its labels); intervals are closed, so a label
      that ends exactly where the test fold starts is purged;
    - **embargoed** samples, the ``embargo`` samples that follow the purged
      zone *after* the test fold (never before it): serially correlated
      features right after the test period carry its information.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, >= 2.
    t1 : Series or array-like of shape (n_samples,)
        Label end times: a Series indexed by each sample's start time (equal
        to ``X.index`` when ``X`` is a DataFrame with a DatetimeIndex) whose
        values are the label end times (e.g. the ``t1`` column of
        :func:`ml.labels.triple_barrier_labels`, rows with undefined labels
        dropped), or an integer array of end positions (``t1[i] >= i``).
        Required: for labels that end where they start pass
        ``pd.Series(X.index, index=X.index)`` or ``np.arange(n_samples)``.
    embargo : int, float or Timedelta, default=0
        After each test fold, drop this many further training samples: an int
        is a number of samples (bars), a float in [0, 1) a fraction of all
        samples (``floor(embargo * n_samples)``, as Lopez de Prado), a
        Timedelta the samples that start within that duration of the last
        test label's end.

    See Also
    --------
    CombinatorialPurgedCV : several test folds per split, many backtest paths.
    WalkForward : training always before testing.

    Notes
    -----
    With ``T0 = t[a]`` and ``T1 = max(t1[a:b])`` for the test fold of
    positions ``a .. b-1``, sample ``i`` is purged when ``t_i <= T1`` and
    ``t1_i >= T0``.  This per-fold test is exactly "overlaps some test
    label" because the folds are contiguous in time.  A split whose purge and
    embargo would remove a whole training fold raises :class:`ParameterError`
    before the first split is yielded.

    References
    ----------
    .. [1] Lopez de Prado, M. (2018). *Advances in Financial Machine
       Learning*, Wiley, chapter 7.4 (purging, embargo, PurgedKFold).

    Examples
    --------
    Ten samples whose labels each end one sample later, three folds and an
    embargo of one sample:

    >>> import numpy as np
    >>> from ml.validation import PurgedKFold
    >>> X = np.zeros((10, 2))
    >>> t1 = np.minimum(np.arange(10) + 1, 9)
    >>> cv = PurgedKFold(n_splits=3, t1=t1, embargo=1)
    >>> for train, test in cv.split(X):
    ...     print("train:", train, "test:", test)
    train: [6 7 8 9] test: [0 1 2 3]
    train: [0 1 2 9] test: [4 5 6]
    train: [0 1 2 3 4 5] test: [7 8 9]
    >>> cv.get_n_splits()
    3

    Fold ``[4 5 6]``: sample 3 is purged (its label ends at 4), sample 7 is
    purged (label 6 ends at 7) and sample 8 is embargoed.
    """

    _hint = "use fewer `n_splits`, a smaller `embargo` or shorter labels (`t1`)"

    def __init__(self, n_splits=5, t1=None, embargo=0):
        self.n_splits = n_splits
        self.t1 = t1
        self.embargo = embargo

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of splits: ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; exist for compatibility.

        Returns
        -------
        int
        """
        return check_int("n_splits", self.n_splits, 2)

    def _plan(self, n_samples, groups):
        k = check_int("n_splits", self.n_splits, 2)
        if k > n_samples:
            raise ParameterError(f"`n_splits`={k} must not exceed the number of samples ({n_samples}).")
        bounds = group_bounds(n_samples, k)
        plans = []
        for f in range(k):
            units = [(f"training fold {g}", int(bounds[g]), int(bounds[g + 1])) for g in range(k) if g != f]
            plans.append(SplitPlan([(int(bounds[f]), int(bounds[f + 1]))], (0, n_samples), units,
                                   f"test fold {f}"))
        return plans
