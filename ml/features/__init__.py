"""Causal intraday features (80+ in named groups) and feature selection."""

from ml.features._build import FEATURE_GROUPS, FeatureSpec, build_features, feature_catalog
from ml.features._causality import check_causality
from ml.features._selection import FeatureSelector, select_features

__all__ = sorted([
    "FEATURE_GROUPS",
    "FeatureSelector",
    "FeatureSpec",
    "build_features",
    "check_causality",
    "feature_catalog",
    "select_features",
])
