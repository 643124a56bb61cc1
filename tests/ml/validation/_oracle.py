"""Brute-force reference for purged training sets: O(n^2), obviously right, for tiny inputs."""

from __future__ import annotations

import numpy as np


def blocks(test: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs ``[a, b)`` of the sorted test positions."""
    runs = []
    for i in test:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([int(i), int(i) + 1])
    return [tuple(r) for r in runs]


def forbidden(start, end, test, *, embargo_bars=0, embargo_time=None) -> np.ndarray:
    """Mask of samples that may not train: tested, overlapping a test label, or embargoed.

    Overlap: closed intervals ``[start_i, end_i]`` and ``[start_j, end_j]``
    intersect for some test sample ``j``.  Embargo: after each contiguous
    test block whose labels end at ``T1``, the ``embargo_bars`` samples that
    follow the last sample starting at or before ``T1`` (or, with
    ``embargo_time``, those starting in ``(T1, T1 + embargo_time]``).
    """
    start, end, test = np.asarray(start), np.asarray(end), np.asarray(test, dtype=np.int64)
    n = len(start)
    bad = np.zeros(n, dtype=bool)
    bad[test] = True
    # every (sample i, test sample j) pair: closed intervals intersect
    bad |= ((start[:, None] <= end[test][None, :]) & (end[:, None] >= start[test][None, :])).any(axis=1)
    for a, b in blocks(np.asarray(test)):
        t1 = max(end[a:b])
        after = [i for i in range(b, n) if start[i] > t1]
        if embargo_time is not None:
            emb = [i for i in after if start[i] <= t1 + embargo_time]
        else:
            emb = after[:embargo_bars]
        bad[emb] = True
    return bad


def expected_train(start, end, test, window=None, **embargo) -> np.ndarray:
    """Positions that should train: in ``window`` (default all) and not forbidden."""
    n = len(start)
    ok = ~forbidden(start, end, test, **embargo)
    if window is not None:
        inside = np.zeros(n, dtype=bool)
        inside[window[0]:window[1]] = True
        ok &= inside
    return np.flatnonzero(ok)
