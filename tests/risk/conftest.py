"""Shared fixtures of the risk tests."""

from __future__ import annotations

import pytest

from risk import _checks


@pytest.fixture
def pure_python(monkeypatch):
    """Run the public functions on the plain-Python twins instead of the numba kernels."""
    monkeypatch.setattr(_checks, "PURE_PYTHON", True)


@pytest.fixture(params=["numba", "python"])
def engine(request, monkeypatch):
    """Run a test once on the numba kernels and once on their plain-Python twins."""
    if request.param == "python":
        monkeypatch.setattr(_checks, "PURE_PYTHON", True)
    return request.param
