"""Registry stages: transitions, history, rollback, refused promotions, NAME@champion, and the runner."""

import json

import pytest

from ml.exceptions import ParameterError
from ml.registry import ModelRegistry
from tests.runners._subprocess import run_runner


@pytest.fixture
def reg(tmp_path, bundle):
    r = ModelRegistry(tmp_path / "reg")
    for _ in range(3):
        r.register(bundle, name="wdo")
    return r


@pytest.fixture(scope="module")
def bundle():
    from tests.ml.registry.test_bundle import CFG, _six_sessions
    from ml.registry import ModelBundle
    from ml.training import fit_final
    from strategies import ProbabilityThresholdStrategy

    wdo = _six_sessions()
    final = fit_final(wdo, CFG)
    return ModelBundle(model=final.model, features=final.selected, classes=final.classes, calendar="B3",
                       bar_minutes=1.0, strategy=ProbabilityThresholdStrategy(long_threshold=0.52,
                                                                              short_threshold=0.48).get_params(),
                       sizing={"method": "fixed", "contracts": 1}, stops={}, limits={},
                       costs={"commission_per_contract": 1.0, "slippage_ticks": 1.0},
                       contract={"multiplier": 10.0, "tick_size": 0.5, "name": "WDO", "currency": "BRL"},
                       instrument="WDO")


def test_every_version_starts_a_candidate_and_moves_through_the_stages(reg):
    assert reg.stages("wdo") == {1: "candidate", 2: "candidate", 3: "candidate"}
    reg.promote("wdo", 1)
    assert reg.stage("wdo", 1) == "champion" and reg.version_at("wdo", "champion") == 1
    reg.promote("wdo", 2, to="challenger")
    reg.promote("wdo", 3, to="challenger")            # one challenger: v2 goes back to candidate
    assert reg.stages("wdo") == {1: "champion", 2: "candidate", 3: "challenger"}
    reg.promote("wdo", 3)                              # the challenger wins: the champion retires
    assert reg.stages("wdo") == {1: "retired", 2: "candidate", 3: "champion"}
    assert type(reg.load_bundle("wdo@champion")).__name__ == "ModelBundle"
    assert reg.metadata("wdo", "champion")["version"] == 3
    with pytest.raises(ParameterError, match="has no challenger"):
        reg.load_bundle("wdo@challenger")
    assert list(reg.list("wdo")["stage"]) == ["retired", "candidate", "champion"]


def test_rollback_restores_the_previous_champion_and_keeps_the_history(reg):
    with pytest.raises(ParameterError, match="no champion to roll back"):
        reg.rollback("wdo")
    reg.promote("wdo", 1, note="first")
    with pytest.raises(ParameterError, match="first champion"):
        reg.rollback("wdo")
    reg.promote("wdo", 2)
    reg.rollback("wdo", note="v2 lost money")
    assert reg.stages("wdo") == {1: "champion", 2: "retired", 3: "candidate"}
    history = reg.stage_history("wdo")
    assert [(e["version"], e["previous"], e["stage"]) for e in history] == [
        (1, "candidate", "champion"), (1, "champion", "retired"), (2, "candidate", "champion"),
        (2, "champion", "retired"), (1, "retired", "champion")]
    assert history[0]["note"] == "first" and history[-1]["reason"] == "rollback from v2"
    assert history[-1]["note"] == "v2 lost money"


def test_a_promotion_that_fails_validation_changes_nothing(reg, bundle):
    with pytest.raises(ParameterError, match="not promoted to champion: too risky"):
        reg.promote("wdo", 2, validate=lambda b: ["too risky"])
    assert reg.stage_history("wdo") == []
    # a version whose files changed fails the hash check before anything else
    vdir = reg.root / "wdo" / "v1"
    model_files = [p for p in (vdir / "model").rglob("*") if p.is_file()]
    model_files[0].write_bytes(b"corrupted")
    from ml.exceptions import CorruptModelError

    with pytest.raises(CorruptModelError):
        reg.promote("wdo", 1)
    assert reg.stage("wdo", 1) == "candidate"
    with pytest.raises(ParameterError, match="Did you mean 'champion'"):
        reg.set_stage("wdo", 2, "champoin")


def test_bundle_validation_on_bars(bundle):
    from tests.ml.registry.test_bundle import _six_sessions

    wdo = _six_sessions()
    assert bundle.validate(wdo) == []
    problems = bundle.validate(wdo.drop(columns=["volume"]))
    assert len(problems) == 1 and "volume" in problems[0]


def test_runner_promote_compare_rollback(reg, tmp_path):
    from tests.ml.registry.test_bundle import _six_sessions
    from tests.runners._subprocess import write_bars

    data = write_bars(_six_sessions(), tmp_path / "bars.parquet")
    base = ["--registry", reg.root]
    proc = run_runner("runners.registry", [*base, "promote", "wdo@1"], tmp_path)
    assert proc.returncode == 0 and "wdo@1: candidate -> champion" in proc.stdout, proc.stderr
    proc = run_runner("runners.registry", [*base, "promote", "wdo@2"], tmp_path)
    assert proc.returncode == 2 and "needs --data FILE" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_runner("runners.registry", [*base, "promote", "wdo@2", "--data", data, "--symbol", "WDO"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "against champion v1" in proc.stdout and "paired t-test p" in proc.stdout
    assert "wdo@1: champion -> retired" in proc.stdout and "wdo@2: candidate -> champion" in proc.stdout
    note = json.loads(reg.stage_history("wdo")[-1]["note"])
    assert note["test"]["sessions"] == 6 and set(note["n_trades"]) == {"champion", "challenger"}
    proc = run_runner("runners.registry", [*base, "rollback", "wdo"], tmp_path)
    assert proc.returncode == 0 and "v2 retired, v1 is champion again" in proc.stdout
    proc = run_runner("runners.registry", [*base, "history", "wdo"], tmp_path)
    assert proc.stdout.count("\n") == 5 and "champion -> retired (rollback to v1)" in proc.stdout
    proc = run_runner("runners.registry", [*base, "list"], tmp_path)
    assert "champion" in proc.stdout and "retired" in proc.stdout
    proc = run_runner("runners.registry", [*base, "promote", "wdx@1"], tmp_path)
    assert proc.returncode == 2 and "Did you mean 'wdo'" in proc.stderr
    proc = run_runner("runners.registry", [*base, "stage", "wdo@3", "champion"], tmp_path)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr    # champion only through promote
