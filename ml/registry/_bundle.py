"""One registry artifact holding everything a trading decision needs: :class:`ModelBundle`.

A bundle is what a user validated, frozen: the fitted model and the features
it reads (with the feature groups and the calendar that build them), the
strategy that turns its probability into sides, the risk rules, the costs and
the contract, and the fingerprint and window of the data it was fitted on.
:meth:`ModelBundle.probability` and :meth:`ModelBundle.backtest` run it on new
bars in batch; the live paths run the same bundle bar by bar.

It is stored like any model by :class:`ml.registry.ModelRegistry` (its own
``save`` / ``load``): ``bundle.json`` beside the model's files.
:meth:`ModelRegistry.load_bundle` loads one by ``NAME``, ``NAME@VERSION`` or
``NAME@latest``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pandas as pd

from ml.exceptions import ParameterError
from ml.registry._json import to_jsonable

__all__ = ["BUNDLE_FILE", "ModelBundle"]

BUNDLE_FILE = "bundle.json"
_MODEL_DIR = "model"
_REFERENCE_DIR = "monitoring"
_BASE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass
class ModelBundle:
    """A fitted model with the features, strategy, risk rules, costs and contract it trades with.

    Parameters
    ----------
    model : fitted classifier
        ``predict_proba`` over the ``features`` columns, classes in ``classes`` order.
    features : list of str
        The columns of :func:`ml.features.build_features` the model reads, in its order.
    classes : list of str
        Label classes as the walk-forward writes them (``"-1"``, ``"0"``, ``"1"``).
    calendar : str
        Session calendar name (``ml.data.get_calendar``); it builds the session features.
    bar_minutes : float
    strategy : dict
        Parameters of :class:`strategies.ProbabilityThresholdStrategy`.
    sizing, stops, limits, costs : dict
        The fields of :class:`risk.Sizing`, :class:`risk.Stops`,
        :class:`risk.DailyLimits` and :class:`engines.simulate.Costs`.
    contract : dict
        The fields of :class:`risk.ContractSpec` (multiplier, tick size, margin, ...).
    instrument : str
        The instrument preset's name (``WDO``, ``ES``, ...).
    training : dict
        What the model was fitted on: data fingerprint, first and last bar,
        labelled rows, the walk-forward settings.
    reference : ml.monitoring.MonitorReference, optional
        What the model monitor compares live bars with: training feature rows
        and the walk-forward's out-of-sample probabilities, outcomes, session
        returns and trades (stored as Parquet files in ``monitoring/``).
    """

    model: object
    features: list
    classes: list
    calendar: str
    bar_minutes: float
    strategy: dict
    sizing: dict
    stops: dict
    limits: dict
    costs: dict
    contract: dict
    instrument: str
    training: dict = field(default_factory=dict)
    reference: object = None

    # ------------------------------------------------------------------ what it needs
    @property
    def feature_groups(self) -> list:
        """The feature groups that hold :attr:`features` (only they are built)."""
        from ml.features import feature_catalog

        cat = feature_catalog()
        missing = [f for f in self.features if f not in cat.index]
        if missing:
            raise ParameterError(f"the bundle reads features this version of the code does not define: {missing}; "
                                 "load it with the code version it was registered with (metadata "
                                 "'code_version').")
        return sorted(set(cat.loc[self.features, "group"]))

    @property
    def required_columns(self) -> list:
        """Bar columns a decision needs: OHLCV plus the optional inputs of :attr:`features`."""
        extra = {c for f in self.features for c in self._requires(f)}
        return [*_BASE_COLUMNS, *sorted(extra - set(_BASE_COLUMNS))]

    def check_bars(self, bars: pd.DataFrame) -> None:
        """Raise, naming the column and the fix, when ``bars`` lack a column a decision needs."""
        missing = [c for c in self.required_columns if c not in bars.columns]
        if missing:
            readers = [f for f in self.features if set(self._requires(f)) & set(missing)]
            raise ParameterError(f"the bars lack {missing}, which the bundle's features need"
                                 + (f" ({', '.join(readers)})" if readers else "")
                                 + "; feed bars with those columns, or register a model without them "
                                   "(--feature-groups).")

    def check_fit(self, bars: pd.DataFrame, calendar: str | None = None) -> None:
        """Raise (one line naming the mismatch and the fix) unless ``bars`` are the bundle's instrument,
        calendar (``calendar``: the user's override, else detected from the bars), bar length and columns."""
        import numpy as np

        from ml.data import bar_minutes_of, bars_calendar
        from risk.sizing import contract_for

        contract_for(bars, self.instrument)          # a symbol of another instrument raises, naming both
        cal = bars_calendar(bars, calendar).name
        if cal != self.calendar:
            raise ParameterError(f"the bars' calendar is {cal} but the bundle was fitted on {self.calendar}; "
                                 f"pass --calendar {self.calendar} if the bars are that market's.")
        bm = float(bar_minutes_of(bars))
        if not np.isclose(bm, self.bar_minutes):
            raise ParameterError(f"the bars are {bm:g}-minute bars but the bundle was fitted on "
                                 f"{self.bar_minutes:g}-minute bars; use bars of its length.")
        self.check_bars(bars)

    def validate(self, bars: pd.DataFrame | None = None, calendar: str | None = None) -> list:
        """Problems that make the bundle unfit to trade (empty when none): its features must exist in this
        code; on ``bars``, it must fit them (:meth:`check_fit`) and give a probability in [0, 1] on most
        bars (NaN only while its features warm up)."""
        import numpy as np

        problems = []
        if not self.features:
            problems.append("the bundle reads no feature")
        try:
            self.feature_groups
        except ParameterError as exc:
            problems.append(str(exc))
        if bars is None or problems:
            return problems
        try:
            self.check_fit(bars, calendar)
            p = self.probability(bars).to_numpy()
        except ParameterError as exc:
            return problems + [str(exc)]
        finite = np.isfinite(p)
        if (finite & ((p < 0) | (p > 1))).any():
            problems.append("the model gives probabilities outside [0, 1]")
        if finite.mean() < 0.5:
            problems.append(f"the model gives a probability on only {finite.mean():.0%} of the bars")
        return problems

    @staticmethod
    def _requires(feature: str) -> list:
        from ml.features import feature_catalog

        req = feature_catalog().loc[feature, "requires"]
        return [c.strip() for c in str(req).split(",") if c.strip()]

    # ------------------------------------------------------------------ decisions in batch
    def features_of(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The model's features on ``bars`` (its feature groups, built with its calendar; causal)."""
        import warnings

        from ml.features import build_features

        self.check_bars(bars)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # skipped optional features: check_bars ruled out ours
            X = build_features(bars, groups=self.feature_groups, calendar=self.calendar,
                               bar_minutes=self.bar_minutes)
        return X[self.features]

    def probability(self, bars: pd.DataFrame, features: pd.DataFrame | None = None) -> pd.Series:
        """The traded probability of an up move at each bar, from the bars up to it (causal).

        The bundle's features (:meth:`features_of`, or ``features`` when already built) go to the
        model, and :func:`ml.training.traded_probability` turns the class probabilities into the one
        the strategy trades.
        """
        from ml.training import traded_probability

        X = self.features_of(bars) if features is None else features
        p = self.model.predict_proba(X)
        return pd.Series(traded_probability(p, self.classes), index=bars.index, name="probability")

    def strategy_object(self):
        from strategies import ProbabilityThresholdStrategy

        return ProbabilityThresholdStrategy(**self.strategy)

    def configs(self) -> dict:
        """``contract``, ``costs``, ``sizing``, ``stops``, ``limits`` as the engines take them."""
        from engines.simulate import Costs
        from risk import ContractSpec, DailyLimits, Sizing, Stops

        return {"contract": ContractSpec(**self.contract), "costs": Costs(**self.costs),
                "sizing": Sizing(**self.sizing), "stops": Stops(**self.stops), "limits": DailyLimits(**self.limits)}

    def backtest(self, bars: pd.DataFrame, *, engine: str = "numba", initial_equity: float = 100_000.0,
                 proba: pd.Series | None = None):
        """Trade the bundle on ``bars`` with its own strategy, rules, costs and contract.

        ``engine``: ``"numba"`` (the simulator) or ``"backtrader"``.  ``proba``:
        the traded probability when already computed (default
        :meth:`probability`).  Returns the engine's ``SimResult``.
        """
        from ml.data import get_calendar

        p = self.probability(bars) if proba is None else proba
        sides = self.strategy_object().sides(p, bars, calendar=get_calendar(self.calendar),
                                             bar_minutes=self.bar_minutes)
        kw = dict(**self.configs(), initial_equity=initial_equity, calendar=self.calendar,
                  bar_minutes=self.bar_minutes, proba=p)
        if engine == "numba":
            from engines.simulate import simulate

            return simulate(bars, sides, **kw)
        if engine == "backtrader":
            from engines.bt import run_backtrader

            return run_backtrader(bars, sides, **kw)
        raise ParameterError(f"`engine` must be 'numba' or 'backtrader', got {engine!r}.")

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict:
        """Everything but the model, as JSON values."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "reference")}
        return to_jsonable(out, strict=True, _where="bundle")

    def save(self, path) -> Path:
        """Write ``bundle.json`` and the model's files into ``path``'s folder; returns the json's path."""
        folder = Path(path).parent
        mdir = folder / _MODEL_DIR
        mdir.mkdir(parents=True, exist_ok=True)
        cls = type(self.model)
        if callable(getattr(self.model, "save", None)) and callable(getattr(cls, "load", None)):
            out = self.model.save(mdir / "model.joblib")
            written = Path(out) if isinstance(out, (str, os.PathLike)) else mdir / "model.joblib"
            storage = "save"
        else:
            written = mdir / "model.joblib"
            joblib.dump(self.model, written)
            storage = "joblib"
        meta = {**self.to_dict(), "model_class": f"{cls.__module__}:{cls.__qualname__}", "model_storage": storage,
                "model_file": Path(os.path.relpath(written, folder)).as_posix()}
        if self.reference is not None:
            rdir = folder / _REFERENCE_DIR
            rdir.mkdir(exist_ok=True)
            for key, frame in self.reference.to_frames().items():
                frame.to_parquet(rdir / f"{key}.parquet")
            meta["reference_horizon"] = int(self.reference.horizon)
        target = folder / BUNDLE_FILE
        target.write_text(json.dumps(meta, indent=1, sort_keys=True))
        return target

    @classmethod
    def load(cls, path) -> "ModelBundle":
        """The bundle saved at ``path`` (``bundle.json`` or its folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / BUNDLE_FILE
        meta = json.loads(path.read_text())
        model_path = path.parent / meta.pop("model_file")
        storage = meta.pop("model_storage")
        module, _, name = meta.pop("model_class").partition(":")
        if storage == "save":
            model_cls = importlib.import_module(module)
            for part in name.split("."):
                model_cls = getattr(model_cls, part)
            model = model_cls.load(model_path)
        else:
            model = joblib.load(model_path)
        reference = None
        if "reference_horizon" in meta:
            from ml.monitoring import MonitorReference

            rdir = path.parent / _REFERENCE_DIR
            reference = MonitorReference.from_frames(
                {k: pd.read_parquet(rdir / f"{k}.parquet") for k in ("features", "oos", "sessions", "trades")},
                horizon=meta["reference_horizon"])
        known = {f.name for f in dataclasses.fields(cls)} - {"reference"}
        return cls(model=model, reference=reference, **{k: v for k, v in meta.items() if k in known})

    def describe(self) -> str:
        """One line: model, features, instrument, calendar, strategy thresholds and the training window."""
        s = self.strategy
        t = self.training
        return (f"{type(self.model).__name__} on {len(self.features)} features, {self.instrument} "
                f"({self.calendar}, {self.bar_minutes:g}-minute bars), long >= {s.get('long_threshold')}, short <= "
                f"{s.get('short_threshold')}; fitted on {t.get('train_start')} to {t.get('train_end')} "
                f"(data {t.get('fingerprint')})")


