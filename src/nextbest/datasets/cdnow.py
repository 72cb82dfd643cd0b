"""CDNOW transactions (Fader & Hardie), from the ``Lifetimes`` 0.11.3 wheel.

The customers who made their first purchase at CDNOW in the first quarter of 1997, and all
their purchases until the end of June 1998:

- ``master``: 69,659 transactions of 23,570 customers (``CDNOW_master.txt``, a header line,
  whitespace-separated ``customer_id date(YYYYMMDD) number_of_cds dollar_value``);
- ``sample``: the 1/10th sample of 2,357 customers, 6,919 transactions, used in the BG/NBD
  and Gamma-Gamma papers (``CDNOW_sample.txt``, no header,
  ``customer_id sample_id date number_of_cds dollar_value``);
- ``load_cdnow_summary``: the published weekly calibration summary of the sample
  (``cdnow_customers_summary.csv``: ``ID,frequency,recency,T``, weeks 1-39 of 1997).

Several transactions of one customer can share a day (they are distinct rows here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from nextbest.datasets.wheels import wheel_members

WHEEL = ("Lifetimes", "0.11.3")
FOLDER = "lifetimes/datasets"
FILES = {
    "master": f"{FOLDER}/CDNOW_master.txt",
    "sample": f"{FOLDER}/CDNOW_sample.txt",
    "summary": f"{FOLDER}/cdnow_customers_summary.csv",
}
Which = Literal["master", "sample"]


@dataclass(frozen=True, eq=False)
class CdnowTransactions:
    """One row per transaction, as numpy arrays."""

    customer_id: npt.NDArray[np.int64]
    date: npt.NDArray[np.datetime64]
    cds: npt.NDArray[np.int64]
    dollars: npt.NDArray[np.float64]
    sample_id: npt.NDArray[np.int64] | None
    source: Path

    @property
    def n_transactions(self) -> int:
        return int(self.customer_id.size)


@dataclass(frozen=True, eq=False)
class CdnowSummary:
    """The published calibration summary of the sample, in weeks."""

    id: npt.NDArray[np.int64]
    frequency: npt.NDArray[np.int64]
    recency: npt.NDArray[np.float64]
    T: npt.NDArray[np.float64]


def cdnow_paths() -> dict[str, Path]:
    """The three CDNOW files, downloading the wheel on first use."""
    paths = wheel_members(*WHEEL, list(FILES.values()))
    return {key: paths[member] for key, member in FILES.items()}


def load_cdnow(which: Which = "sample") -> CdnowTransactions:
    """The CDNOW ``master`` or ``sample`` transactions."""
    if which not in ("master", "sample"):
        raise ValueError(f"unknown CDNOW file {which!r}; expected 'master' or 'sample'")
    path = cdnow_paths()[which]
    lines = path.read_text().splitlines()
    width = 4 if which == "master" else 5
    if which == "master":
        header = lines[0].split()
        if header != ["customer_id", "date", "number_of_cds", "dollar_value"]:
            raise ValueError(f"{path}: unexpected header {header}")
        lines = lines[1:]
    rows = [line.split() for line in lines if line.strip()]
    for number, row in enumerate(rows, start=2 if which == "master" else 1):
        if len(row) != width:
            raise ValueError(f"{path}:{number}: expected {width} fields, found {len(row)}")
    table = np.array(rows, dtype=object).T
    offset = 0 if which == "master" else 1
    return CdnowTransactions(
        customer_id=table[0].astype(np.int64),
        date=yyyymmdd_to_days(table[1 + offset].astype(np.int64)),
        cds=table[2 + offset].astype(np.int64),
        dollars=table[3 + offset].astype(np.float64),
        sample_id=None if which == "master" else table[1].astype(np.int64),
        source=path,
    )


def load_cdnow_summary() -> CdnowSummary:
    """The published ``(frequency, recency, T)`` of the 2,357 sample customers."""
    path = cdnow_paths()["summary"]
    with path.open() as handle:
        header = handle.readline().strip()
        if header != "ID,frequency,recency,T":
            raise ValueError(f"{path}: unexpected header {header!r}")
        data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    return CdnowSummary(
        id=data[:, 0].astype(np.int64),
        frequency=data[:, 1].astype(np.int64),
        recency=data[:, 2],
        T=data[:, 3],
    )


def yyyymmdd_to_days(values: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    """Integers like ``19970101`` as ``datetime64[D]``; raises on an impossible date.

    >>> yyyymmdd_to_days(np.array([19970101, 19980630])).tolist()
    [datetime.date(1997, 1, 1), datetime.date(1998, 6, 30)]
    """
    year, month, day = values // 10_000, values // 100 % 100, values % 100
    months = (year - 1970) * 12 + (month - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    dates = first + (day - 1).astype("timedelta64[D]")
    back = dates.astype("datetime64[M]").astype(np.int64)
    bad = (month < 1) | (month > 12) | (day < 1) | (back != months)
    if bad.any():
        raise ValueError(f"not a YYYYMMDD date: {int(values[np.flatnonzero(bad)[0]])}")
    return np.asarray(dates, dtype="datetime64[D]")
