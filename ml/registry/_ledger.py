"""The trial ledger behind the deflated Sharpe ratio: every configuration tried on the same data.

A user cannot escape the count by accident: trials are keyed by the *content* of the data
(:func:`data_fingerprint`: instrument, span and a hash of the prices), not by the folder a
run writes to or the bytes of the file, and the ledger lives in one user-level file
(:func:`default_ledger_path`) that every runner appends to.  Walk-forward configurations,
their Optuna trials and sweep combinations all count.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["LEDGER_ENV", "TrialLedger", "data_fingerprint", "default_ledger_path"]

#: Environment variable naming the ledger file (overrides the default location).
LEDGER_ENV = "DAYTRADE_ML_LEDGER"


def default_ledger_path() -> Path:
    """``$DAYTRADE_ML_LEDGER`` if set, else ``~/.daytrade-ml/trials.jsonl``."""
    env = os.environ.get(LEDGER_ENV)
    return Path(env).expanduser() if env else Path.home() / ".daytrade-ml" / "trials.jsonl"


def data_fingerprint(bars: pd.DataFrame) -> str:
    """16 hex digits identifying the data by content: symbol(s), first and last bar, bar count
    and the open / high / low / close prices.  The same bars loaded from a copy, another folder
    or another file format give the same fingerprint; any changed price gives another."""
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex) or len(bars) == 0:
        raise ParameterError("`bars` must be a non-empty DataFrame with a DatetimeIndex, as load_bars returns.")
    h = hashlib.sha256()
    symbols = sorted(map(str, pd.unique(bars["symbol"]))) if "symbol" in bars.columns else []
    h.update(json.dumps([symbols, str(bars.index[0].tz_convert("UTC")), str(bars.index[-1].tz_convert("UTC")),
                         len(bars)]).encode())
    h.update(np.ascontiguousarray(bars.index.as_unit("ns").asi8).tobytes())
    for col in ("open", "high", "low", "close"):
        h.update(np.ascontiguousarray(bars[col].to_numpy(np.float64)).tobytes())
    return h.hexdigest()[:16]


class TrialLedger:
    """An append-only JSON-lines file of trials.

    Each :meth:`record` is one ``O_APPEND`` write of one line, so that runs finishing at once
    never lose a line; a configuration recorded again counts once (its latest line).

    Parameters
    ----------
    path : str or Path, optional
        Default :func:`default_ledger_path`.
    """

    def __init__(self, path=None):
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()

    def record(self, fingerprint: str, key: str, *, kind: str, n: int = 1, sharpe_per_session=None,
               n_sessions=None, out=None, **extra) -> dict:
        """Append one entry: ``key`` (a configuration) tried on the data ``fingerprint``,
        counting ``n`` trials (a sweep: its combinations; a walk-forward: 1 plus its Optuna trials)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ParameterError(f"`n` must be an int >= 1, got {n!r}.")
        row = {"key": str(key), "fingerprint": str(fingerprint), "kind": str(kind), "n": int(n),
               "sharpe_per_session": None if sharpe_per_session is None else float(sharpe_per_session),
               "n_sessions": n_sessions, "out": None if out is None else str(out),
               "time": _dt.datetime.now().isoformat(timespec="seconds"), **extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (json.dumps(row, default=str) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        return row

    def trials(self, fingerprint: str) -> list[dict]:
        """The latest entry of every configuration tried on ``fingerprint``."""
        if not self.path.is_file():
            return []
        latest = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(r, dict) and "key" in r and r.get("fingerprint") == fingerprint:
                latest[r["key"]] = r
        return list(latest.values())

    def n_trials(self, fingerprint: str) -> int:
        """Trials counted on ``fingerprint``: the sum of ``n`` over its configurations."""
        return int(sum(int(r.get("n", 1)) for r in self.trials(fingerprint)))

    def summary(self, fingerprint: str) -> dict:
        """What :meth:`n_trials` counts, by kind, and where the ledger is."""
        by_kind: dict[str, int] = {}
        for r in self.trials(fingerprint):
            by_kind[r.get("kind", "?")] = by_kind.get(r.get("kind", "?"), 0) + int(r.get("n", 1))
        return {"n_trials": sum(by_kind.values()), "by_kind": by_kind, "ledger": str(self.path),
                "fingerprint": fingerprint}
