"""What every runner shares: user-error handling, output folders, atomic writes."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ml.exceptions import BarDataError, ParameterError

__all__ = ["USER_ERRORS", "OneLineParser", "atomic_output", "atomic_write_json", "atomic_write_text", "default_out", "run_cli", "setup_logging"]

_UMASK = os.umask(0)
os.umask(_UMASK)

#: Exceptions that are the user's to fix: shown as one line, exit code 2.
USER_ERRORS = (BarDataError, ParameterError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def run_cli(main, argv=None) -> int:
    """Run ``main(argv)``; user errors print one line on stderr and return 2."""
    try:
        main(argv)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished results are kept.", file=sys.stderr)
        return 130
    finally:
        _close_handlers()
    return 0


def _close_handlers() -> None:
    for name in ("runners", "py.warnings"):
        for handler in logging.getLogger(name).handlers:
            handler.close()


def default_out(kind: str) -> Path:
    """``runs/<kind>-<local timestamp>`` under the current folder."""
    return Path("runs") / f"{kind}-{_dt.datetime.now():%Y%m%d-%H%M%S}"


def setup_logging(out: Path, quiet: bool) -> logging.Logger:
    """Log to ``out/run.log`` (always) and to stderr (unless ``quiet``)."""
    log = logging.getLogger("runners")
    _close_handlers()
    log.handlers.clear()
    log.setLevel(logging.INFO)
    fh = logging.FileHandler(out / "run.log", encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(fh)
    if not quiet:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(sh)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    warnings.formatwarning = _one_line_warning
    wlog = logging.getLogger("py.warnings")
    wlog.handlers = [fh] + ([] if quiet else [log.handlers[-1]])
    wlog.propagate = False
    return log


def _one_line_warning(message, category, filename, lineno, line=None):
    return f"warning ({category.__name__}): {message}"


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path in ``path``'s folder; on success it is renamed over
    ``path``, on failure removed: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: Path, obj) -> None:
    """Write JSON (NaN and inf as null) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(_clean(obj), indent=2, default=_default, allow_nan=False))
