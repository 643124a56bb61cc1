"""Versioned model artifacts with metadata (data hash, features, params, CV metrics, versions), and the
trial ledger behind the deflated Sharpe ratio.

``ModelRegistry(root).register(model, {...})`` stores the next version of a
model under ``root/<name>/v<k>``; ``load``, ``metadata``, ``list``,
``latest_version`` and ``delete`` read and manage them.  A
:class:`ModelBundle` (model, features, strategy, risk rules, costs, contract,
calendar, training data) is stored the same way and loaded with
``load_bundle("NAME@VERSION")``. Versions move through the stages candidate,
challenger, champion and retired (``promote``, ``rollback``, ``stage_history``);
``NAME@champion`` loads the champion.
"""

from ml.registry._env import code_version, library_versions
from ml.registry._json import to_jsonable
from ml.registry._ledger import LEDGER_ENV, TrialLedger, data_fingerprint, default_ledger_path
from ml.registry._bundle import ModelBundle
from ml.registry._registry import (
    REGISTRY_ENV,
    CorruptModelError,
    ModelRegistry,
    default_registry_path,
    parse_ref,
)
from ml.registry._stages import STAGES

__all__ = sorted([
    "CorruptModelError",
    "LEDGER_ENV",
    "TrialLedger",
    "data_fingerprint",
    "default_ledger_path",
    "ModelBundle",
    "ModelRegistry",
    "REGISTRY_ENV",
    "default_registry_path",
    "parse_ref",
    "STAGES",
    "code_version",
    "library_versions",
    "to_jsonable",
])
