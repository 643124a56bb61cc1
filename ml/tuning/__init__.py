"""Optuna hyper-parameter search over purged / walk-forward splits."""

from ml.tuning._tune import SCORINGS, TrialSeededTPESampler, TuneResult, fold_score, tune

__all__ = sorted(["SCORINGS", "TrialSeededTPESampler", "TuneResult", "fold_score", "tune"])
