"""Versioned model artifacts on a file system: ``root/<name>/v<version>/``.

Layout of one version::

    root/<name>/v3/
        model.joblib      # the model (its own ``save`` or joblib), maybe more files
        metadata.json     # caller's metadata + params, class, versions, time, hashes

A version is built in a hidden temporary folder ``root/<name>/.tmp-*`` and
made visible by one ``os.rename`` to ``v<version>``; renaming a folder onto an
existing (non-empty) one fails, so two writers can never get the same number
and a reader never sees half a version.  Deleted versions leave a tombstone
``v<version>.deleted`` so that their number is never given to another model.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import errno
import hashlib
import importlib
import json
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path

import joblib
import pandas as pd

from ml._checks import did_you_mean
from ml.exceptions import CorruptModelError, ParameterError
from ml.registry._env import code_version, library_versions
from ml.registry._json import to_jsonable
from ml.registry._stages import StagesMixin

__all__ = ["CorruptModelError", "ModelRegistry", "REGISTRY_ENV", "default_registry_path", "parse_ref"]

#: Environment variable naming the model registry folder (overrides the default location).
REGISTRY_ENV = "DAYTRADE_ML_REGISTRY"


def default_registry_path() -> Path:
    """``$DAYTRADE_ML_REGISTRY`` if set, else ``~/.daytrade-ml/models``."""
    env = os.environ.get(REGISTRY_ENV)
    return Path(env).expanduser() if env else Path.home() / ".daytrade-ml" / "models"

METADATA_FILE = "metadata.json"
MODEL_FILE = "model.joblib"
FORMAT_VERSION = 1

#: keys the registry writes itself; caller metadata may not use them.
RESERVED_KEYS = (
    "name", "version", "created", "model_class", "params", "library_versions",
    "code_version", "storage", "model_file", "model_files", "model_hash", "format_version",
)
#: metadata entries (dicts of numbers) whose values :meth:`ModelRegistry.list` shows.
METRIC_KEYS = ("metrics", "cv_metrics")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_VERSION_DIR_RE = re.compile(r"v([1-9][0-9]*)")
_TOMBSTONE_RE = re.compile(r"v([1-9][0-9]*)\.deleted")
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_MAX_NAME_LEN = 128
_MAX_RENAME_TRIES = 10_000


class ModelRegistry(StagesMixin):
    """Versioned store of fitted models and their metadata under ``root``.

    Parameters
    ----------
    root : str or path-like
        Folder of the registry; created on the first :meth:`register`.

    Notes
    -----
    Each :meth:`register` gives the next version number of its name (1, 2,
    ...), safe across threads and processes sharing ``root`` (even on a network
    file system with atomic ``rename``).  Numbers are never reused, not even
    after :meth:`delete`.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> reg = ModelRegistry(tempfile.mkdtemp())
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> reg.register(model, {"data_hash": "abc", "cv_metrics": {"auc": 0.61}}, name="lr")
    1
    >>> reg.register(model, name="lr")
    2
    >>> reg.latest_version("lr")
    2
    >>> reg.metadata("lr", 1)["cv_metrics"]
    {'auc': 0.61}
    >>> reg.load("lr").predict([[1.0]]).tolist()
    [1]
    """

    def __init__(self, root):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r})"

    # ------------------------------------------------------------------ write
    def register(self, model, metadata: dict | None = None, *, name: str | None = None) -> int:
        """Store ``model`` with ``metadata`` as the next version of ``name``.

        Parameters
        ----------
        model : object
            A fitted model.  Saved with its own ``save(path)`` when its class
            has both ``save`` and ``load`` (the :mod:`ml.models` adapters),
            else with :func:`joblib.dump`.
        metadata : dict, optional
            What the caller knows: data hash, feature list, label spec, CV
            metrics (under ``"metrics"`` or ``"cv_metrics"`` to be shown by
            :meth:`list`), ...  Converted to JSON (numpy, pandas, timestamps
            included); may not use the keys in ``RESERVED_KEYS``.
        name : str, optional
            Registry name; default: the model's ``name`` attribute (adapters)
            or its class name.  Letters, digits, ``_``, ``-`` and ``.``; no
            path separators, no ``..``, not starting with ``.``.

        Returns
        -------
        int
            The version number given to this model.
        """
        name = self._check_name(self._default_name(model) if name is None else name)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise TypeError(f"`metadata` must be a dict or None, got {type(metadata).__name__}.")
        clash = sorted(k for k in metadata if k in RESERVED_KEYS)
        if clash:
            raise ParameterError(
                f"`metadata` may not use the keys {clash}: the registry writes them itself "
                f"(reserved: {', '.join(RESERVED_KEYS)}); rename them, e.g. 'tuned_params'.")
        user = to_jsonable(metadata, strict=True, _where="metadata")
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")

        name_dir = self.root / name
        tmp = self._make_tmp(name_dir)
        try:
            storage, model_file = self._save_model(model, tmp)
            files = _hash_files(tmp)
            if not files:
                raise RuntimeError(f"{type(model).__name__}.save wrote no file in {str(tmp)!r}.")
            cls = type(model)
            meta = {
                "name": name,
                "version": None,
                "created": created,
                "model_class": f"{cls.__module__}:{cls.__qualname__}",
                "params": _params(model),
                "storage": storage,
                "model_file": model_file,
                "model_files": files,
                "model_hash": _combined_hash(files),
                "library_versions": library_versions(),
                "code_version": code_version(),
                "format_version": FORMAT_VERSION,
            }
            meta.update(user)
            version = self._publish(tmp, name_dir, meta)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            try:  # a first registration that failed leaves no empty name folder
                name_dir.rmdir()
            except OSError:
                pass
            raise
        return version

    def delete(self, name: str, version) -> None:
        """Remove one version.  Its number stays taken (a tombstone file
        ``v<version>.deleted`` remains), so it is never given to another model."""
        name = self._check_name(name)
        version = self._resolve(name, version)
        vdir = self.root / name / f"v{version}"
        (self.root / name / f"v{version}.deleted").touch()
        trash = self.root / name / f"{_TRASH_PREFIX}v{version}-{uuid.uuid4().hex}"
        os.rename(vdir, trash)  # atomic: the version vanishes at once
        shutil.rmtree(trash, ignore_errors=True)

    def cleanup(self, older_than: float = 3600.0) -> int:
        """Remove temporary and trash folders left by crashed processes.

        Parameters
        ----------
        older_than : float, default 3600
            Only folders last modified more than this many seconds ago; keeps
            registrations in progress in other processes safe.  ``0`` removes
            all of them (only when no other process is writing).

        Returns
        -------
        int
            Number of folders removed.
        """
        if not isinstance(older_than, (int, float)) or isinstance(older_than, bool) \
                or older_than < 0:
            raise ParameterError(f"`older_than` must be a number of seconds >= 0, "
                                 f"got {older_than!r}.")
        if not self.root.is_dir():
            return 0
        now = time.time()
        removed = 0
        for name_dir in self.root.iterdir():
            if not name_dir.is_dir() or name_dir.name.startswith("."):
                continue
            for entry in name_dir.iterdir():
                if not entry.name.startswith((_TMP_PREFIX, _TRASH_PREFIX)):
                    continue
                try:
                    age = now - entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age >= older_than:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            try:  # a name folder with nothing left in it
                name_dir.rmdir()
            except OSError:
                pass
        return removed

    # ------------------------------------------------------------------- read
    def load(self, name: str, version="latest", *, verify: bool = True):
        """The model stored as ``version`` of ``name``.

        Parameters
        ----------
        name : str
        version : int or "latest", default "latest"
        verify : bool, default True
            Check the SHA-256 of every stored model file against the metadata
            first; a mismatch raises :class:`CorruptModelError`.
        """
        name = self._check_name(name)
        version = self._resolve(name, version)
        vdir = self.root / name / f"v{version}"
        meta = self._read_metadata(vdir)
        if verify:
            self._verify(vdir, meta)
        path = vdir / meta["model_file"]
        if meta.get("storage") == "save":
            cls = _import_class(meta["model_class"])
            return cls.load(path)
        return joblib.load(path)

    def load_bundle(self, ref: str, *, verify: bool = True):
        """The :class:`~ml.registry.ModelBundle` named by ``ref``: ``NAME``, ``NAME@VERSION`` or ``NAME@latest``."""
        from ml.registry._bundle import ModelBundle

        name, version = parse_ref(ref)
        obj = self.load(name, version, verify=verify)
        if not isinstance(obj, ModelBundle):
            raise ParameterError(f"{ref!r} in registry {str(self.root)!r} is a {type(obj).__name__}, not a model "
                                 "bundle; register one with python -m runners.walkforward --register NAME.")
        return obj

    def verify(self, name: str, version="latest") -> None:
        """Raise :class:`CorruptModelError` when a stored file of the version
        is missing or changed since it was registered."""
        name = self._check_name(name)
        version = self._resolve(name, version)
        vdir = self.root / name / f"v{version}"
        self._verify(vdir, self._read_metadata(vdir))

    def metadata(self, name: str, version="latest") -> dict:
        """Everything stored about ``version`` of ``name`` (a fresh dict)."""
        name = self._check_name(name)
        version = self._resolve(name, version)
        return self._read_metadata(self.root / name / f"v{version}")

    def latest_version(self, name: str) -> int:
        """Highest version number of ``name`` present."""
        name = self._check_name(name)
        return self._resolve(name, "latest")

    def versions(self, name: str) -> builtins.list:
        """Version numbers of ``name`` present, ascending."""
        name = self._check_name(name)
        found = self._versions(name)
        if not found:
            raise self._unknown_name(name)
        return found

    def names(self) -> builtins.list:
        """Names with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir()
                      if d.is_dir() and _NAME_RE.fullmatch(d.name) and self._versions(d.name))

    def list(self, name: str | None = None) -> pd.DataFrame:
        """One row per version: ``name``, ``version``, ``created`` (UTC),
        ``model_class``, ``stage``, then one column per number found in the metadata's
        ``"metrics"`` and ``"cv_metrics"`` dicts.

        Parameters
        ----------
        name : str, optional
            Only this name; default all.
        """
        if name is None:
            names = self.names()
        else:
            names = [self._check_name(name)]
            if not self._versions(names[0]):
                raise self._unknown_name(names[0])
        rows = []
        for n in names:
            stages = self.stages(n) if self._versions(n) else {}
            for v in self._versions(n):
                try:
                    meta = self._read_metadata(self.root / n / f"v{v}")
                except (CorruptModelError, FileNotFoundError) as exc:
                    warnings.warn(f"skipping {n} v{v}: {exc}", stacklevel=2)
                    continue
                row = {"name": n, "version": v, "created": meta.get("created"),
                       "model_class": meta.get("model_class"), "stage": stages.get(v, "candidate")}
                for key in METRIC_KEYS:
                    block = meta.get(key)
                    if isinstance(block, dict):
                        for m, val in block.items():
                            if isinstance(val, (int, float)) and not isinstance(val, bool):
                                row.setdefault(m, val)
                rows.append(row)
        cols = ["name", "version", "created", "model_class", "stage"]
        df = pd.DataFrame(rows, columns=cols + [c for r in rows for c in r if c not in cols])
        df = df.loc[:, ~df.columns.duplicated()]
        df["created"] = pd.to_datetime(df["created"], utc=True, format="ISO8601")
        df["version"] = df["version"].astype("int64")
        return df.reset_index(drop=True)

    # -------------------------------------------------------------- internals
    @staticmethod
    def _default_name(model) -> str:
        n = getattr(model, "name", None)
        return n if isinstance(n, str) and n else type(model).__name__

    @staticmethod
    def _check_name(name) -> str:
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, got {type(name).__name__}.")
        if (not _NAME_RE.fullmatch(name) or ".." in name or len(name) > _MAX_NAME_LEN
                or name.endswith(".")):
            raise ParameterError(
                f"`name` must be 1-{_MAX_NAME_LEN} letters, digits, '_', '-' or '.', start with "
                f"a letter or digit, hold no '..' and no path separator, got {name!r}; "
                "e.g. 'rf_es_1min'.")
        return name

    def _versions(self, name: str) -> builtins.list:
        d = self.root / name
        try:
            entries = os.listdir(d)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(m.group(1)) for e in entries
                      if (m := _VERSION_DIR_RE.fullmatch(e)) and (d / e).is_dir())

    def _taken(self, name_dir: Path) -> int:
        """Highest number ever used under ``name_dir`` (versions and tombstones)."""
        try:
            entries = os.listdir(name_dir)
        except FileNotFoundError:
            return 0
        nums = [int(m.group(1)) for e in entries
                if (m := _VERSION_DIR_RE.fullmatch(e) or _TOMBSTONE_RE.fullmatch(e))]
        return max(nums, default=0)

    def _unknown_name(self, name: str) -> ParameterError:
        known = self.names()
        listing = ", ".join(known) if known else "none yet"
        return ParameterError(f"no model named {name!r} in registry {str(self.root)!r}; "
                              f"names: {listing}.{did_you_mean(name, known)}")

    def _resolve(self, name: str, version) -> int:
        found = self._versions(name)
        if not found:
            raise self._unknown_name(name)
        if isinstance(version, str):
            s = version.strip().lower()
            if s == "latest":
                return found[-1]
            if s in ("champion", "challenger"):
                at = self.version_at(name, s)
                if at is None:
                    raise ParameterError(f"{name!r} has no {s}; stages: {self.stages(name)} (promote one with "
                                         f"python -m runners.registry promote {name}@VERSION).")
                return at
            if re.fullmatch(r"v?[0-9]+", s):
                version = int(s.lstrip("v"))
            else:
                raise ParameterError(f"`version` must be an int >= 1, 'latest', 'champion' or 'challenger', got "
                                     f"{version!r}; versions of {name!r}: {found}.")
        elif isinstance(version, bool) or not isinstance(version, int) \
                and not hasattr(version, "__index__"):
            raise TypeError(f"`version` must be an int or 'latest', got "
                            f"{type(version).__name__}.")
        version = int(version.__index__()) if not isinstance(version, int) else version
        if version not in found:
            near = min(found, key=lambda v: (abs(v - version), -v))
            raise ParameterError(f"{name!r} has no version {version}; versions: {found} "
                                 f"(latest {found[-1]}). Did you mean {near}?")
        return version

    @staticmethod
    def _make_tmp(name_dir: Path) -> Path:
        tag = f"{_TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        tag = re.sub(r"[^A-Za-z0-9_.\-]", "_", tag)
        tmp = name_dir / tag
        for _ in range(100):  # another process may remove an empty name folder meanwhile
            try:
                tmp.mkdir(parents=True)
                return tmp
            except FileNotFoundError:
                continue
        tmp.mkdir(parents=True)
        return tmp

    @staticmethod
    def _save_model(model, tmp: Path) -> tuple[str, str]:
        """Write ``model`` into ``tmp``; returns (storage, file name)."""
        path = tmp / MODEL_FILE
        cls = type(model)
        if callable(getattr(model, "save", None)) and callable(getattr(cls, "load", None)):
            out = model.save(path)
            written = Path(out) if isinstance(out, (str, os.PathLike)) else path
            if not written.is_absolute():
                written = Path.cwd() / written
            try:
                rel = written.resolve().relative_to(tmp.resolve())
            except ValueError:
                raise RuntimeError(f"{cls.__name__}.save({str(path)!r}) wrote to "
                                   f"{str(written)!r}, outside the version folder.") from None
            if not written.exists():
                raise RuntimeError(f"{cls.__name__}.save({str(path)!r}) wrote nothing there.")
            return "save", rel.as_posix()
        joblib.dump(model, path)
        return "joblib", MODEL_FILE

    def _publish(self, tmp: Path, name_dir: Path, meta: dict) -> int:
        """Rename ``tmp`` to the next free ``v<k>``; retry with a higher k on collision."""
        version = self._taken(name_dir) + 1
        for _ in range(_MAX_RENAME_TRIES):
            meta["version"] = version
            _write_json(tmp / METADATA_FILE, meta)
            _fsync_tree(tmp)
            target = name_dir / f"v{version}"
            try:
                os.rename(tmp, target)
            except OSError as exc:
                collision = (isinstance(exc, FileExistsError)
                             or exc.errno in (errno.EEXIST, errno.ENOTEMPTY)
                             or target.exists())
                if not collision:
                    raise
                version = max(version + 1, self._taken(name_dir) + 1)
                continue
            _fsync_dir(name_dir)
            return version
        raise RuntimeError(f"could not find a free version number for {name_dir.name!r} after "
                           f"{_MAX_RENAME_TRIES} tries.")

    @staticmethod
    def _read_metadata(vdir: Path) -> dict:
        path = vdir / METADATA_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CorruptModelError(f"{str(path)!r} is missing; the version folder was changed "
                                    "by hand.", path=path) from None
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptModelError(f"{str(path)!r} is not valid JSON ({exc}); the file is "
                                    "corrupt.", path=path) from None
        if not isinstance(meta, dict) or "model_files" not in meta or "model_file" not in meta:
            raise CorruptModelError(f"{str(path)!r} lacks the registry's entries "
                                    "(model_file, model_files); the file is corrupt.", path=path)
        return meta

    @staticmethod
    def _verify(vdir: Path, meta: dict) -> None:
        expected = meta["model_files"]
        actual = _hash_files(vdir)
        for rel, digest in expected.items():
            path = vdir / rel
            if rel not in actual:
                raise CorruptModelError(f"{str(path)!r} is missing; {meta.get('name')!r} "
                                        f"v{meta.get('version')} cannot be loaded.", path=path)
            if actual[rel] != digest:
                raise CorruptModelError(
                    f"{str(path)!r} is corrupt: its SHA-256 is {actual[rel][:12]}..., "
                    f"registered as {digest[:12]}...; {meta.get('name')!r} v{meta.get('version')} "
                    "was changed after it was registered. Register the model again.", path=path)
        if meta.get("model_hash") not in (None, _combined_hash(expected)):
            raise CorruptModelError(f"{str(vdir / METADATA_FILE)!r}: `model_hash` does not "
                                    "match `model_files`; the metadata was edited.",
                                    path=vdir / METADATA_FILE)


# ------------------------------------------------------------------ helpers
def parse_ref(ref: str) -> tuple[str, object]:
    """``"NAME[@VERSION]"`` -> ``(name, version)``; the version ``"latest"`` when not given."""
    if not isinstance(ref, str) or not ref.strip():
        raise ParameterError(f"a model reference is NAME or NAME@VERSION (e.g. wdo-logistic@3), got {ref!r}.")
    name, sep, version = ref.strip().partition("@")
    return name, (version if sep and version else "latest")


def _params(model):
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return None
    try:
        params = get_params(deep=False)
    except TypeError:
        params = get_params()
    return to_jsonable(params, strict=False, _where="params")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hash_files(folder: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``folder`` but the metadata."""
    out = {}
    for dirpath, _, filenames in os.walk(folder):
        for fn in filenames:
            p = Path(dirpath) / fn
            rel = p.relative_to(folder).as_posix()
            if rel != METADATA_FILE:
                out[rel] = _sha256(p)
    return dict(sorted(out.items()))


def _combined_hash(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel, digest in sorted(files.items()):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, allow_nan=False)
        f.write("\n")


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for fn in filenames:
            try:
                fd = os.open(Path(dirpath) / fn, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _import_class(path: str):
    module, _, qualname = path.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"cannot import the model class {path!r} recorded in the metadata "
                          f"({exc}); install the code that defined it.") from exc
    return obj
