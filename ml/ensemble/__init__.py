"""Ensembles of classifier adapters built on out-of-fold probabilities.

- :func:`out_of_fold_proba` -- each row's class probabilities from models that
  never saw it, over any splitter (purged, walk-forward, combinatorial).
- :class:`StackingEnsemble` -- a final classifier fitted on the base models'
  out-of-fold probabilities (works with splitters that are not partitions,
  unlike :class:`sklearn.ensemble.StackingClassifier`).
- :class:`BlendingEnsemble` -- log-loss-optimal convex weights of base-model
  probabilities, optionally one weight vector per market regime.
- :class:`RegimeBlendEnsemble` -- the two above and a regime model chained into
  one classifier (``--model blend`` of the walk-forward).

References
----------
Wolpert, D. H. (1992). Stacked generalization. *Neural Networks* 5(2), 241-259.
Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*, Wiley, chapter 7.
"""

from ml.ensemble._blending import BlendingEnsemble
from ml.ensemble._oof import out_of_fold_proba
from ml.ensemble._regime_blend import RegimeBlendEnsemble
from ml.ensemble._stacking import StackingEnsemble

__all__ = sorted([
    "BlendingEnsemble",
    "RegimeBlendEnsemble",
    "StackingEnsemble",
    "out_of_fold_proba",
])
