"""Each runner test module gets its own trial ledger: runs never touch the user's home, and the
trial counts a module asserts are its own."""

import pytest

from ml.registry import LEDGER_ENV


@pytest.fixture(scope="module", autouse=True)
def own_ledger(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("ledger") / "trials.jsonl"
    mp.setenv(LEDGER_ENV, str(path))
    yield path
    mp.undo()
