"""The loader: dedupe with a fixed tie rule, idempotent MERGE, replace-by-parent, all or nothing."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

from tests.warehouse.helpers import FILE_A, FILE_B, all_rows, make_batch, table_rows
from warehouse import LoadCounts, LoadError, LoadInputError, load_run


def patients(definitions, rows):
    return make_batch(definitions["patients"], rows)


def one_of_each(definitions):
    """A small batch touching every core table."""
    d = datetime.date
    return {
        "patients": patients(
            definitions,
            [
                {"patient_id": "p1", "birth_year": 1980, "sex": "female", "zip3": "021"},
                {"patient_id": "p2", "birth_year": None, "age_group": "90+", "deceased": True},
            ],
        ),
        "visits": make_batch(
            definitions["visits"],
            [{"visit_id": "v1", "patient_id": "p1", "start_date": d(2024, 1, 2), "class": "AMB"}],
        ),
        "conditions": make_batch(
            definitions["conditions"], [{"condition_id": "c1", "patient_id": "p1", "code": "G90.A"}]
        ),
        "meds": make_batch(
            definitions["meds"],
            [{"med_id": "m1", "patient_id": "p1", "dose_value": 1.5, "as_needed": False}],
        ),
        "observations": make_batch(
            definitions["observations"],
            [
                {"observation_id": "o1", "value_index": 0, "code": "85354-9", "_source_line": 1},
                {"observation_id": "o1", "value_index": 1, "value_num": 120.0, "_source_line": 1},
                {"observation_id": "o1", "value_index": 2, "value_num": 80.0, "_source_line": 1},
            ],
        ),
        "questionnaire_responses": make_batch(
            definitions["questionnaire_responses"], [{"response_id": "r1", "patient_id": "p1"}]
        ),
        "questionnaire_items": make_batch(
            definitions["questionnaire_items"],
            [
                {
                    "response_id": "r1",
                    "link_id": link_id,
                    "answer_index": index,
                    "answer_code": code,
                }
                | {"_source_line": 1}  # the children of one resource share its line
                for link_id, index, code in [("q1", 0, "1"), ("q6", 0, "1"), ("q6", 1, "2")]
            ],
        ),
        "adverse_events": make_batch(
            definitions["adverse_events"],
            [{"event_id": "e1", "patient_id": "p1", "suspect_med_id": "m1", "severity": "mild"}],
        ),
        "notes": make_batch(
            definitions["notes"],
            [
                {
                    "note_id": "n1",
                    "content_index": 0,
                    "patient_id": "p1",
                    "content_type": "text/plain",
                }
            ],
        ),
    }


def test_first_load_inserts_everything_with_lineage(writer, definitions):
    counts = load_run(writer, "run-1", one_of_each(definitions), full_refresh=False)
    assert counts["observations"] == LoadCounts(inserted=3)
    assert counts["patients"] == LoadCounts(inserted=2)
    lineage = writer.execute(
        "SELECT DISTINCT _run_id, _source_file_hash, _loaded_at IS NOT NULL FROM core.visits"
    ).fetchall()
    assert lineage == [("run-1", FILE_A, True)]


def test_loading_the_same_batch_twice_changes_nothing(writer, definitions):
    batch = one_of_each(definitions)
    load_run(writer, "run-1", batch, full_refresh=False)
    before = all_rows(writer)
    counts = load_run(writer, "run-2", batch, full_refresh=False)
    assert all_rows(writer) == before  # lineage included: run-1 and its load time stay
    for name, table_counts in counts.items():
        assert table_counts == LoadCounts(unchanged=batch[name].num_rows), name


def test_changed_rows_are_updated_and_only_they_get_new_lineage(writer, definitions):
    load_run(
        writer,
        "run-1",
        {"patients": patients(definitions, [{"patient_id": "p1"}, {"patient_id": "p2"}])},
        full_refresh=False,
    )
    second = patients(
        definitions,
        [
            {"patient_id": "p1", "sex": "female", "_source_file_hash": FILE_B},  # NULL -> value
            {"patient_id": "p2"},
            {"patient_id": "p3"},
        ],
    )
    counts = load_run(writer, "run-2", {"patients": second}, full_refresh=False)
    assert counts["patients"] == LoadCounts(inserted=1, updated=1, unchanged=1)
    got = writer.execute(
        "SELECT patient_id, sex, _run_id, _source_file_hash FROM core.patients ORDER BY 1"
    ).fetchall()
    assert got == [
        ("p1", "female", "run-2", FILE_B),
        ("p2", None, "run-1", FILE_A),
        ("p3", None, "run-2", FILE_A),
    ]
    # value -> NULL is a change as well (IS DISTINCT FROM, not <>)
    third = patients(definitions, [{"patient_id": "p1", "sex": None}])
    assert load_run(writer, "run-3", {"patients": third}, False)["patients"].updated == 1


def test_duplicate_keys_keep_the_last_in_file_line_position_order(writer, definitions):
    rows = [
        {
            "patient_id": "p1",
            "sex": "file B line 1",
            "_source_file_hash": FILE_B,
            "_source_line": 1,
        },
        {
            "patient_id": "p1",
            "sex": "file A line 9",
            "_source_file_hash": FILE_A,
            "_source_line": 9,
        },
        {"patient_id": "p2", "sex": "line 5", "_source_line": 5},
        {"patient_id": "p2", "sex": "line 2", "_source_line": 2},
        {"patient_id": "p3", "sex": "same line, first", "_source_line": 7},
        {"patient_id": "p3", "sex": "same line, last", "_source_line": 7},
    ]
    expected = [("p1", "file B line 1"), ("p2", "line 5"), ("p3", "same line, last")]
    counts = load_run(writer, "run-1", {"patients": patients(definitions, rows)}, False)
    assert counts["patients"] == LoadCounts(inserted=3, duplicates_dropped=3)
    assert writer.execute("SELECT patient_id, sex FROM core.patients ORDER BY 1").fetchall() == (
        expected
    )

    # Concatenating the files in another order does not change the winners (only rows of one
    # source line fall back to their batch order, which is kept here).
    reordered = [rows[1], rows[0], rows[3], rows[2], rows[4], rows[5]]
    load_run(writer, "run-2", {"patients": patients(definitions, reordered)}, True)
    assert writer.execute("SELECT patient_id, sex FROM core.patients ORDER BY 1").fetchall() == (
        expected
    )


@pytest.mark.parametrize(
    ("name", "parent"),
    [("observations", "observation_id"), ("questionnaire_items", "response_id")],
)
def test_redelivered_parent_replaces_its_children(writer, definitions, name, parent):
    table = definitions[name]

    def row(parent_id, index, value):
        line = {"x1": 1, "x2": 2}[parent_id]  # one resource per parent, one line each
        if name == "observations":
            child = {"value_index": index, "value_num": value}
        else:
            child = {"link_id": f"q{index}", "answer_index": 0, "answer_value": value}
        return {parent: parent_id, "_source_line": line, **child}

    first = [row("x1", 0, 1.0), row("x1", 1, 2.0), row("x1", 2, 3.0), row("x2", 0, 9.0)]
    load_run(writer, "run-1", {name: make_batch(table, first)}, False)
    # x1 comes back with one answer fewer and one changed; x2 is not in the batch.
    counts = load_run(
        writer, "run-2", {name: make_batch(table, [row("x1", 0, 1.0), row("x1", 1, 5.0)])}, False
    )
    assert counts[name] == LoadCounts(updated=1, unchanged=1, deleted=1)
    value = "value_num" if name == "observations" else "answer_value"
    got = writer.execute(
        f"SELECT {parent}, {value}, _run_id FROM core.{name} ORDER BY ALL"
    ).fetchall()
    assert got == [("x1", 1.0, "run-1"), ("x1", 5.0, "run-2"), ("x2", 9.0, "run-1")]


@pytest.mark.parametrize("items_given", [True, False])
def test_response_redelivered_without_answers_loses_its_items(writer, definitions, items_given):
    batch = one_of_each(definitions)
    load_run(writer, "run-1", batch, False)
    redelivered = {
        "questionnaire_responses": make_batch(
            definitions["questionnaire_responses"],
            [{"response_id": "r1", "patient_id": "p1", "status": "amended"}],
        )
    }
    if items_given:
        redelivered["questionnaire_items"] = make_batch(definitions["questionnaire_items"], [])
    counts = load_run(writer, "run-2", redelivered, False)
    assert counts["questionnaire_items"] == LoadCounts(deleted=3)
    assert counts["questionnaire_responses"] == LoadCounts(updated=1)
    assert table_rows(writer, "questionnaire_items") == []


def test_parent_delivered_twice_in_one_batch_keeps_only_its_newest_delivery(writer, definitions):
    def value(index, num, file_hash, line):
        return {
            "observation_id": "o1",
            "value_index": index,
            "value_num": num,
            "_source_file_hash": file_hash,
            "_source_line": line,
        }

    rows = [value(0, 1.0, FILE_B, 3), value(1, 2.0, FILE_B, 3)]  # newest delivery: 2 values
    rows += [value(0, 7.0, FILE_A, 1), value(1, 8.0, FILE_A, 1), value(2, 9.0, FILE_A, 1)]
    counts = load_run(
        writer, "run-1", {"observations": make_batch(definitions["observations"], rows)}, False
    )
    assert counts["observations"] == LoadCounts(inserted=2, duplicates_dropped=3)
    got = writer.execute(
        "SELECT value_index, value_num, _source_file_hash FROM core.observations ORDER BY 1"
    ).fetchall()
    assert got == [(0, 1.0, FILE_B), (1, 2.0, FILE_B)]


def test_full_refresh_empties_every_table_first(writer, definitions):
    load_run(writer, "run-1", one_of_each(definitions), False)
    counts = load_run(
        writer, "run-2", {"patients": patients(definitions, [{"patient_id": "p9"}])}, True
    )
    assert counts["patients"] == LoadCounts(inserted=1, deleted=2)
    assert counts["observations"] == LoadCounts(deleted=3)
    assert [row[0] for row in table_rows(writer, "patients")] == ["p9"]
    for name in definitions:
        if name != "patients":
            assert table_rows(writer, name) == [], name


@pytest.mark.parametrize("full_refresh", [False, True])
def test_failure_mid_transaction_leaves_every_table_as_before(writer, definitions, full_refresh):
    load_run(writer, "run-1", one_of_each(definitions), False)
    before = all_rows(writer)
    batch = one_of_each(definitions)
    batch["patients"] = patients(definitions, [{"patient_id": "p1", "sex": "changed"}])
    # Tables load in definition order: patients is merged inside the transaction before
    # questionnaire_items fails. BIGINT into an INTEGER column passes the up-front check; this
    # value overflows in the CAST.
    order = list(definitions)
    assert order.index("patients") < order.index("questionnaire_items")
    batch["questionnaire_items"] = batch["questionnaire_items"].set_column(
        batch["questionnaire_items"].column_names.index("answer_index"),
        "answer_index",
        pa.array([0, 1, 2**40], pa.int64()),
    )
    with pytest.raises(LoadError) as failed:
        load_run(writer, "run-2", batch, full_refresh)
    assert (failed.value.table, failed.value.error_class) == (
        "core.questionnaire_items",
        "ConversionException",
    )
    assert "core.questionnaire_items failed" in str(failed.value)
    assert "rolled back" in str(failed.value)
    assert str(2**40) not in str(failed.value)  # DuckDB's text quotes the value: withheld
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert all_rows(writer) == before
    # the connection is usable again
    assert load_run(writer, "run-3", one_of_each(definitions), False)["patients"].unchanged == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.drop_columns(["sex"]), r"missing columns \['sex'\]"),
        (lambda b: b.append_column("name", pa.array(["x"])), r"unexpected columns \['name'\]"),
        (lambda b: b.drop_columns(["_source_line"]), "missing columns"),
        (
            lambda b: b.set_column(
                b.column_names.index("deceased_date"), "deceased_date", pa.array(["2020-01-01"])
            ),
            r"deceased_date VARCHAR \(expected DATE\)",
        ),
        (
            lambda b: b.set_column(
                b.column_names.index("birth_year"), "birth_year", pa.array([1980.0])
            ),
            r"birth_year DOUBLE \(expected INTEGER\)",
        ),
        (
            lambda b: b.set_column(
                b.column_names.index("patient_id"), "patient_id", pa.array([None], pa.string())
            ),
            r"NULL values in key or lineage columns \['patient_id'\]",
        ),
    ],
)
def test_unfit_batches_are_refused_before_any_write(writer, definitions, change, message):
    load_run(writer, "run-1", one_of_each(definitions), False)
    before = all_rows(writer)
    batch = change(patients(definitions, [{"patient_id": "p1", "birth_year": 1980}]))
    with pytest.raises(LoadInputError, match=message):
        load_run(writer, "run-2", {"patients": batch}, True)
    assert all_rows(writer) == before


def test_unknown_table_is_refused(writer, definitions):
    with pytest.raises(LoadInputError, match="no core tables"):
        load_run(writer, "run-1", {"appointments": patients(definitions, [])}, False)


def test_wider_integers_and_all_null_columns_fit(writer, definitions):
    batch = patients(definitions, [{"patient_id": "p1", "birth_year": 1980}])
    batch = batch.set_column(
        batch.column_names.index("birth_year"), "birth_year", pa.array([1980], pa.int64())
    )
    batch = batch.set_column(batch.column_names.index("zip3"), "zip3", pa.nulls(1))
    assert load_run(writer, "run-1", {"patients": batch}, False)["patients"].inserted == 1
    assert writer.execute("SELECT birth_year, zip3 FROM core.patients").fetchall() == [(1980, None)]


def test_load_ends_checkpointed(writer, warehouse_path, definitions):
    load_run(writer, "run-1", one_of_each(definitions), False)
    wal = warehouse_path.with_name(warehouse_path.name + ".wal")
    assert not wal.exists()


class _Refused(Exception):
    pass


@pytest.mark.parametrize("full_refresh", [False, True])
def test_before_commit_steps_see_the_merged_rows_and_can_veto(writer, definitions, full_refresh):
    load_run(writer, "run-1", one_of_each(definitions), False)
    before = all_rows(writer)
    seen = []

    def count_patients(con):
        seen.append(con.execute("SELECT count(*) FROM core.patients").fetchall()[0][0])

    def refuse(con):
        raise _Refused("fatal check failed")

    batch = {"patients": patients(definitions, [{"patient_id": "p3"}])}
    with pytest.raises(_Refused):  # the step's own exception, unchanged
        load_run(writer, "run-2", batch, full_refresh, before_commit=[count_patients, refuse])
    # earlier rows and the new one together, or the new one alone after a full rebuild
    assert seen == [1 if full_refresh else 3]
    assert all_rows(writer) == before


def test_before_commit_steps_commit_with_the_load(writer, definitions):
    def add_marker(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS study")
        con.execute(
            "CREATE OR REPLACE TABLE study.marker AS SELECT count(*) AS n FROM core.patients"
        )

    load_run(writer, "run-1", one_of_each(definitions), False, before_commit=[add_marker])
    assert writer.execute("SELECT n FROM study.marker").fetchall() == [(2,)]


def test_a_database_error_in_a_step_is_a_load_error_naming_the_step(writer, definitions):
    load_run(writer, "run-1", one_of_each(definitions), False)
    before = all_rows(writer)

    def broken_model(con):
        con.execute("SELECT CAST('not a number' AS INTEGER)")

    with pytest.raises(LoadError) as failed:
        load_run(writer, "run-2", one_of_each(definitions), False, before_commit=[broken_model])
    assert failed.value.table == "step broken_model"
    assert "not a number" not in str(failed.value)
    assert all_rows(writer) == before
