"""Strategies that turn model outputs into target positions (see ARCHITECTURE.md).

- :class:`BaseStrategy` -- what a strategy implements: probabilities (or a
  model and its features) in, the desired side (+1 / 0 / -1) decided at each
  bar out, with the session facts (:func:`session_facts`).
- :class:`ProbabilityThresholdStrategy` -- long / short thresholds, minimum
  holding period, flat before the session close, optional meta-label filter.

The numba kernels live in :mod:`strategies._signals_nb` (twins in
:mod:`strategies._signals_py`) so that the sweep kernel and every engine use
the same rule.  A strategy never imports an engine: fills (next bar's open),
sizes, costs and stops are the engine's job.
"""

from strategies._base import BaseStrategy, SessionFacts, session_facts
from strategies._signals_nb import threshold_sides_nb
from strategies._threshold import ProbabilityThresholdStrategy

__all__ = sorted([
    "BaseStrategy",
    "ProbabilityThresholdStrategy",
    "SessionFacts",
    "session_facts",
    "threshold_sides_nb",
])
