"""Versioned model artifacts with metadata (data hash, features, params, CV metrics, versions), and the
trial ledger behind the deflated Sharpe ratio.

``ModelRegistry(root).register(model, {...})`` stores the next version of a
model under ``root/<name>/v<k>``; ``load``, ``metadata``, ``list``,
``latest_version`` and ``delete`` read and manage them.
"""

from ml.registry._env import code_version, library_versions
from ml.registry._json import to_jsonable
from ml.registry._ledger import LEDGER_ENV, TrialLedger, data_fingerprint, default_ledger_path
from ml.registry._registry import CorruptModelError, ModelRegistry

__all__ = sorted([
    "CorruptModelError",
    "LEDGER_ENV",
    "TrialLedger",
    "data_fingerprint",
    "default_ledger_path",
    "ModelRegistry",
    "code_version",
    "library_versions",
    "to_jsonable",
])
