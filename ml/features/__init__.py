"""Causal intraday features (80+ in named groups) and feature selection."""

from ml.features._build import FEATURE_GROUPS, FeatureSpec, StreamingFeatures, build_features, feature_catalog
from ml.features._causality import check_causality
from ml.features._selection import FeatureSelector, available_features, bagging_share, select_features, usable_rows

__all__ = sorted([
    "FEATURE_GROUPS",
    "FeatureSelector",
    "available_features",
    "bagging_share",
    "FeatureSpec",
    "StreamingFeatures",
    "build_features",
    "check_causality",
    "feature_catalog",
    "select_features",
    "usable_rows",
])
