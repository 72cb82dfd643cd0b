"""Feature tables to model matrices, with a fixed vocabulary for categorical columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from nextbest.analytics.features.spec import FEATURES

# Fairness groups (age band, region) are reported on, never learned from.
CATEGORICAL_INPUTS = ("top_category", "top_daypart", "top_channel")


@dataclass(frozen=True, slots=True)
class Encoding:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocab: dict[str, tuple[str, ...]]

    @property
    def names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def categorical_index(self) -> list[int]:
        return list(range(len(self.numeric), len(self.names)))

    def matrix(self, table: pa.Table) -> npt.NDArray[np.float64]:
        columns = [_floats(table, name) for name in self.numeric]
        for name in self.categorical:
            codes = {value: float(i) for i, value in enumerate(self.vocab[name])}
            raw = table[name].to_pylist() if name in table.column_names else [None] * len(table)
            columns.append(
                np.array(
                    [np.nan if v is None else codes.get(v, np.nan) for v in raw], dtype=np.float64
                )
            )
        return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "vocab": {k: list(v) for k, v in self.vocab.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoding:
        return cls(
            numeric=tuple(data["numeric"]),
            categorical=tuple(data["categorical"]),
            vocab={k: tuple(v) for k, v in data["vocab"].items()},
        )


def fit_encoding(table: pa.Table) -> Encoding:
    shares = tuple(c for c in table.column_names if c.startswith("share_"))
    numeric = tuple(c for c in FEATURES if c in table.column_names) + shares
    vocab = {
        name: tuple(sorted({v for v in table[name].to_pylist() if v is not None}))
        for name in CATEGORICAL_INPUTS
        if name in table.column_names
    }
    return Encoding(numeric=numeric, categorical=tuple(vocab), vocab=vocab)


def _floats(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table[name].to_numpy(zero_copy_only=False)
    return np.asarray(column, dtype=np.float64)


def column(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    return _floats(table, name)
