"""Walk-forward training: features, per-fold selection, tuning, fit, out-of-sample probabilities."""

from ml.training._baselines import BASELINES, directional_auc, fold_baselines
from ml.training._cpcv import CPCVResult, cpcv_paths
from ml.training._final import FinalFit, directional_probability, fit_final, signal_probability, traded_probability
from ml.training._volatility import fold_garch_sigma
from ml.training._walkforward import (
    LABELS,
    FoldResult,
    WalkForwardConfig,
    WalkForwardResult,
    train_walkforward,
)

__all__ = sorted(["BASELINES", "CPCVResult", "FinalFit", "directional_probability", "fit_final",
                  "signal_probability", "traded_probability", "cpcv_paths", "directional_auc", "fold_baselines", "fold_garch_sigma", "FoldResult", "LABELS", "WalkForwardConfig", "WalkForwardResult", "train_walkforward"])
