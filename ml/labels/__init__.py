"""Labels for supervised learning on intraday bars, and the sample weights they imply.

Every labelling function decides at bar ``t``'s close and enters at bar
``t + 1``'s open, never lets a label span a session close (or a change of
``symbol``) unless asked to, and returns the label end time ``t1`` that purged
cross-validation needs.

- :func:`fixed_horizon_labels` -- sign of the return over a fixed number of bars.
- :func:`triple_barrier_labels` -- first of profit-taking, stop-loss and
  vertical barriers (volatility-scaled), with gap fills at the open.
- :func:`meta_labels` -- whether a primary model's side was worth taking.
- :func:`concurrent_labels`, :func:`average_uniqueness`,
  :func:`uniqueness_weights`, :func:`return_attribution_weights` -- weights for
  overlapping labels.

References
----------
Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*, Wiley,
chapters 3 (labeling) and 4 (sample weights).
"""

from ml.labels._fixed_horizon import fixed_horizon_labels
from ml.labels._triple_barrier import meta_labels, triple_barrier_labels
from ml.labels._weights import (
    average_uniqueness,
    concurrent_labels,
    return_attribution_weights,
    uniqueness_weights,
)

__all__ = sorted([
    "average_uniqueness",
    "concurrent_labels",
    "fixed_horizon_labels",
    "meta_labels",
    "return_attribution_weights",
    "triple_barrier_labels",
    "uniqueness_weights",
])
