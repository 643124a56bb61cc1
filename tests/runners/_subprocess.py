"""Running a runner as a user would: ``python -m runners.<name>``.

:func:`run_runner` runs the runner's ``main`` through the same ``run_cli`` that
``python -m`` calls, in the test's own interpreter: the current folder, stdout,
stderr, logging and warning settings are those of a fresh process and are put
back afterwards; the exit code is the process's. That saves an interpreter
start and the imports (3-8 s a run on 2 cores). Tests of what only a separate
process shows (the traceback-free error of ``python -m``, the bundled-sample
command of the README, a warning a worker already showed once) pass
``fresh=True``; ``DAYTRADE_TEST_SUBPROCESS=1`` runs every runner that way.
"""

import contextlib
import importlib
import io
import logging
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def runner_env() -> dict:
    """The environment with this checkout first on the path (never a stale installed copy)."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


FRESH = os.environ.get("DAYTRADE_TEST_SUBPROCESS") == "1"


def run_runner(module: str, args, cwd, timeout: int = 900, *, fresh: bool = False) -> subprocess.CompletedProcess:
    """``python -m module args`` in ``cwd``: its exit code, stdout and stderr."""
    args = [str(a) for a in args]
    if fresh or FRESH:
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=runner_env(),
                              capture_output=True, text=True, timeout=timeout)
    return _in_process(module, args, cwd)


def _in_process(module: str, args: list, cwd) -> subprocess.CompletedProcess:
    from runners._cli import run_cli

    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    runners_log, warn_log = logging.getLogger("runners"), logging.getLogger("py.warnings")
    saved = (list(runners_log.handlers), runners_log.level, list(warn_log.handlers), warn_log.propagate,
             warnings.formatwarning, warnings.showwarning)
    os.chdir(cwd)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            # as a fresh interpreter: no filter of the test process, and no warning already "shown once"
            warnings.resetwarnings()
            for mod in list(sys.modules.values()):
                registry = getattr(mod, "__warningregistry__", None)
                if isinstance(registry, dict):
                    registry.clear()
            try:
                code = run_cli(main, args)
            except SystemExit as exc:                       # argparse
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    err.write(exc.code + "\n")
            except Exception:                               # what python -m would print as a traceback
                code = 1
                err.write(traceback.format_exc())
    finally:
        os.chdir(here)
        for h in runners_log.handlers + warn_log.handlers:
            h.close()
        logging.captureWarnings(False)
        (runners_log.handlers, runners_log.level, warn_log.handlers, warn_log.propagate,
         warnings.formatwarning, warnings.showwarning) = saved
    return subprocess.CompletedProcess([sys.executable, "-m", module, *args], code, out.getvalue(), err.getvalue())


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
