"""Fixtures for the bar-loader tests: small CSV files cut from the real samples."""

from __future__ import annotations

import gzip
import itertools
import re

import pytest

from ml.data import sample_path

_N_ROWS = 8  # bars kept from each sample (file lines 2..9)


def _head(name: str, n: int = _N_ROWS) -> list[str]:
    with gzip.open(sample_path(name), "rt") as fh:
        return [line.rstrip("\n") for line in itertools.islice(fh, n + 1)]


@pytest.fixture(scope="session")
def _wdo_head() -> tuple[str, ...]:
    return tuple(_head("wdo"))


@pytest.fixture(scope="session")
def _fil_head() -> tuple[str, ...]:
    return tuple(_head("filusdt"))


@pytest.fixture
def wdo_lines(_wdo_head) -> list[str]:
    """Header + first bars of the WDO sample (line i of the file is ``wdo_lines[i - 1]``).

    Columns: timestamp,open,high,low,close,volume,vwap,symbol (symbol WDOZ21).
    """
    return list(_wdo_head)


@pytest.fixture
def fil_lines(_fil_head) -> list[str]:
    """Header + first bars of the FILUSDT sample, all 11 columns."""
    return list(_fil_head)


@pytest.fixture
def write_csv(tmp_path):
    """``write_csv(lines, name="WDOZ21.csv")`` writes text lines to a file and returns its path.

    A name ending in ``.gz`` is gzip-compressed.
    """

    def _write(lines, name: str = "WDOZ21.csv"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(line + "\n" for line in lines)
        if name.endswith(".gz"):
            with gzip.open(path, "wt") as fh:
                fh.write(text)
        else:
            path.write_text(text)
        return path

    return _write


def set_field(lines: list[str], line_no: int, column: str, value: str) -> list[str]:
    """Copy of ``lines`` with ``column`` of file line ``line_no`` (1-based) set to ``value``."""
    header = lines[0].split(",")
    out = list(lines)
    fields = out[line_no - 1].split(",")
    fields[header.index(column)] = value
    out[line_no - 1] = ",".join(fields)
    return out


def get_field(lines: list[str], line_no: int, column: str) -> str:
    return lines[line_no - 1].split(",")[lines[0].split(",").index(column)]


def assert_names(exc_info, cls, *, column=None, line=None, timestamp=None, kind="line"):
    """The raised error is ``cls`` and its message names column, line and timestamp."""
    err = exc_info.value
    assert type(err) is cls, f"expected {cls.__name__}, got {type(err).__name__}: {err}"
    msg = str(err)
    if column is not None:
        assert f"`{column}`" in msg, msg
        assert err.column == column
    if line is not None:
        assert re.search(rf"\b{kind} {line}\b", msg), msg
        assert err.row == line
    if timestamp is not None:
        assert str(timestamp) in msg, msg
    return msg
