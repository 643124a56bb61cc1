"""Library and code versions recorded with every registered model (no heavy imports)."""

from __future__ import annotations

import importlib.metadata as _md
import platform
import subprocess
from pathlib import Path

__all__ = ["code_version", "library_versions"]

#: distribution names looked up with :mod:`importlib.metadata` (never imported).
LIBRARIES: tuple[str, ...] = (
    "numpy", "pandas", "scikit-learn", "scipy", "joblib", "numba",
    "catboost", "optuna", "arch", "torch",
)


def library_versions(libraries=LIBRARIES) -> dict[str, str]:
    """``{"python": ..., library: version}`` for the installed ``libraries``.

    Versions come from the installed distributions' metadata, so no library is
    imported (torch, catboost stay unloaded); those not installed are left out.
    """
    out = {"python": platform.python_version()}
    for lib in libraries:
        try:
            out[lib] = _md.version(lib)
        except _md.PackageNotFoundError:
            continue
    return out


def code_version() -> dict:
    """Version of this toolkit: ``ml.__version__`` and, when it runs from a git
    checkout, the commit and whether tracked files had uncommitted changes."""
    import ml

    out: dict = {"ml": getattr(ml, "__version__", None)}
    repo = Path(ml.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True, timeout=5)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=repo, capture_output=True, text=True, timeout=5)
            if dirty.returncode == 0:
                out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out
