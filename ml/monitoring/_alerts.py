"""Alerts: one record per rule that fires, sent to JSON log lines, Python callbacks and a webhook.

:class:`Alerts` keeps which conditions are active: a rule fires once when its
condition starts and again only after it has cleared (duplicates are
suppressed while it persists). Each :class:`Alert` names its rule, value,
threshold and time.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Alert", "Alerts", "JsonLines", "Webhook", "run_alerts"]

_log = logging.getLogger("ml.monitoring")


@dataclass(frozen=True)
class Alert:
    """One alert."""

    rule: str            #: e.g. "feature_psi", "adversarial_auc", "pnl_below_band"
    subject: str         #: what it is about: a feature name, "prediction", "model", ...
    value: float
    threshold: float
    time: str            #: the bar time it was raised at (ISO 8601, the data's time zone)
    message: str
    level: str = "warning"

    def to_json(self) -> str:
        d = asdict(self)
        d["value"] = None if not np.isfinite(d["value"]) else float(d["value"])
        return json.dumps(d, sort_keys=True)


class JsonLines:
    """Append each alert as one JSON line to ``path``."""

    def __init__(self, path):
        self.path = Path(path)

    def __call__(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(alert.to_json() + "\n")


@dataclass
class Webhook:
    """POST each alert as JSON to ``url``, with ``retries`` more tries after a failure, ``timeout`` seconds each
    and ``backoff`` seconds (doubling) between them. A webhook that stays down is logged, never raised: the
    trading loop goes on."""

    url: str
    retries: int = 2
    timeout: float = 2.0
    backoff: float = 0.2
    delivered: int = field(default=0, init=False)
    failed: int = field(default=0, init=False)

    def __call__(self, alert: Alert) -> None:
        body = alert.to_json().encode()
        wait = self.backoff
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                err = exc
            else:
                err = f"HTTP {resp.status}"
            if attempt < self.retries:
                time.sleep(wait)
                wait *= 2
        self.failed += 1
        _log.warning("webhook %s: alert %s not delivered after %d tries (%s)", self.url, alert.rule,
                     self.retries + 1, err)


class Alerts:
    """Raise alerts once per condition and send them to ``sinks`` (callables taking an :class:`Alert`).

    ``check(rule, subject, value, threshold, time, above=True)`` raises when
    ``value`` is past ``threshold`` (above it, or below it with
    ``above=False``) and the condition was not already active; a condition that
    is no longer past its threshold clears, and may fire again later.
    """

    def __init__(self, sinks=()):
        self.sinks = list(sinks)
        self.active: set[tuple[str, str]] = set()
        self.raised: list[Alert] = []

    def check(self, rule: str, subject: str, value: float, threshold: float, time, *, above: bool = True,
              message: str = "") -> Alert | None:
        key = (rule, subject)
        hit = bool(np.isfinite(value) and (value > threshold if above else value < threshold))
        if not hit:
            self.active.discard(key)
            return None
        if key in self.active:
            return None        # the condition persists: already said
        self.active.add(key)
        alert = Alert(rule=rule, subject=subject, value=float(value), threshold=float(threshold),
                      time=str(time), message=message or f"{rule} of {subject} is {value:.4g} "
                                                         f"({'above' if above else 'below'} {threshold:.4g})")
        self.raised.append(alert)
        for sink in self.sinks:
            try:
                sink(alert)
            except Exception as exc:   # a broken sink must not stop trading; it is logged
                _log.warning("alert sink %r failed: %s", sink, exc)
        return alert


def run_alerts(path, log: logging.Logger | None = None, webhook: str | None = None) -> Alerts:
    """The alerts of a run: JSON lines in ``path`` (started afresh), a warning on ``log``, and ``webhook``."""
    path = Path(path)
    path.unlink(missing_ok=True)
    sinks = [JsonLines(path)]
    if log is not None:
        sinks.append(lambda a: log.warning("ALERT %s: %s", a.rule, a.message))
    if webhook:
        sinks.append(Webhook(webhook))
    return Alerts(sinks)
