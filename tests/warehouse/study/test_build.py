"""build_study: inside the caller's transaction or its own, comments, config-driven, all or nothing."""

from __future__ import annotations

import dataclasses
import re

import duckdb
import pytest

from warehouse import core_tables, load_run, open_warehouse, transaction
from warehouse.study import (
    StudyBuildError,
    build_study,
    load_study_config,
    study_models,
    study_table_docs,
    study_table_names,
)

from .helpers import LdnPatient


def study_state(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'study' ORDER BY 1"
        ).fetchall()
    ]
    return {
        name: con.execute(f"SELECT * FROM study.{name} ORDER BY ALL").fetchall() for name in tables
    }


def test_inside_an_open_transaction_a_rollback_leaves_the_study_unchanged(writer, rows):
    LdnPatient(rows)
    build_study(writer)
    before = study_state(writer)
    assert len(before["cohort"]) == 1
    LdnPatient(rows)
    writer.begin()
    counts = build_study(writer)  # must not commit the caller's transaction
    assert counts["cohort"] == 2
    assert len(study_state(writer)["cohort"]) == 2
    writer.rollback()
    assert study_state(writer) == before


def test_inside_an_open_transaction_a_commit_publishes(writer, rows):
    LdnPatient(rows)
    with transaction(writer):
        build_study(writer)
    assert len(study_state(writer)["cohort"]) == 1


def test_a_rollback_of_the_first_build_leaves_no_study_tables(writer, rows):
    LdnPatient(rows)
    writer.begin()
    build_study(writer)
    writer.rollback()
    assert study_state(writer) == {}
    assert writer.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'study'"
    ).fetchall() == [(0,)]


def test_as_a_before_commit_step_of_the_load(writer, definitions):
    counts = {}
    load_run(
        writer, "run-1", {}, False, before_commit=[lambda con: counts.update(build_study(con))]
    )
    assert list(counts) == list(study_table_names())
    assert len(study_state(writer)) == len(study_table_names())


def test_on_its_own_a_failing_build_leaves_the_previous_study(writer, rows):
    LdnPatient(rows)
    build_study(writer)
    before = study_state(writer)
    LdnPatient(rows)
    # Fails in 03_screening, after the config, the scores and two models were rebuilt.
    writer.execute("ALTER TABLE core.conditions RENAME COLUMN display TO display_text")
    with pytest.raises(duckdb.BinderException):
        build_study(writer)
    writer.execute("ALTER TABLE core.conditions RENAME COLUMN display_text TO display")
    assert study_state(writer) == before


def test_a_warehouse_with_years_instead_of_dates_gets_no_study(tmp_path, caplog):
    definitions = core_tables(profile="SH")
    with open_warehouse(tmp_path / "sh.duckdb", definitions=definitions) as con:
        # left from an earlier profile: finer dates than SH allows
        con.execute(
            "CREATE SCHEMA study; CREATE TABLE study.timepoints AS SELECT DATE '2024-01-02' d"
        )
        with caplog.at_level("WARNING", logger="warehouse.study.build"):
            assert build_study(con) == {}
        assert "core.visits.start_date is INTEGER, not DATE" in caplog.text
        assert study_state(con) == {}
        assert con.execute(
            "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'study'"
        ).fetchall() == [(0,)]
        # as a step of the load, it lets the load commit
        counts = load_run(
            con, "run-sh", {}, False, definitions=definitions, before_commit=[build_study]
        )
        assert "visits" in counts


def test_a_database_without_core_tables_is_refused():
    con = duckdb.connect()
    with pytest.raises(StudyBuildError, match=r"core\.visits\.start_date does not exist"):
        build_study(con)


def test_a_rebuild_replaces_every_table(writer, rows):
    build_study(writer)
    LdnPatient(rows)
    LdnPatient(rows)
    counts = build_study(writer)
    assert (counts["cohort"], counts["timepoints"], counts["compass31_scores"]) == (2, 6, 6)


def test_every_study_table_and_column_is_commented(writer, rows):
    LdnPatient(rows)
    build_study(writer)
    columns = writer.execute(
        """
        SELECT table_name, column_name, comment FROM duckdb_columns()
        WHERE schema_name = 'study' ORDER BY table_name, column_index
        """
    ).fetchall()
    docs = study_table_docs()
    assert {table for table, _, _ in columns} == set(docs) == set(study_table_names())
    assert {(t, c) for t, c, _ in columns} == {
        (t, c) for t, d in docs.items() for c in d["columns"]
    }
    assert all(comment for _, _, comment in columns)
    tables = writer.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'study'"
    ).fetchall()
    assert all(comment and "Grain" in comment for _, comment in tables)


def test_the_config_drives_the_models(writer, rows):
    late = LdnPatient(rows, follow_up_days=280, dose=6)
    build_study(writer)
    assert writer.execute("SELECT count(*) FROM study.cohort").fetchall() == [(0,)]
    config = load_study_config()
    wider = dataclasses.replace(
        config,
        parameters=dataclasses.replace(
            config.parameters, follow_up_max_days=300, ldn_max_daily_dose_mg=6.0
        ),
    )
    build_study(writer, wider)
    assert writer.execute("SELECT patient_id FROM study.cohort").fetchall() == [(late.patient_id,)]
    assert writer.execute(
        "SELECT value FROM study.config_parameters WHERE name = 'follow_up_max_days'"
    ).fetchall() == [("300",)]


def test_models_are_numbered_and_written_in_the_house_style():
    models = study_models()
    assert [model.number for model in models] == sorted({model.number for model in models})
    assert {model.name for model in models} >= {
        "cohort",
        "timepoints",
        "compass31_by_timepoint",
        "ldn_exposure",
        "outcomes",
        "summary",
    }
    for model in models:
        sql = model.sql
        assert sql.startswith(f"-- study.{model.name}:"), model.name
        assert re.search(r"^-- Grain: ", sql, re.MULTILINE), model.name
        assert sql.rstrip().endswith("select * from final"), model.name
        # Codes and thresholds come from study.config_*, not literals in the SQL.
        code = re.sub(r"--[^\n]*", "", sql)
        for literal in ("'7243'", "'G90", "'72514-3'", " 270", " 90 ", "'autonomic'", "'mg'"):
            assert literal not in code, (model.name, literal)
