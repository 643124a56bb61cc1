"""The counted search, its best-of-search permutation null, and the rule by which the model beats a
baseline (issue 12); the verdicts on known markets are in test_honesty.py."""

import json

import numpy as np
import pytest

from ml.data import continuous_contract, load_bars, no_edge_bars, sample_path
from tests.conftest import quiet
from tests.runners._subprocess import walkforward_metrics

SEED = 7


@pytest.fixture(scope="module")
def wdo():
    return quiet(lambda: continuous_contract(load_bars(sample_path("wdo"))))


_run = walkforward_metrics


def test_search_counts_every_variant_and_reports_the_best(tmp_path, wdo):
    from runners.walkforward import SEARCH_MENU

    day = wdo.index.normalize()
    small = wdo[day.isin(day.unique()[:9])]
    ledger = tmp_path / "ledger.jsonl"
    m, _ = _run(tmp_path, small, "--search", "--train-sessions", "6", "--test-sessions", "3",
                "--ledger", ledger)
    tried = m["search"]["tried"]
    assert len(tried) == len(SEARCH_MENU) == 6
    sharpe = [t["sharpe_per_session"] if t["sharpe_per_session"] is not None else -np.inf for t in tried]
    assert m["search"]["chosen"] == int(np.argmax(sharpe))
    assert m["sharpe_per_session"] == pytest.approx(tried[m["search"]["chosen"]]["sharpe_per_session"])
    assert m["dsr"]["n_trials"] == 6                   # the reported run is one of the six, counted once
    assert len({json.loads(line)["key"] for line in ledger.read_text().splitlines()}) == 6


def test_permutation_null_of_a_search_is_the_best_of_its_variants(wdo):
    """With --search, each permutation runs every variant and keeps the best (a best-of null)."""
    from engines.simulate import Costs, Stops
    from ml.data import bars_calendar
    from ml.training import WalkForwardConfig
    from risk.sizing import contract_for
    from runners.walkforward import _pipeline_stats
    from strategies import ProbabilityThresholdStrategy

    day = wdo.index.normalize()
    small = no_edge_bars(wdo[day.isin(day.unique()[:9])], seed=SEED, method="permute")
    cal = bars_calendar(small)
    cfgs = [WalkForwardConfig(train_sessions=6, test_sessions=3, label_params={"max_holding": h})
            for h in (5, 30)]
    backtest = dict(contract=contract_for(small), costs=Costs(commission_per_contract=1.5, slippage_ticks=1),
                    stops=Stops(), sizing=None, limits=None, initial_equity=100_000.0, calendar=None)
    strategy = ProbabilityThresholdStrategy(0.55, 0.45)
    each = [quiet(_pipeline_stats, small, [c], strategy, backtest, cal) for c in cfgs]
    both = quiet(_pipeline_stats, small, cfgs, strategy, backtest, cal)
    assert both == max(each, key=lambda s: s["sharpe_per_session"])


@pytest.mark.parametrize("model, baseline, expected", [
    (dict(auc=0.53, sharpe_per_session=0.2), dict(auc=0.51, sharpe_per_session=0.1, n_trades=40), True),
    (dict(auc=0.53, sharpe_per_session=0.2), dict(auc=0.54, sharpe_per_session=0.1, n_trades=40), False),
    (dict(auc=0.53, sharpe_per_session=0.05), dict(auc=0.51, sharpe_per_session=0.1, n_trades=40), False),
    # a baseline that never trades is flat (Sharpe 0): a losing model does not beat it, a winning one does
    (dict(auc=0.509, sharpe_per_session=-0.41), dict(auc=0.50, sharpe_per_session=None, n_trades=0), False),
    (dict(auc=0.53, sharpe_per_session=0.3), dict(auc=0.50, sharpe_per_session=None, n_trades=0), True),
    # a model with no defined Sharpe ratio beats nothing
    (dict(auc=0.53, sharpe_per_session=None), dict(auc=0.50, sharpe_per_session=-0.2, n_trades=10), False),
])
def test_beats_baseline_rule(model, baseline, expected):
    from runners.walkforward import beats_baseline

    assert beats_baseline(model, baseline) is expected
