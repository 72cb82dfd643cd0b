"""`nextbest identity link` / `dedupe` on CSV files: output files, metrics, named errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nextbest.cli import app
from nextbest.sim.identity_records import identity_records


@pytest.fixture(scope="module")
def records() -> pa.Table:
    return identity_records(300, seed=5)


def _csv(table: pa.Table, path: Path) -> Path:
    pv.write_csv(table, path)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_dedupe_writes_a_cluster_per_record_and_scores(records: pa.Table, tmp_path: Path) -> None:
    source = _csv(records, tmp_path / "people.csv")
    out = tmp_path / "clusters.csv"
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "dedupe",
            str(source),
            "--id-column",
            "record_id",
            "-o",
            str(out),
            "--truth-column",
            "person_id",
        ],
    )
    assert result.exit_code == 0, result.stderr
    rows = _rows(out)
    assert list(rows[0]) == ["record_id", "cluster_id"]
    assert sorted(r["record_id"] for r in rows) == sorted(records["record_id"].to_pylist())
    assert "precision" in result.stderr and "F1" in result.stderr
    f1 = float(result.stderr.split("F1 ")[1].split()[0])
    assert f1 >= 0.9
    assert "train" in result.stderr and "predict" in result.stderr


def test_link_writes_pairs_at_the_threshold_to_stdout(records: pa.Table, tmp_path: Path) -> None:
    even = pc.equal(pc.bit_wise_and(pa.array(np.arange(len(records))), 1), 0)
    left = _csv(records.filter(even).drop_columns(["person_id"]), tmp_path / "a.csv")
    pq.write_table(
        records.filter(pc.invert(even)).drop_columns(["person_id"]), tmp_path / "b.parquet"
    )
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "link",
            str(left),
            str(tmp_path / "b.parquet"),
            "--id-column",
            "record_id",
            "--threshold",
            "0.95",
        ],
    )
    assert result.exit_code == 0, result.stderr
    lines = list(csv.DictReader(result.stdout.splitlines()))
    assert lines, "some pairs expected"
    assert list(lines[0]) == ["left_id", "right_id", "match_probability"]
    assert all(float(row["match_probability"]) >= 0.95 for row in lines)
    assert "precision" not in result.stderr  # no truth given


def test_febrl_truth_rule(tmp_path: Path) -> None:
    rows = [
        ("rec-1-org", "anna", "smith", "19800101", "2000"),
        ("rec-1-dup-0", "anna", "smyth", "19800101", "2000"),
        ("rec-2-org", "bob", "jones", "19700505", "3000"),
    ] + [
        (
            f"rec-{i}-org",
            f"n{i}",
            f"s{i % 13}",
            f"19{40 + i % 50}0{1 + i % 9}1{i % 9}",
            str(2000 + i % 17),
        )
        for i in range(3, 80)
    ]
    header = " rec_id, given_name, surname, date_of_birth, postcode\n"
    path = tmp_path / "febrl.csv"
    path.write_text(header + "".join(", ".join(r) + "\n" for r in rows))
    result = CliRunner().invoke(
        app, ["identity", "dedupe", str(path), "--id-column", "rec_id", "--truth-rule", "febrl"]
    )
    assert result.exit_code == 0, result.stderr
    assert "true pairs" in result.stderr
    clusters = {r["record_id"]: r["cluster_id"] for r in csv.DictReader(result.stdout.splitlines())}
    assert clusters["rec-1-org"] == clusters["rec-1-dup-0"] != clusters["rec-2-org"]


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (None, ["--id-column", "member_id"], "no id column 'member_id'"),
        ("duplicate", ["--id-column", "record_id"], "'record_id' is not unique"),
        (None, ["--id-column", "record_id", "--truth-column", "nope"], "no truth column 'nope'"),
        (None, ["--id-column", "record_id", "--truth-rule", "febrl"], "not a FEBRL rec_id"),
        (
            None,
            ["--id-column", "record_id", "--config", '{"fields": []}'],
            "--config: blocking: missing",
        ),
        (None, ["--id-column", "record_id", "--config", "missing.json"], "--config missing.json"),
    ],
)
def test_errors_name_the_file_and_reason(
    records: pa.Table, tmp_path: Path, edit: str | None, args: list[str], message: str
) -> None:
    table = records.drop_columns(["person_id"])
    if edit == "duplicate":
        table = pa.concat_tables([table, table.slice(0, 1)])
    source = _csv(table, tmp_path / "in.csv")
    result = CliRunner().invoke(app, ["identity", "dedupe", str(source), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    if "--truth" not in " ".join(args) and "--config" not in " ".join(args):
        assert str(source) in result.stderr


def test_a_config_file_is_used(records: pa.Table, tmp_path: Path) -> None:
    config = {
        "fields": [
            {"column": "email", "kind": "email", "levels": ["exact", "dl:1"]},
            {"column": "birthday", "kind": "date", "levels": ["exact", "days:31"]},
            {
                "column": "last_name",
                "kind": "last_name",
                "levels": ["exact", "jw:0.9"],
                "term_frequency": True,
            },
        ],
        "blocking": [["email"], ["birthday"]],
        "training": [["email"], ["birthday"]],
    }
    (tmp_path / "model.json").write_text(json.dumps(config))
    source = _csv(records.drop_columns(["person_id"]), tmp_path / "in.csv")
    result = CliRunner().invoke(
        app,
        [
            "identity",
            "dedupe",
            str(source),
            "--id-column",
            "record_id",
            "--config",
            str(tmp_path / "model.json"),
        ],
    )
    assert result.exit_code == 0, result.stderr
