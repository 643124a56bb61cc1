"""Real sample data shipped with the package (see samples/README.md)."""

from __future__ import annotations

from pathlib import Path

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["SAMPLES", "sample_path"]

_DIR = Path(__file__).resolve().parent / "samples"

#: Bundled samples: name -> file.  ``wdo``: B3 mini-dollar futures, 1-minute bars,
#: 48 sessions, three contracts (no trades / buy / sell volume in the source).
#: ``filusdt``: Binance USD-M FILUSDT perpetual, 1-minute bars, 7 UTC days, all 11 columns.
SAMPLES = {
    "wdo": "WDO_1m_2021-11-05_2022-01-14.csv.gz",
    "filusdt": "FILUSDT_1m_2024-02-01_2024-02-07.csv.gz",
}


def sample_path(name: str = "wdo") -> Path:
    """Path of a bundled real sample file (``"wdo"`` or ``"filusdt"``)."""
    key = str(name).lower()
    if key not in SAMPLES:
        raise ParameterError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}."
                             f"{did_you_mean(key, SAMPLES)}")
    return _DIR / SAMPLES[key]
