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
