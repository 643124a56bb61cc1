"""Registry stages: candidate, challenger, champion, retired; promotion and rollback with their history.

Every version of a name starts as a *candidate*. A name has at most one
*champion* (the model that trades) and one *challenger* (the one that runs
beside it in shadow or canary mode). Promoting a version to champion retires
the champion before it; :meth:`StagesMixin.rollback` retires the champion and
brings back the one before it. Each change is one line appended to
``<name>/stages.jsonl`` (time, version, stage, the stage it left, why, note),
under a file lock, so the stages are the replay of that history and nothing
is ever lost. ``NAME@champion`` and ``NAME@challenger`` load by stage.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import os
from contextlib import contextmanager
from pathlib import Path

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["STAGES", "StagesMixin"]

STAGES = ("candidate", "challenger", "champion", "retired")
_FILE = "stages.jsonl"
_SINGLE = ("champion", "challenger")        # at most one version of a name holds these


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        yield
    finally:
        os.close(fd)


class StagesMixin:
    """Stage methods of :class:`~ml.registry.ModelRegistry` (see the module docstring)."""

    # ------------------------------------------------------------------ read
    def stage_history(self, name: str) -> builtins.list:
        """Every stage change of ``name``, oldest first (dicts: time, version, stage, previous, reason, note)."""
        path = self.root / self._check_name(name) / _FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def stages(self, name: str) -> dict:
        """``{version: stage}`` for every version of ``name`` present (candidate unless changed)."""
        current = {v: "candidate" for v in self.versions(name)}
        for event in self.stage_history(name):
            if event["version"] in current:
                current[event["version"]] = event["stage"]
        return current

    def stage(self, name: str, version) -> str:
        """The stage of one version."""
        return self.stages(name)[self._resolve(self._check_name(name), version)]

    def version_at(self, name: str, stage: str):
        """The version of ``name`` at ``stage`` (champion or challenger), or None."""
        self._check_stage(stage, _SINGLE)
        found = [v for v, s in self.stages(name).items() if s == stage]
        return found[-1] if found else None

    # ------------------------------------------------------------------ write
    def set_stage(self, name: str, version, stage: str, *, reason: str = "set", note: str = "") -> builtins.list:
        """Move ``version`` of ``name`` to ``stage``; returns the events written.

        A new champion retires the previous one; a new challenger sends the previous one back to
        candidate. Promoting to champion should go through :meth:`promote` (which validates).
        """
        name = self._check_name(name)
        self._check_stage(stage, STAGES)
        version = self._resolve(name, version)
        with _locked(self.root / name / ".stages.lock"):
            current = self.stages(name)
            events = []
            if current[version] == stage:
                return events
            if stage in _SINGLE:
                for v, s in current.items():
                    if s == stage and v != version:
                        events.append(self._event(v, "retired" if stage == "champion" else "candidate", s,
                                                  f"replaced by v{version}", note))
            events.append(self._event(version, stage, current[version], reason, note))
            with (self.root / name / _FILE).open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
                fh.flush()
                os.fsync(fh.fileno())
        return events

    def promote(self, name: str, version, *, to: str = "champion", validate=None, note: str = "") -> builtins.list:
        """Promote ``version`` to ``to`` (champion by default) after validation.

        The version's files are verified against their hashes and it must load as a model bundle;
        ``validate(bundle)`` (optional) returns a list of problems. Any problem refuses the promotion
        (:class:`~ml.exceptions.ParameterError` naming them) and nothing changes.
        """
        name = self._check_name(name)
        self._check_stage(to, ("challenger", "champion"))
        version = self._resolve(name, version)
        bundle = self.load_bundle(f"{name}@{version}")            # verifies the hashes; a non-bundle refuses
        problems = list(validate(bundle)) if validate is not None else []
        if problems:
            raise ParameterError(f"{name}@{version} is not promoted to {to}: " + "; ".join(problems))
        return self.set_stage(name, version, to, reason="promote", note=note)

    def rollback(self, name: str, *, note: str = "") -> builtins.list:
        """Retire the champion of ``name`` and bring back the champion before it; returns the events."""
        name = self._check_name(name)
        with _locked(self.root / name / ".stages.lock"):
            current = self.stages(name)
            champion = next((v for v, s in current.items() if s == "champion"), None)
            if champion is None:
                raise ParameterError(f"{name!r} has no champion to roll back; promote one first "
                                     f"(python -m runners.registry promote {name}@VERSION).")
            earlier = [e["version"] for e in self.stage_history(name)
                       if e["stage"] == "champion" and e["version"] != champion and e["version"] in current]
            if not earlier:
                raise ParameterError(f"{name}@{champion} is the first champion of {name!r}: there is none to roll "
                                     "back to.")
            back = earlier[-1]
            events = [self._event(champion, "retired", "champion", f"rollback to v{back}", note),
                      self._event(back, "champion", current[back], f"rollback from v{champion}", note)]
            with (self.root / name / _FILE).open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
                fh.flush()
                os.fsync(fh.fileno())
        return events

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_stage(stage, allowed) -> None:
        if stage not in allowed:
            raise ParameterError(f"`stage` must be one of {', '.join(allowed)}, got {stage!r}."
                                 f"{did_you_mean(str(stage), list(allowed))}")

    @staticmethod
    def _event(version: int, stage: str, previous: str, reason: str, note: str) -> dict:
        return {"time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "version": int(version),
                "stage": stage, "previous": previous, "reason": reason, "note": note}
