"""The docstring examples are the splitters' specification: run them."""

from __future__ import annotations

import doctest

import pytest

from ml.validation import _combinatorial, _purged_kfold, _walk_forward


@pytest.mark.parametrize("module", [_purged_kfold, _combinatorial, _walk_forward], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
