"""`risk` owns every risk rule (issue 13, item 2): Sizing, Stops and DailyLimits live there, and risk
depends on no engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import risk
from ml.exceptions import ParameterError


def test_sizing_stops_and_limits_live_in_risk():
    import engines.engine
    import engines.simulate

    for name in ("Sizing", "Stops", "DailyLimits"):
        obj = getattr(risk, name)
        assert obj.__module__.startswith("risk."), (name, obj.__module__)
    # the engines use the same classes (re-exported, never redefined)
    assert engines.simulate.Sizing is risk.Sizing and engines.simulate.Stops is risk.Stops
    assert engines.engine.Sizing is risk.Sizing


def test_risk_imports_no_engine():
    for path in Path(risk.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "engines" or n.startswith("engines.") for n in names), (path.name, names)


def test_rules_turn_into_kernel_arguments():
    assert risk.Sizing(contracts=2).kernel_args() == (0, 2.0)
    assert risk.Sizing(method="fixed_fraction", fraction=0.02).kernel_args() == (1, 0.02)
    assert risk.Stops(sl_atr=2, max_bars=30).kernel_args() == (2.0, 0.0, 0.0, 30, True)
    with pytest.raises(ParameterError, match="0.02 means 2%"):
        risk.Sizing(method="fixed_fraction", fraction=2).kernel_args()
    with pytest.raises(ParameterError, match="`max_bars` must be an int >= 1 or None"):
        risk.Stops(max_bars=0).kernel_args()
