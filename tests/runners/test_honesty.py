"""The verdict of the default walk-forward on markets whose truth is known (issue 12).

The bundled WDO sample made into (a) a market with no edge and (b) one with a planted
next-bar momentum edge (hit rate 0.55), fixed seeds.  At the runner's defaults the
verdicts must be: no edge -> "no evidence of an edge"; planted, default costs -> "an edge
before costs that costs remove" (the planted rule itself loses after those costs: it is
re-checked here); planted, no costs -> "evidence of an edge after costs".  Plus the
counted search and the baselines beside the model.
"""

import json

import numpy as np
import pandas as pd
import pytest

from engines.verdict import VERDICTS
from ml.data import continuous_contract, load_bars, no_edge_bars, planted_edge_bars, sample_path
from tests.conftest import quiet
from tests.runners._subprocess import run_runner

SEED = 7


@pytest.fixture(scope="module")
def wdo():
    return quiet(lambda: continuous_contract(load_bars(sample_path("wdo"))))


def _write(bars, path):
    frame = bars.reset_index()
    frame.attrs = {}
    frame.rename(columns={frame.columns[0]: "timestamp"}).to_parquet(path, index=False)
    return path


def _run(tmp_path, bars, *extra, out=None):
    data = tmp_path / "bars.parquet"
    if not data.is_file():
        _write(bars, data)
    out = out or tmp_path / "run"
    # a ledger of its own: each test is a user's first trial on these data, whatever ran before
    if "--ledger" not in extra:
        extra = (*extra, "--ledger", tmp_path / f"ledger-{len(list(tmp_path.glob('ledger-*')))}.jsonl")
    proc = run_runner("runners.walkforward", ["--data", data, "--out", out, "--latency-decisions", "0",
                                              "--quiet", *extra], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "metrics.json").read_text()), proc


@pytest.fixture(scope="module")
def planted(wdo):
    return planted_edge_bars(wdo, "momentum", hit_rate=0.55, seed=SEED)


def test_no_edge_market_gets_no_evidence(tmp_path, wdo):
    m, proc = _run(tmp_path, no_edge_bars(wdo, seed=SEED))
    assert m["verdict"]["verdict"] == VERDICTS[0]
    assert proc.stdout.startswith(f"verdict: {VERDICTS[0]}")
    assert m["traded_auc"]["ci_low"] < 0.5 < m["traded_auc"]["ci_high"]


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory):
    """One folder for both planted runs: the no-cost run reuses the folds the first one trained
    (only costs differ), as a user's rerun would; each run has a ledger of its own."""
    return tmp_path_factory.mktemp("planted")


def test_planted_edge_is_found_and_costs_named_as_what_removes_it(planted_dir, planted):
    m, _ = _run(planted_dir, planted)
    assert m["verdict"]["verdict"] == VERDICTS[1]
    assert m["traded_auc"]["ci_low"] > 0.5
    assert m["frictionless"]["pnl"] > 0 > m["net_pnl"]
    # the truth: the planted rule itself, traded after the same default costs, loses money
    from benchmarks.honesty import oracle

    assert quiet(oracle, planted, "momentum")["sharpe"] < 0


def test_planted_edge_without_costs_is_evidence_after_costs(planted_dir, planted):
    m, _ = _run(planted_dir, planted, "--commission", "0", "--slippage-ticks", "0")
    assert m["verdict"]["verdict"] == VERDICTS[2]
    assert m["deflated_sharpe"] >= 0.95 and m["net_pnl"] > 0
    base = m["baselines"]
    assert set(base["baselines"]) == {"one_feature_logistic", "raw_feature"}
    # the planted signal is the sign of the last 5 bars' return: every fold's best training feature is a
    # short-horizon momentum one (measured: mom_z_5, ret_2 and ema_dist_10, two folds each), and the
    # 5-bar return itself (raw or z-scored) is among them
    picked = list(base["features_by_fold"].values())
    assert set(picked) <= {"ret_1", "ret_2", "ret_5", "ret_15", "mom_z_5", "mom_z_15", "ema_dist_10"}, picked
    assert any(f in ("ret_5", "mom_z_5") for f in picked), picked


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
