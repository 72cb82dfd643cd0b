"""dedupe and link on generated records with known truth; scores explained per field."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from nextbest.identity.linking import LinkResult, dedupe, infer_config, link
from nextbest.identity.linking.metrics import cluster_scores, link_scores

PAIR_COLUMNS = ["left_id", "right_id", "match_probability", "match_weight"]


@pytest.fixture(scope="module")
def deduped(members: pa.Table) -> LinkResult:
    return dedupe(members.drop_columns(["person_id"]), "record_id", threshold=0.9)


def test_dedupe_finds_the_persons(deduped: LinkResult, truth: pa.Table) -> None:
    scores = cluster_scores(deduped.clusters, truth)
    assert scores.true_pairs > 100
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores
    assert scores.f1 >= 0.93, scores


def test_pairs_and_clusters_have_the_promised_shape(deduped: LinkResult, members: pa.Table) -> None:
    pairs = deduped.pairs
    weights = [f"weight_{c}" for c in members.column_names[2:]]
    assert pairs.column_names == PAIR_COLUMNS + weights
    assert [str(t) for t in pairs.schema.types] == ["string"] * 2 + ["double"] * (2 + 6)
    assert pc.min(pairs["match_probability"]).as_py() >= 0.5
    assert deduped.clusters is not None
    assert deduped.clusters.column_names == ["record_id", "cluster_id"]
    assert sorted(deduped.clusters["record_id"].to_pylist()) == sorted(
        members["record_id"].to_pylist()
    )
    assert set(deduped.timings) >= {"train", "predict", "cluster", "total"}


def test_field_weights_sum_to_the_match_weight_minus_the_prior(deduped: LinkResult) -> None:
    prior = deduped.model["probability_two_random_records_match"]
    prior_weight = math.log2(prior / (1 - prior))
    pairs = deduped.pairs
    weights = np.column_stack(
        [pairs[c].to_numpy() for c in pairs.column_names if c.startswith("weight_")]
    )
    np.testing.assert_allclose(
        weights.sum(axis=1) + prior_weight, pairs["match_weight"].to_numpy(), atol=1e-9
    )
    # and the weight gives the probability
    probability = 1 / (1 + np.exp2(-pairs["match_weight"].to_numpy()))
    np.testing.assert_allclose(probability, pairs["match_probability"].to_numpy(), rtol=1e-9)


def test_model_is_json_with_a_version(deduped: LinkResult) -> None:
    import json

    model = json.loads(json.dumps(deduped.model))
    assert len(model["version"]) == 12
    assert 0 < model["probability_two_random_records_match"] < 0.1
    levels = model["comparisons"]["email"]
    assert levels[0]["level"] == "exact"
    assert levels[0]["m"] > levels[0]["u"]


def test_missing_values_are_no_evidence() -> None:
    """Two records that share only missing values are never paired."""
    rows = 60
    table = pa.table(
        {
            "id": [str(i) for i in range(rows)],
            "first_name": [None] * 2 + [f"name{i}" for i in range(rows - 2)],
            "last_name": [None, ""] + [f"last{i % 7}" for i in range(rows - 2)],
            "birthday": [None] * 2 + [f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9}" for i in range(58)],
        }
    )
    result = dedupe(table, "id", min_probability=0.0)
    paired = set(result.pairs["left_id"].to_pylist()) | set(result.pairs["right_id"].to_pylist())
    assert not {"0", "1"} & paired
    assert result.clusters is not None
    assert len(result.clusters) == rows


def test_link_two_halves(members: pa.Table, truth: pa.Table) -> None:
    table = members.drop_columns(["person_id"])
    even = pc.equal(pc.bit_wise_and(pa.array(np.arange(len(table))), 1), 0)
    left, right = table.filter(even), table.filter(pc.invert(even))
    result = link(left, right, "record_id", threshold=0.9)
    assert result.clusters is None
    left_ids = set(left["record_id"].to_pylist())
    assert set(result.pairs["left_id"].to_pylist()) <= left_ids
    strong = result.pairs.filter(pc.greater_equal(result.pairs["match_probability"], 0.9))
    # each side's truth holds only its own records, so only left-right pairs count
    true_pairs = pa.table({"record_id": left["record_id"]}).join(truth, "record_id")
    right_truth = pa.table({"record_id": right["record_id"]}).join(truth, "record_id")
    scores = link_scores(strong, true_pairs, right_truth)
    assert scores.precision >= 0.95, scores
    assert scores.recall >= 0.9, scores


def test_typod_emails_still_link_when_name_postcode_and_birthday_agree(
    members: pa.Table,
) -> None:
    people = [
        (
            "Zelda",
            "Quixote",
            "1971-04-02",
            "30301",
            "zelda.quixote@gmail.com",
            "zelda.quixote@gmial.com",
        ),
        (
            "Ignatius",
            "Reilly",
            "1963-11-30",
            "70112",
            "ignatius77@yahoo.com",
            "ingatius77@yahoo.com",
        ),
        ("Oona", "Vasquez", "1990-06-15", "94110", "oona.v@outlook.com", "oona.v@outlok.com"),
    ]
    extra = []
    for i, (first, last, born, post, email, typo) in enumerate(people):
        for j, address in enumerate((email, typo)):
            extra.append(
                {
                    "record_id": f"X{i}{j}",
                    "person_id": f"X{i}",
                    "first_name": first,
                    "last_name": last,
                    "birthday": born,
                    "postcode": post,
                    "email": address,
                    "phone": None,
                }
            )
    table = pa.concat_tables([members, pa.Table.from_pylist(extra, schema=members.schema)])
    result = dedupe(table.drop_columns(["person_id"]), "record_id", threshold=0.95)
    assert result.clusters is not None
    clusters = result.clusters.to_pydict()
    cluster_of = dict(zip(clusters["record_id"], clusters["cluster_id"], strict=True))
    for i in range(len(people)):
        assert cluster_of[f"X{i}0"] == cluster_of[f"X{i}1"], people[i]


def test_bad_input_is_named(members: pa.Table) -> None:
    table = members.drop_columns(["person_id"])
    with pytest.raises(ValueError, match="no id column 'member_id'"):
        dedupe(table, "member_id")
    doubled = pa.concat_tables([table.slice(0, 5), table.slice(0, 5)])
    with pytest.raises(ValueError, match="'record_id' has 5 duplicate value"):
        dedupe(doubled, "record_id")
    with pytest.raises(ValueError, match="threshold must be in"):
        dedupe(table, "record_id", threshold=2.0)


def test_an_expert_config_is_used_as_given(members: pa.Table, truth: pa.Table) -> None:
    table = members.drop_columns(["person_id"])
    inferred = infer_config(table, "record_id")
    expert = inferred.with_overrides(
        {
            "fields": [{"column": "phone", "drop": True}],
            "blocking": [["email"], ["birthday"], ["last_name", "postcode"]],
        }
    )
    result = dedupe(table, "record_id", config=expert)
    assert result.config == expert
    assert "weight_phone" not in result.pairs.column_names
    assert cluster_scores(result.clusters, truth).f1 >= 0.85


def test_birthday_as_a_date_column_with_many_nulls(members: pa.Table, truth: pa.Table) -> None:
    table = members.drop_columns(["person_id"])
    born = pc.cast(pc.strptime(table["birthday"], format="%Y-%m-%d", unit="s"), pa.date32())
    table = table.set_column(table.column_names.index("birthday"), "birthday", born)
    result = dedupe(table, "record_id", min_probability=0.5, threshold=0.95)
    assert result.config.field("birthday").kind.value == "date"
    assert cluster_scores(result.clusters, truth).f1 >= 0.9


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_tiny_tables_give_singletons_not_errors(members: pa.Table, rows: int) -> None:
    table = members.drop_columns(["person_id"]).slice(0, rows)
    result = dedupe(table, "record_id")
    assert result.clusters is not None
    assert result.clusters.num_rows == rows
    assert result.pairs.num_rows == 0
    assert link(table, table.slice(0, 0), "record_id").pairs.num_rows == 0


def test_awkward_column_names(members: pa.Table, truth: pa.Table) -> None:
    """Spaces, capitals and names Splink uses itself are all fine as compared columns."""
    table = members.drop_columns(["person_id"]).rename_columns(
        ["ID", "First Name", "last_name", "Date of Birth", "unique_id", "E-Mail", "mw_phone"]
    )
    result = dedupe(table, "ID")
    assert "weight_First Name" in result.pairs.column_names
    assert result.config.field("unique_id").key == "c_unique_id"
    clusters = result.clusters.rename_columns(["record_id", "cluster_id"])
    assert cluster_scores(clusters, truth).f1 >= 0.9


def test_same_data_same_model_version(members: pa.Table, deduped: LinkResult) -> None:
    again = dedupe(members.drop_columns(["person_id"]), "record_id", threshold=0.9)
    assert again.model["version"] == deduped.model["version"]
    assert again.clusters is not None and deduped.clusters is not None
    assert again.clusters.equals(deduped.clusters)
    np.testing.assert_allclose(
        again.pairs["match_weight"].to_numpy(), deduped.pairs["match_weight"].to_numpy()
    )


def test_a_trained_model_scores_new_records_without_training(
    members: pa.Table, deduped: LinkResult
) -> None:
    records = members.drop_columns(["person_id"])
    half = records.slice(0, records.num_rows // 2)
    again = dedupe(half, "record_id", config=deduped.config, trained=deduped.model)
    assert again.model["comparisons"] == deduped.model["comparisons"]  # m and u as given

    def evidence(p: dict[str, object]) -> float:
        return sum(float(v) for k, v in p.items() if k.startswith("weight_"))  # type: ignore[arg-type]

    before = {(p["left_id"], p["right_id"]): p for p in deduped.pairs.to_pylist()}
    same = [p for p in again.pairs.to_pylist() if (p["left_id"], p["right_id"]) in before]
    assert len(same) > 20  # the half shares pairs with the whole
    agree = 0
    for p in same:
        old = before[(p["left_id"], p["right_id"])]
        # Only term frequencies (counted on the data at hand) move the field evidence.
        assert abs(evidence(p) - evidence(old)) < 6
        agree += (p["match_probability"] >= 0.9) == (old["match_probability"] >= 0.9)
    assert agree >= 0.95 * len(same)
    with pytest.raises(ValueError, match="needs the config"):
        dedupe(half, "record_id", trained=deduped.model)
