"""Shared fixtures of the label tests."""

from __future__ import annotations

import pytest

from ml.data import load_bars, sample_path
from ml.labels import _checks


@pytest.fixture(scope="session")
def wdo():
    """Real B3 WDO 1-minute bars (48 sessions, 27k rows, two contract rolls)."""
    return load_bars(sample_path("wdo"))


@pytest.fixture
def pure_python(monkeypatch):
    """Run the public functions on the plain-Python twins instead of the numba kernels."""
    monkeypatch.setattr(_checks, "PURE_PYTHON", True)
