"""Running a runner as a user would: ``python -m runners.<name>`` in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def runner_env() -> dict:
    """The environment with this checkout first on the path (never a stale installed copy)."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_runner(module: str, args, cwd, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=runner_env(),
                          capture_output=True, text=True, timeout=timeout)


def write_bars(bars, path):
    """``bars`` (as load_bars returns them) to a Parquet file a runner reads, ``timestamp`` first."""
    frame = bars.reset_index()
    frame.attrs = {}
    frame.rename(columns={frame.columns[0]: "timestamp"}).to_parquet(path, index=False)
    return path


def wdo_sessions_file(folder, n_sessions: int = 16) -> Path:
    """The first ``n_sessions`` sessions of the bundled WDO sample, written for a runner's ``--data``."""
    import warnings

    from ml.data import load_bars, sample_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = load_bars(sample_path("wdo"))
    days = bars.index.normalize().unique()[:n_sessions]
    return write_bars(bars[bars.index.normalize().isin(days)], Path(folder) / f"wdo{n_sessions}.parquet")


def walkforward_metrics(folder, bars, *extra, out=None):
    """``python -m runners.walkforward`` on ``bars`` (written once to ``folder/bars.parquet``), with a
    trial ledger of its own per call unless ``--ledger`` is given: ``(metrics.json, process)``."""
    import json

    data = folder / "bars.parquet"
    if not data.is_file():
        write_bars(bars, data)
    out = out or folder / "run"
    # a ledger of its own: each run is a user's first trial on these data, whatever ran before
    if "--ledger" not in extra:
        extra = (*extra, "--ledger", folder / f"ledger-{len(list(folder.glob('ledger-*')))}.jsonl")
    proc = run_runner("runners.walkforward", ["--data", data, "--out", out, "--latency-decisions", "0",
                                              "--quiet", *extra], folder)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "metrics.json").read_text()), proc
