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


def test_one_size_dispatch_and_its_twin_agree():
    """risk._sizing_nb.size_for_mode_nb is the size dispatch of the simulator's kernel and of the
    backtrader strategy; its plain-Python twin (simulate_py's) must give the same sizes."""
    import math

    import numpy as np

    from risk._py import size_for_mode_py
    from risk._sizing_nb import SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_KELLY, SIZE_VOL_TARGET, size_for_mode_nb

    rng = np.random.default_rng(5)
    for _ in range(400):
        mode = int(rng.integers(0, 4))
        args = (mode, float(rng.choice([3.0, 0.02, 0.001, 0.5])), float(rng.uniform(-1e3, 2e5)),
                float(rng.uniform(1, 6000)), float(rng.choice([1.0, 10.0, 50.0])),
                float(rng.choice([0.0, 1.5])), float(rng.choice([math.nan, 0.0, 2.5])),
                float(rng.choice([math.nan, 1e-4, 0.0])), float(rng.choice([math.nan, 0.3, 0.55, 0.9])),
                float(rng.choice([1.0, 2.0])), float(rng.choice([0.25, 0.01])), 1.0, 1.0,
                float(rng.choice([math.inf, 5.0])), bool(rng.integers(0, 2)))
        assert size_for_mode_nb(*args) == size_for_mode_py(*args), args
    nan = math.nan
    # by hand: R$2,000 (2% of 100,000) at risk over a stop 1.5 x 4 = 6 points away at R$10 a point
    # = R$60 a contract: 33.3, truncated to 33 whole contracts
    assert size_for_mode_nb(SIZE_FIXED_FRACTION, 0.02, 100_000.0, 5000.0, 10.0, 1.5, 4.0, nan, nan, nan, 1.0,
                            1.0, 1.0, math.inf, False) == 33.0
    assert size_for_mode_nb(SIZE_FIXED, 3.0, 0.0, 1.0, 1.0, 0.0, nan, nan, nan, nan, 1.0, 1.0, 1.0, 2.0,
                            False) == 2.0
    # Kelly, by hand: p = 0.6, b = 2: full Kelly 0.6 - 0.4 / 2 = 0.4, half of it 0.2, capped at 0.25:
    # R$20,000 at risk over the 6-point stop (R$60 a contract) = 333.3 -> 333 contracts
    assert size_for_mode_nb(SIZE_KELLY, 0.5, 100_000.0, 5000.0, 10.0, 1.5, 4.0, nan, 0.6, 2.0, 0.25,
                            1.0, 1.0, math.inf, False) == 333.0
    # ... capped at 10% of equity: R$10,000 / R$60 = 166.7 -> 166; no edge (p = 0.3): no entry
    assert size_for_mode_nb(SIZE_KELLY, 0.5, 100_000.0, 5000.0, 10.0, 1.5, 4.0, nan, 0.6, 2.0, 0.1,
                            1.0, 1.0, math.inf, False) == 166.0
    assert size_for_mode_nb(SIZE_KELLY, 0.5, 100_000.0, 5000.0, 10.0, 1.5, 4.0, nan, 0.3, 2.0, 0.25,
                            1.0, 1.0, math.inf, False) == 0.0
    assert size_for_mode_nb(SIZE_VOL_TARGET, 0.001, 100_000.0, 5000.0, 10.0, 0.0, nan, nan, nan, nan, 1.0,
                            1.0, 1.0, math.inf, False) == 0.0   # no volatility forecast: no entry
