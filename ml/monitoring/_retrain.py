"""When to retrain: :class:`RetrainPolicy` (on drift, on a schedule, or both).

The policy only decides. The retraining itself is the walk-forward of the
model's own settings on the latest bars (the same purging and embargo, the
final fit on the last training window), registered as the next version and
staged as *challenger*: it never replaces the champion by itself
(``python -m runners.monitor --retrain drift`` does both).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.exceptions import ParameterError

__all__ = ["DRIFT_RULES", "RetrainPolicy"]

#: The alert rules that mean the market moved away from the training window (not the results' bands).
DRIFT_RULES = ("feature_drift", "prediction_psi", "adversarial_auc", "brier_increase", "ece")


@dataclass(frozen=True)
class RetrainPolicy:
    """Retrain ``when`` = ``"drift"`` (any drift alert), ``"schedule"`` (``every_sessions`` sessions after the
    training window's end) or ``"both"`` (whichever comes first)."""

    when: str = "drift"
    every_sessions: int = 20

    def __post_init__(self):
        if self.when not in ("drift", "schedule", "both"):
            raise ParameterError(f"`when` must be 'drift', 'schedule' or 'both', got {self.when!r}.")
        if not isinstance(self.every_sessions, int) or self.every_sessions < 1:
            raise ParameterError(f"`every_sessions` must be a whole number >= 1, got {self.every_sessions!r}.")

    def decide(self, alerts, sessions_since_training: int) -> str | None:
        """Why to retrain now (one line), or None. ``alerts``: the monitor's raised alerts."""
        if self.when in ("drift", "both"):
            drift = [a for a in alerts if a.rule in DRIFT_RULES]
            if drift:
                a = drift[0]
                return f"drift: {a.rule} at {a.time} ({a.value:.4g} past {a.threshold:.4g})"
        if self.when in ("schedule", "both") and sessions_since_training >= self.every_sessions:
            return (f"schedule: {sessions_since_training} session(s) since the training window ended "
                    f"(every {self.every_sessions})")
        return None
