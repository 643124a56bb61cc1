"""Cross-validation for time series with overlapping labels.

Every splitter is a scikit-learn cross-validator (usable as ``cv=`` anywhere
in :mod:`sklearn.model_selection`) that yields ``(train, test)`` position
arrays in time order and purges from training every sample whose label
interval ``[t, t1]`` overlaps a test label (PITFALLS rules 20-21):

- :class:`PurgedKFold` -- contiguous k-fold, purged, embargo after each test fold.
- :class:`CombinatorialPurgedCV` -- every choice of ``k`` test groups out of
  ``N``; recombines the test predictions into ``C(N-1, k-1)`` backtest paths.
- :class:`WalkForward` -- rolling or anchored training windows, in bars or
  sessions, each followed by its test window.

References
----------
Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*, Wiley,
chapters 7 (cross-validation in finance) and 12 (backtesting through
cross-validation).
"""

from ml.validation._base import BaseSplitter
from ml.validation._combinatorial import CombinatorialPurgedCV
from ml.validation._purged_kfold import PurgedKFold
from ml.validation._walk_forward import WalkForward

__all__ = sorted([
    "BaseSplitter",
    "CombinatorialPurgedCV",
    "PurgedKFold",
    "WalkForward",
])
