"""Fingerprints of source code, so that saved results of other code are never reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["PROJECT_ROOT", "source_hash"]

#: The folder that holds the top-level packages (ml, engines, risk, strategies, runners).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def source_hash(*paths) -> str:
    """SHA-256 (16 hex digits) of the ``.py`` files at ``paths`` (files, or folders searched
    recursively), relative to :data:`PROJECT_ROOT` unless absolute; ``"none"`` when there are none."""
    files = []
    for rel in paths:
        p = PROJECT_ROOT / rel
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else [])
    if not files:
        return "none"
    h = hashlib.sha256()
    for path in files:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
