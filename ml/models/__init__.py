"""Model adapters with the scikit-learn estimator API, and the name registry.

``get_model("catboost", random_state=0)`` builds an adapter by name;
``available_models()`` lists the names.  See ``_base.py`` for the contract
every adapter honours.
"""

from ml.models._base import BaseAdapter, BaseClassifierAdapter
from ml.models._importance import IMPORTANCE_METHODS, feature_importance, importance_stability
from ml.models._registry import MODELS, available_models, get_model, get_model_class

__all__ = sorted([
    "IMPORTANCE_METHODS",
    "feature_importance",
    "importance_stability",
    "BaseAdapter",
    "BaseClassifierAdapter",
    "MODELS",
    "available_models",
    "get_model",
    "get_model_class",
])
