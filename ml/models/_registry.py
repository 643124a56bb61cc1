"""Model names -> adapters, imported lazily (torch only when a deep model is asked for)."""

from __future__ import annotations

import importlib

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["MODELS", "available_models", "get_model", "get_model_class"]

#: name -> "module:Class".  Adding a model means adding one line here and one
#: fixture in tests/ml/models (the shared adapter contract suite).
MODELS: dict[str, str] = {
    "catboost": "ml.models._catboost:CatBoostModel",
    "logistic": "ml.models._sklearn:LogisticModel",
    "random_forest": "ml.models._sklearn:RandomForestModel",
    "svm": "ml.models._sklearn:SVMModel",
    "mlp": "ml.models._sklearn:MLPModel",
    "lstm": "ml.models._deep:LSTMModel",
    "transformer": "ml.models._deep:TransformerModel",
    "garch": "ml.models._garch:GarchModel",
    "regime": "ml.models._regime:RegimeModel",
}


def get_model_class(name: str):
    """The adapter class registered under ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}.")
    key = name.strip().lower()
    if key not in MODELS:
        raise ParameterError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}."
                             f"{did_you_mean(key, MODELS)}")
    module, cls = MODELS[key].split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"model {key!r} needs an optional dependency ({exc.name}); "
                          "install it with: pip install '.[deep]'") from exc
    return getattr(mod, cls)


def get_model(name: str, **params):
    """A new, unfitted adapter ``name`` with ``params``."""
    return get_model_class(name)(**params)


def available_models(kind: str | None = None) -> list[str]:
    """Registered names, optionally of one kind ("classifier", "volatility", "regime")."""
    if kind is None:
        return list(MODELS)
    out = []
    for name in MODELS:
        try:
            if get_model_class(name).kind == kind:
                out.append(name)
        except ImportError:
            continue
    return out
