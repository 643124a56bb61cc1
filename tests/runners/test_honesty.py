"""The verdict of the default walk-forward on markets whose truth is known (issue 12).

The bundled WDO sample made into (a) a market with no edge and (b) one with a planted
next-bar momentum edge (hit rate 0.55), fixed seeds.  At the runner's defaults the
verdicts must be: no edge -> "no evidence of an edge"; planted, default costs -> "an edge
before costs that costs remove" (the planted rule itself loses after those costs: it is
re-checked here); planted, no costs -> "evidence of an edge after costs".  The counted
search and the rule by which the model beats a baseline are in test_search.py.
"""


import pytest

from engines.verdict import VERDICTS
from ml.data import continuous_contract, load_bars, no_edge_bars, planted_edge_bars, sample_path
from tests.conftest import quiet
from tests.runners._subprocess import walkforward_metrics

SEED = 7


@pytest.fixture(scope="module")
def wdo():
    return quiet(lambda: continuous_contract(load_bars(sample_path("wdo"))))


_run = walkforward_metrics


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
