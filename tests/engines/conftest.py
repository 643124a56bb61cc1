"""Fixtures shared by the engine tests."""

import warnings

import numpy as np
import pytest

from engines import report
from engines.simulate import Costs, simulate
from ml.data import continuous_contract, load_bars, sample_path
from strategies import ProbabilityThresholdStrategy


@pytest.fixture(scope="module")
def losing_tearsheet(tmp_path_factory):
    """``(result, path)``: a run on the first 3,000 WDO bars that loses from its first session (a
    z-score signal with R$30 of commission per contract and side), and its tearsheet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo"))).iloc[:3000]
    close = bars["close"]
    z = (close - close.rolling(30).mean()) / close.rolling(30).std()
    sides = ProbabilityThresholdStrategy(0.6, 0.4).sides(1.0 / (1.0 + np.exp(-z)), bars)
    res = simulate(bars, sides, costs=Costs(commission_per_contract=30.0))
    path = tmp_path_factory.mktemp("losing") / "tearsheet.html"
    report.tearsheet(res.returns, path=path, calendar="B3", positions=res.positions,
                     report_sharpe=res.metrics["sharpe"])
    return res, path
