"""TOML configuration files equal in power to the flags; flags override the file.

Every flag of a runner is also a setting of its ``--config`` file, spelled
with underscores (``--train-sessions 10`` is ``train_sessions = 10``).
Tables group settings for readability only (``[costs]`` ``slippage_ticks =
1`` is ``slippage_ticks = 1``), except the settings that are themselves
tables (``model_params``, ``targets``), which hold free keys.  A value in the
file goes through the same checks as the flag, and a bad one names the file
and the setting.  Precedence: defaults < file < flags given on the command line.

:func:`write_toml` writes the resolved settings of a run back as a file that
``--config`` reproduces.
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from pathlib import Path

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["KeyValue", "comma_list", "flags_given", "parse_args_with_config", "to_toml", "write_toml"]


def comma_list(text: str) -> list[str]:
    """argparse type: ``"a,b"`` -> ``["a", "b"]`` (a TOML list is accepted too)."""
    return [t.strip() for t in str(text).split(",") if t.strip()]


class KeyValue(argparse.Action):
    """``--flag key=value`` repeated: a dict whose values are numbers, booleans or text."""

    def __init__(self, option_strings, dest, **kw):
        kw.setdefault("default", {})
        kw.setdefault("metavar", "KEY=VALUE")
        super().__init__(option_strings, dest, nargs=None, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        if "=" not in values:
            parser.error(f"argument {option_string}: expected KEY=VALUE, got {values!r}")
        key, text = values.split("=", 1)
        current = dict(getattr(namespace, self.dest, None) or {})
        current[key.strip()] = _scalar(text.strip())
        setattr(namespace, self.dest, current)


def _scalar(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _dests(parser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions
            if a.dest not in ("help", "config") and a.option_strings}


def flags_given(parser, argv) -> set[str]:
    """Destinations the command line set explicitly."""
    saved = [(a, a.default) for a in parser._actions]
    try:
        for a in parser._actions:
            a.default = argparse.SUPPRESS
        ns = parser.parse_args(argv)
    finally:
        for a, d in saved:
            a.default = d
    return set(vars(ns))


def _flatten(table: dict, dests: dict, path: str, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if isinstance(value, dict) and not isinstance(dests.get(name), KeyValue):
            out.update(_flatten(value, dests, path, prefix=f"{prefix}{key}."))
            continue
        if name not in dests:
            raise ParameterError(f"{path}: unknown setting {prefix + key!r}.{did_you_mean(name, list(dests))}")
        if name in out:
            raise ParameterError(f"{path}: setting {name!r} is given twice.")
        out[name] = value
    return out


def _convert(path, name, action: argparse.Action, value):
    where = f"{path}: setting {name!r}"
    if isinstance(action, KeyValue):
        if not isinstance(value, dict):
            raise ParameterError(f"{where} must be a table of KEY = VALUE, got {value!r}.")
        return dict(value)
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse.BooleanOptionalAction)):
        if not isinstance(value, bool):
            raise ParameterError(f"{where} must be true or false, got {value!r}.")
        return not value if isinstance(action, argparse._StoreFalseAction) else value
    if action.type is comma_list and isinstance(value, list):
        value = ",".join(map(str, value))
    many = action.nargs in ("+", "*")
    items = value if (many and isinstance(value, list)) else [value]
    if isinstance(value, list) and not many:
        raise ParameterError(f"{where} takes one value, got the list {value!r}.")
    out = []
    for v in items:
        if isinstance(v, (dict, list)):
            raise ParameterError(f"{where} must be a plain value, got {v!r}.")
        if isinstance(v, bool) and action.type is not None:
            raise ParameterError(f"{where} must be a {getattr(action.type, '__name__', 'value')}, got {v!r}.")
        text = v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)
        try:
            conv = action.type(text) if action.type is not None else text
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise ParameterError(f"{where}: {exc}") from None
        if action.choices is not None and conv not in action.choices:
            raise ParameterError(f"{where} must be one of {', '.join(map(str, action.choices))}, got {v!r}."
                                 f"{did_you_mean(str(v), [str(c) for c in action.choices])}")
        out.append(conv)
    return out if many else out[0]


def parse_args_with_config(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv``; settings of ``--config FILE`` fill the flags not given.

    Raises
    ------
    ParameterError
        The file is missing, is not TOML, or holds an unknown setting or a bad
        value (the message names the file and the setting).
    """
    args = parser.parse_args(argv)
    path = getattr(args, "config", None)
    if not path:
        return args
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"--config {path}: no such file.")
    try:
        table = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"--config {path}: not a valid TOML file ({exc}).") from None
    dests = _dests(parser)
    given = flags_given(parser, argv)
    for name, value in _flatten(table, dests, str(path)).items():
        action = dests[name]
        conv = _convert(path, name, action, value)
        if isinstance(action, KeyValue):
            setattr(args, name, {**conv, **(getattr(args, name) if name in given else {})})
        elif name not in given:
            setattr(args, name, conv)
    return args


_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _toml_key(k) -> str:
    k = str(k)
    return k if k and set(k) <= _BARE_KEY else _toml_string(k)


def _toml_string(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)       # a JSON string is a valid TOML basic string


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    return _toml_string(str(v))


def _toml_table(name: str, table: dict, lines: list) -> None:
    plain = {k: v for k, v in table.items() if v is not None and not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines.append(f"\n[{name}]")
    lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items())
    for k, v in nested.items():
        _toml_table(f"{name}.{_toml_key(k)}", v, lines)


def to_toml(settings: dict, header: str = "") -> str:
    """TOML text of settings (None values left out, TOML has no null; dict values as tables).

    ``tomllib.loads(to_toml(d))`` equals ``d`` without its None values.
    """
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    tables = {}
    for k, v in settings.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables[k] = v
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, table in tables.items():
        _toml_table(_toml_key(k), table, lines)
    return "\n".join(lines) + "\n"


def write_toml(path, settings: dict, header: str = "") -> Path:
    """Write :func:`to_toml` of ``settings`` atomically to ``path``."""
    from runners._cli import atomic_write_text

    return atomic_write_text(path, to_toml(settings, header))
