"""Causal sliding windows over the rows of a feature matrix (for sequence models).

:func:`make_windows` turns an ``(n_samples, n_features)`` matrix into an
``(n_samples, window, n_features)`` stack where row ``t`` holds rows
``t - window + 1 .. t``: the input a sequence model needs to predict row ``t``
from the past only.  It is a strided *view* of one padded copy of ``X`` (no
``window``-fold copy), so a model materialises only the batch it works on.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ml._checks import check_int
from ml.exceptions import ParameterError

__all__ = ["make_windows"]


def make_windows(X, window: int) -> np.ndarray:
    """Causal windows: row ``t`` of the result holds rows ``t - window + 1 .. t`` of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows in time order.
    window : int
        Rows per window, >= 1; the last row of window ``t`` is row ``t``.

    Returns
    -------
    ndarray of shape (n_samples, window, n_features)
        A read-only strided view over one padded copy of ``X`` (same dtype);
        ``result[t, k] == X[max(t - window + 1 + k, 0)]``.  Copy a slice
        (``np.ascontiguousarray(result[rows])``) to get writable memory.

    Notes
    -----
    Padding: rows with fewer than ``window - 1`` predecessors are padded at
    the front by *repeating the first row* of ``X`` (edge padding), so every
    window is made of rows ``<= t`` of the ``X`` given and no mask is needed.
    Rows after ``t`` are never used.  The first ``window - 1`` windows of any
    ``X`` therefore see a flat history; to avoid that on a test block, prepend
    the ``window - 1`` rows before it and drop their outputs.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [3.0, 13.0]])
    >>> make_windows(X, 3)[:, :, 0]
    array([[0., 0., 0.],
           [0., 0., 1.],
           [0., 1., 2.],
           [1., 2., 3.]])
    """
    window = check_int("window", window, 1, type_error=ParameterError)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ParameterError(
            f"`X` must be 2-D of shape (n_samples, n_features), got {X.ndim}-D of shape {X.shape}.")
    n, n_features = X.shape
    if n == 0:
        out = np.empty((0, window, n_features), dtype=X.dtype)
        out.flags.writeable = False
        return out
    padded = np.concatenate([np.repeat(X[:1], window - 1, axis=0), X], axis=0)
    # sliding_window_view gives (n, n_features, window); swap to (n, window, n_features).
    return sliding_window_view(padded, window, axis=0).transpose(0, 2, 1)
