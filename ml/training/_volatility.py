"""Causal GARCH volatility per walk-forward fold, for volatility-target sizing.

:func:`fold_garch_sigma` fits :class:`ml.models.GarchModel` on each fold's
training window of log returns and filters the fold's test window with the
fitted parameters (``predict_volatility(init="continue")``: the test returns
directly follow the training ones).  The value at bar ``t`` is
``sigma_{t+1|t}``, made with returns up to ``t`` and parameters fitted on the
fold's training window only: a decision at ``t`` sized with it fills at
``t + 1``, the bar it forecasts.  Changing the bars after ``T`` changes no
value at or before ``T`` (the tests check it).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["fold_garch_sigma"]


def fold_garch_sigma(bars: pd.DataFrame, folds, **garch_params) -> pd.Series:
    """Per-bar GARCH forecast of the next bar's return volatility on every fold's test window.

    Parameters
    ----------
    bars : DataFrame
        The bars the walk-forward ran on (``close`` is used).
    folds : list of FoldResult
        ``train_walkforward(...).folds``: their ``train_start`` / ``train_end``
        / ``test_start`` / ``test_end``.
    **garch_params
        Arguments of :class:`ml.models.GarchModel` (default: GARCH(1, 1),
        Student-t innovations, zero mean).

    Returns
    -------
    Series
        ``garch_sigma`` indexed like ``bars``: the one-step-ahead sigma of the
        log return, in return units, on tested bars; NaN elsewhere (and on a
        fold whose fit failed, which a warning names).
    """
    from ml.models._garch import GarchModel

    if "close" not in bars:
        raise ParameterError("`bars` needs a 'close' column for the GARCH returns.")
    r = np.log(bars["close"]).diff()
    out = pd.Series(np.nan, index=bars.index, name="garch_sigma")
    for f in folds:
        train = r.loc[f.train_start:f.train_end]
        test = r.loc[f.test_start:f.test_end]
        if len(train) < 100:
            raise ParameterError(f"fold {f.fold}: {len(train)} training returns are too few for a GARCH fit "
                                 "(>= 100); use more training sessions.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GarchModel(**garch_params).fit(train)
        if model.convergence_flag_ != 0:
            warnings.warn(f"GARCH did not converge on fold {f.fold} (flag {model.convergence_flag_}); its "
                          "forecasts are used as fitted", RuntimeWarning, stacklevel=2)
        out.loc[test.index] = model.predict_volatility(test, init="continue").to_numpy()
    return out
