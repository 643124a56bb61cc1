"""Model monitoring: drift of features, predictions and calibration, adversarial validation, live results
against the walk-forward's bands, and alerts.

- :class:`ModelMonitor` watches a model bar by bar against its :class:`MonitorReference`
  (fixed when the bundle is registered) with :class:`MonitorThresholds`;
- :class:`Alerts` raises each condition once while it persists and sends it to sinks:
  :class:`JsonLines`, any Python callable, :class:`Webhook`;
- :class:`RetrainPolicy` decides when to retrain (on drift, on a schedule, or both);
- the statistics (:func:`psi`, :func:`ks`, :func:`ece`, :func:`adversarial_auc`,
  :func:`session_bands`) work on plain arrays.
"""

from ml.monitoring._alerts import Alert, Alerts, JsonLines, Webhook, run_alerts
from ml.monitoring._retrain import DRIFT_RULES, RetrainPolicy
from ml.monitoring._monitor import ModelMonitor, MonitorReference, MonitorThresholds, forward_outcome, monitor_bars
from ml.monitoring._stats import adversarial_auc, bin_edges, compare_bundles, ece, ks, paired_session_test, psi, session_bands

__all__ = ["Alert", "Alerts", "DRIFT_RULES", "RetrainPolicy", "JsonLines", "ModelMonitor", "MonitorReference", "MonitorThresholds", "Webhook", "monitor_bars", "run_alerts",
           "adversarial_auc", "bin_edges", "compare_bundles", "ece", "forward_outcome", "ks", "paired_session_test", "psi",
           "session_bands"]
