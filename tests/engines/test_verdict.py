"""engines.verdict: the traded AUC and its interval, the noise spread, break-even cost and the verdict
rules, against scikit-learn, simulation and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from engines.verdict import VERDICTS, break_even_cost, null_auc_sd, traded_auc, verdict


def panel(n_sessions=60, per=200, edge=0.0, seed=0):
    rng = np.random.default_rng(seed)
    n = n_sessions * per
    p = rng.uniform(0.3, 0.7, n)
    up = rng.uniform(size=n) < 0.5 + edge * (p - 0.5) * 2
    label = np.where(up, 1.0, -1.0)
    label[rng.uniform(size=n) < 0.2] = 0.0              # time-outs: left out
    session = np.repeat(np.arange(n_sessions), per)
    fold = session // 10
    return p, label, session, fold


def test_auc_equals_scikit_learns_on_the_directional_rows():
    p, label, session, fold = panel(edge=0.3)
    got = traded_auc(p, label, session, fold, n_boot=0)
    m = label != 0
    assert got["auc"] == pytest.approx(roc_auc_score(label[m] > 0, p[m]), abs=1e-12)
    assert got["n"] == int(m.sum()) and got["n_sessions"] == 60
    for k, v in got["per_fold"].items():
        mk = m & (fold == int(k))
        assert v == pytest.approx(roc_auc_score(label[mk] > 0, p[mk]), abs=1e-12)


def test_null_spread_matches_simulation():
    rng = np.random.default_rng(1)
    aucs = [roc_auc_score(rng.uniform(size=400) < 0.5, rng.uniform(size=400)) for _ in range(3000)]
    assert null_auc_sd(200, 200) == pytest.approx(np.std(aucs), rel=0.08)
    assert null_auc_sd(200, 200) == pytest.approx(np.sqrt(401 / (12 * 200 * 200)))


def test_session_bootstrap_interval_covers_and_separates():
    noise = traded_auc(*panel(edge=0.0, seed=2)[:3], n_boot=300)
    assert noise["ci_low"] < 0.5 < noise["ci_high"]
    edge = traded_auc(*panel(edge=0.3, seed=2)[:3], n_boot=300)
    assert edge["ci_low"] > 0.5 and edge["ci_low"] < edge["auc"] < edge["ci_high"]
    again = traded_auc(*panel(edge=0.3, seed=2)[:3], n_boot=300)
    assert again == edge                                  # seeded


def test_break_even_cost_by_hand():
    be = break_even_cost(1200.0, 400, tick_value=5.0)       # R$3 a round trip = 0.6 WDO ticks
    assert be == {"per_round_trip": 3.0, "ticks": 0.6, "round_trips": 400.0}
    assert np.isnan(break_even_cost(10.0, 0)["per_round_trip"])


AUC_EDGE = {"auc": 0.53, "ci_low": 0.51, "ci_high": 0.55}
AUC_NONE = {"auc": 0.50, "ci_low": 0.47, "ci_high": 0.53}
AUC_WEAK = {"auc": 0.51, "ci_low": 0.49, "ci_high": 0.53}


@pytest.mark.parametrize("kw, expected", [
    (dict(dsr=0.97, auc=AUC_EDGE, net_pnl=500, gross_pnl=900, gross_psr=0.99), 2),
    (dict(dsr=0.97, auc=AUC_EDGE, net_pnl=500, gross_pnl=900, gross_psr=0.99, p_value=0.20), 1),
    (dict(dsr=0.97, auc=AUC_EDGE, net_pnl=500, gross_pnl=900, gross_psr=0.99, p_value=0.01), 2),
    (dict(dsr=0.40, auc=AUC_EDGE, net_pnl=-500, gross_pnl=900, gross_psr=0.99), 1),
    (dict(dsr=0.40, auc=AUC_WEAK, net_pnl=-500, gross_pnl=900, gross_psr=0.99), 1),
    (dict(dsr=0.40, auc=AUC_WEAK, net_pnl=-500, gross_pnl=900, gross_psr=0.80), 0),
    (dict(dsr=0.99, auc=AUC_WEAK, net_pnl=800, gross_pnl=900, gross_psr=0.99), 1),   # no AUC interval
    # a frictionless (even net) profit the traded probability does not rank for is luck
    (dict(dsr=0.40, auc=AUC_NONE, net_pnl=-500, gross_pnl=900, gross_psr=0.99), 0),
    (dict(dsr=0.99, auc=AUC_NONE, net_pnl=800, gross_pnl=900, gross_psr=0.999), 0),
    (dict(dsr=0.97, auc=AUC_EDGE, net_pnl=500, gross_pnl=900, gross_psr=0.99, blown=True), 0),
])
def test_verdict_rules(kw, expected):
    v = verdict(n_trials=3, **kw)
    assert v["verdict"] == VERDICTS[expected], v["why"]
    assert v["n_trials"] == 3 and v["auc_ci"] == [kw["auc"]["ci_low"], kw["auc"]["ci_high"]]
    assert "deflated Sharpe ratio >= 0.95" in v["rules"]


# --------------------------------------------------------------------------- permutation test


def test_permutation_p_value_by_hand():
    from engines.verdict import permutation_p_value

    assert permutation_p_value(1.0, [0.5, 1.0, 2.0, float("nan")]) == pytest.approx(3 / 5)   # (1 + 2) / (4 + 1)
    assert permutation_p_value(9.0, [0.1] * 19) == pytest.approx(1 / 20)                    # never 0
    assert permutation_p_value(-9.0, [0.1] * 19) == 1.0
    assert np.isnan(permutation_p_value(float("nan"), [0.1]))


def lag1_autocorrelation(bars):
    """A cheap stand-in for the whole pipeline: the lag-1 autocorrelation of bar returns."""
    r = np.log(bars["close"]).diff().dropna()
    return {"autocorr": float(r.autocorr()), "bars": float(len(bars))}


def test_permutation_test_is_seeded_parallel_safe_and_resumes(fil_bars, tmp_path):
    from engines.verdict import permutation_test

    bars = fil_bars.iloc[:3000]
    one = permutation_test(bars, lag1_autocorrelation, 4, seed=3, n_jobs=1)
    two = permutation_test(bars, lag1_autocorrelation, 4, seed=3, n_jobs=2, checkpoint=tmp_path / "p")
    assert one["null"] == two["null"] and one["reused"] == 0
    assert one["null"]["bars"] == [3000.0] * 4 and len(set(one["null"]["autocorr"])) == 4
    again = permutation_test(bars, lag1_autocorrelation, 6, seed=3, checkpoint=tmp_path / "p")
    assert again["reused"] == 4 and again["null"]["autocorr"][:4] == one["null"]["autocorr"]
    other = permutation_test(bars, lag1_autocorrelation, 4, seed=4, checkpoint=tmp_path / "p")
    assert other["reused"] == 0 and other["null"] != one["null"]
