"""A LightGBM model with its encoding, optional isotonic calibration and explanations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sklearn.isotonic import IsotonicRegression

from nextbest.analytics.predict.matrix import Encoding

Floats = npt.NDArray[np.float64]
Objective = Literal["binary", "regression"]

PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "seed": 7,
}


@dataclass(frozen=True)
class Model:
    """A trained model: what it predicts, from which inputs, and how it was calibrated."""

    task: str
    objective: Objective
    encoding: Encoding
    booster_text: str
    # isotonic calibration as its step function (thresholds -> calibrated value)
    calibration_x: tuple[float, ...] = ()
    calibration_y: tuple[float, ...] = ()
    transform: Literal["none", "log1p"] = "none"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        digest = hashlib.sha256(self.booster_text.encode())
        digest.update(json.dumps([self.calibration_x, self.calibration_y]).encode())
        return f"{self.task}-{digest.hexdigest()[:12]}"

    def booster(self) -> lgb.Booster:
        return _booster(self.booster_text)

    def raw(self, table: pa.Table) -> Floats:
        x = self.encoding.matrix(table)
        out = np.asarray(self.booster().predict(x), dtype=np.float64)
        return np.expm1(out) if self.transform == "log1p" else out

    def predict(self, table: pa.Table) -> Floats:
        raw = self.raw(table)
        if self.calibration_x:
            return np.interp(raw, self.calibration_x, self.calibration_y)
        return raw

    def drivers(
        self, table: pa.Table, *, top: int = 3
    ) -> list[list[tuple[str, float | str | None, float]]]:
        """Per row, the features that moved the score most: (name, value, contribution).

        Contributions are LightGBM's SHAP values on the raw (log-odds or target) scale.
        """
        x = self.encoding.matrix(table)
        contrib = np.asarray(self.booster().predict(x, pred_contrib=True))[:, :-1]
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top]
        names = self.encoding.names
        return [
            [
                (names[j], self._shown(names[j], x[i, j]), round(float(contrib[i, j]), 4))
                for j in order[i]
            ]
            for i in range(len(x))
        ]

    def _shown(self, name: str, value: float) -> float | str | None:
        """A driver's input as a person reads it: categories by name, not by code."""
        if np.isnan(value):
            return None
        if name in self.encoding.vocab:
            return self.encoding.vocab[name][int(value)]
        return round(float(value), 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "objective": self.objective,
            "encoding": self.encoding.to_dict(),
            "booster": self.booster_text,
            "calibration_x": list(self.calibration_x),
            "calibration_y": list(self.calibration_y),
            "transform": self.transform,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        return cls(
            task=data["task"],
            objective=data["objective"],
            encoding=Encoding.from_dict(data["encoding"]),
            booster_text=data["booster"],
            calibration_x=tuple(data["calibration_x"]),
            calibration_y=tuple(data["calibration_y"]),
            transform=data["transform"],
            meta=data.get("meta", {}),
        )


_BOOSTERS: dict[str, lgb.Booster] = {}


def _booster(text: str) -> lgb.Booster:
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _BOOSTERS:
        if len(_BOOSTERS) > 64:
            _BOOSTERS.clear()
        _BOOSTERS[key] = lgb.Booster(model_str=text)
    return _BOOSTERS[key]


def train(
    *,
    task: str,
    objective: Objective,
    encoding: Encoding,
    train_x: pa.Table,
    train_y: Floats,
    valid_x: pa.Table,
    valid_y: Floats,
    calibrate: bool = True,
    transform: Literal["none", "log1p"] = "none",
    rounds: int = 600,
) -> Model:
    """Fit on ``train``, stop early on ``valid`` (a later snapshot), calibrate on ``valid``."""
    params = dict(PARAMS, objective=objective)
    params["metric"] = "binary_logloss" if objective == "binary" else "l2"
    fit_y = np.log1p(train_y) if transform == "log1p" else train_y
    val_y = np.log1p(valid_y) if transform == "log1p" else valid_y
    cats = encoding.categorical_index
    dtrain = lgb.Dataset(
        encoding.matrix(train_x),
        fit_y,
        feature_name=list(encoding.names),
        categorical_feature=cats,
        free_raw_data=True,
    )
    dvalid = lgb.Dataset(
        encoding.matrix(valid_x), val_y, reference=dtrain, categorical_feature=cats
    )
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    text = booster.model_to_string(num_iteration=booster.best_iteration)
    model = Model(
        task=task,
        objective=objective,
        encoding=encoding,
        booster_text=text,
        transform=transform,
        meta={"rounds": int(booster.best_iteration or rounds)},
    )
    if objective != "binary" or not calibrate:
        return model
    raw = model.raw(valid_x)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, valid_y)
    return Model(
        task=task,
        objective=objective,
        encoding=encoding,
        booster_text=text,
        calibration_x=tuple(float(v) for v in iso.X_thresholds_),
        calibration_y=tuple(float(v) for v in iso.y_thresholds_),
        transform=transform,
        meta=model.meta,
    )
