"""What every runner shares: user-error handling, output folders, atomic writes."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import socket
import sys
import warnings
from pathlib import Path

import numpy as np

from ml._io import _UMASK, atomic_output, atomic_write_text
from ml.exceptions import BarDataError, OutputBusyError, ParameterError

__all__ = ["USER_ERRORS", "OneLineParser", "OutputLock", "atomic_output", "atomic_write_json", "atomic_write_text",
           "default_out", "prepare_out", "run_cli", "setup_logging"]

#: Exceptions that are the user's to fix: shown as one line, exit code 2.
USER_ERRORS = (BarDataError, ParameterError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage dump) and exits 2."""

    def error(self, message):
        self.exit(2, f"error: {message}{_choice_hint(message)} (see {self.prog} --help)\n")


def _choice_hint(message: str) -> str:
    """A did-you-mean for argparse's "invalid choice: 'x' (choose from ...)"."""
    import re

    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not m:
        return ""
    from ml._checks import did_you_mean

    return did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)) or
                        [c.strip() for c in m.group(2).split(",")], cutoff=0.5)


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


class OutputLock:
    """An exclusive lock on an output folder, held while a run writes there.

    The lock is an OS file lock (``flock``; ``msvcrt.locking`` on Windows) on
    ``<out>/.lock``, which also records the holder's PID, host, command and
    start time.  The OS releases it when the process ends, however it ends,
    so a lock left by a killed run is *stale*: the next run takes it over
    (:attr:`stale` tells whose it was, for the log).  A second run while the
    first is alive gets :class:`~ml.exceptions.OutputBusyError` naming it.
    """

    NAME = ".lock"

    def __init__(self, out):
        self.path = Path(out) / self.NAME
        self._fd = None
        self.stale = None

    def acquire(self) -> "OutputLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            _lock_fd(fd)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')} "
                   f"({holder.get('command', 'a run')}, started {holder.get('started', '?')})") if holder \
                else "another process"
            raise OutputBusyError(f"--out {self.path.parent}: in use by {who}; wait for it to finish, or "
                                  "choose another --out.") from None
        previous = _read_holder(fd)
        if previous:
            self.stale = previous
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
                "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (a clean finish leaves no holder) and release it."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)   # closing the descriptor releases the OS lock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _lock_fd(fd) -> None:
    """Take an exclusive, non-blocking OS lock on ``fd``; OSError when another process holds it."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, 1 << 20, os.SEEK_SET)  # lock a byte past the holder's record, which stays readable
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_holder(fd) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {"pid": "?", "command": "unreadable lock record"}


def _command() -> str:
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if prog == "__main__.py" or prog.endswith(".py"):
        mod = getattr(sys.modules.get("__main__"), "__spec__", None)
        prog = f"python -m {mod.name}" if mod is not None and mod.name else prog
    return prog


def prepare_out(out: Path, quiet: bool):
    """Make ``out``, lock it and start logging there: ``(lock, log)``.

    The lock is taken before the log is opened, so a second run into a busy
    folder never writes a line to the first run's ``run.log``.  A stale lock
    taken over is logged.  Call ``lock.release()`` when the run ends.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out}: exists and is not a folder")
    lock = OutputLock(out).acquire()
    try:
        log = setup_logging(out, quiet)
    except BaseException:
        lock.release()
        raise
    if lock.stale:
        s = lock.stale
        log.info("took over the stale lock of %s: process %s on %s (%s, started %s) is gone", out,
                 s.get("pid", "?"), s.get("host", "?"), s.get("command", "?"), s.get("started", "?"))
    return lock, log


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


def atomic_write_json(path: Path, obj) -> None:
    """Write JSON (NaN and inf as null) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(_clean(obj), indent=2, default=_default, allow_nan=False))
