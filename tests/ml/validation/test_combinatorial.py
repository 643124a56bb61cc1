"""CombinatorialPurgedCV: exact indices, paths and stitching of hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from ml.validation import CombinatorialPurgedCV, PurgedKFold


def splits(cv, X):
    return [(train.tolist(), test.tolist()) for train, test in cv.split(X)]


X12 = np.zeros((12, 1))


def test_same_indices_as_skfolio_examples():
    # skfolio's CombinatorialPurgedCV(n_folds=3, n_test_folds=2) docstring, 12 samples
    assert splits(CombinatorialPurgedCV(3, 2, t1=np.arange(12)), X12) == [
        ([8, 9, 10, 11], [0, 1, 2, 3, 4, 5, 6, 7]),
        ([4, 5, 6, 7], [0, 1, 2, 3, 8, 9, 10, 11]),
        ([0, 1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11]),
    ]
    # ... with embargo_size=1
    assert [tr for tr, _ in splits(CombinatorialPurgedCV(3, 2, t1=np.arange(12), embargo=1), X12)] == [
        [9, 10, 11], [5, 6, 7], [0, 1, 2, 3]]
    # ... with purged_size=1, i.e. labels that end one sample later
    t1 = np.minimum(np.arange(12) + 1, 11)
    assert [tr for tr, _ in splits(CombinatorialPurgedCV(3, 2, t1=t1), X12)] == [
        [9, 10, 11], [5, 6], [0, 1, 2]]


def test_four_groups_two_test_groups_with_embargo():
    cv = CombinatorialPurgedCV(n_groups=4, n_test_groups=2, t1=np.arange(12), embargo=1)
    assert splits(cv, X12) == [
        ([7, 8, 9, 10, 11], [0, 1, 2, 3, 4, 5]),
        ([4, 5, 10, 11], [0, 1, 2, 6, 7, 8]),
        ([4, 5, 6, 7, 8], [0, 1, 2, 9, 10, 11]),
        ([0, 1, 2, 10, 11], [3, 4, 5, 6, 7, 8]),
        ([0, 1, 2, 7, 8], [3, 4, 5, 9, 10, 11]),
        ([0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]),
    ]


def test_one_test_group_is_purged_kfold():
    t1 = np.minimum(np.arange(11) + 1, 10)
    X = np.zeros((11, 1))
    assert splits(CombinatorialPurgedCV(3, 1, t1=t1, embargo=1), X) == splits(PurgedKFold(3, t1=t1, embargo=1), X)
    assert CombinatorialPurgedCV(5, 1).n_paths == 1


def test_counts_and_paths_of_the_standard_6_2_case():
    cv = CombinatorialPurgedCV(6, 2)
    assert cv.get_n_splits() == 15 and cv.n_paths == 5
    paths = cv.paths()
    assert paths.shape == (5, 6) and paths.dtype == np.int64
    assert paths.tolist() == [
        [0, 0, 1, 2, 3, 4],
        [1, 5, 5, 6, 7, 8],
        [2, 6, 9, 9, 10, 11],
        [3, 7, 10, 12, 12, 13],
        [4, 8, 11, 13, 14, 14],
    ]


@pytest.mark.parametrize("n,k", [(2, 1), (4, 2), (5, 3), (6, 2), (7, 4), (8, 7)])
def test_paths_use_every_split_test_group_once(n, k):
    cv = CombinatorialPurgedCV(n, k)
    paths = cv.paths()
    combos = list(itertools.combinations(range(n), k))
    assert paths.shape == (math.comb(n - 1, k - 1), n)
    for p in range(paths.shape[0]):
        for g in range(n):
            assert g in combos[paths[p, g]]
    # every (split, test group) pair feeds exactly one path
    used = sorted((int(paths[p, g]), g) for p in range(paths.shape[0]) for g in range(n))
    assert used == sorted((s, g) for s, c in enumerate(combos) for g in c)


def test_stitch_paths_2d_predictions_and_series():
    cv = CombinatorialPurgedCV(4, 2, t1=np.arange(10))
    X = np.zeros((10, 1))
    preds = [pd.Series(np.c_[test, -test].sum(axis=1) + 100 * s) for s, (_, test) in enumerate(cv.split(X))]
    out = cv.stitch_paths(preds, 10)
    assert out.shape == (3, 10)
    # groups of 10 samples: 3, 3, 2, 2 -> path 0 uses splits 0, 0, 1, 2
    assert out[0].tolist() == [0, 0, 0, 0, 0, 0, 100, 100, 200, 200]
    proba = [np.c_[test, test + 0.5] for _, test in cv.split(X)]
    out = cv.stitch_paths(proba, 10)
    assert out.shape == (3, 10, 2)
    assert np.array_equal(out[:, :, 0], np.tile(np.arange(10.0), (3, 1)))


def test_get_n_splits_equals_yielded():
    cv = CombinatorialPurgedCV(5, 2, t1=np.arange(20))
    assert cv.get_n_splits() == len(list(cv.split(np.zeros(20)))) == 10
