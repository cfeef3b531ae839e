"""Warehouse DDL: core tables follow the views' de-identified columns, documented and versioned."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from tests.warehouse.helpers import all_rows, make_batch, table_rows
from transforms.deid.classes import output_columns
from transforms.sql_on_fhir import compile_view
from transforms.views import REPLACE_BY_PARENT, TABLE_KEYS, VIEWS_DIR, load_views
from warehouse import (
    LINEAGE_COLUMNS,
    SchemaDefinitionError,
    SchemaVersionError,
    core_tables,
    load_run,
    open_read_only,
    open_warehouse,
)

VIEWS = load_views()


def test_one_core_table_per_view(definitions):
    assert set(definitions) == set(VIEWS) == set(TABLE_KEYS)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_table_columns_are_output_columns_then_lineage(warehouse_path, name):
    expected = [(c.name, c.sql_type) for c in output_columns(name, compile_view(VIEWS[name]))]
    expected += [(column, sql_type) for column, sql_type, _ in LINEAGE_COLUMNS]
    with open_read_only(warehouse_path) as con:
        got = con.execute(
            """
            SELECT column_name, data_type FROM duckdb_columns()
            WHERE schema_name = 'core' AND table_name = ? ORDER BY column_index
            """,
            [name],
        ).fetchall()
        not_null = {
            column
            for (column,) in con.execute(
                """
                SELECT column_name FROM duckdb_columns()
                WHERE schema_name = 'core' AND table_name = ? AND NOT is_nullable
                """,
                [name],
            ).fetchall()
        }
        (primary_key,) = con.execute(
            """
            SELECT constraint_column_names FROM duckdb_constraints()
            WHERE schema_name = 'core' AND table_name = ? AND constraint_type = 'PRIMARY KEY'
            """,
            [name],
        ).fetchall()[0]
    assert got == expected
    assert tuple(primary_key) == TABLE_KEYS[name]
    assert not_null == set(TABLE_KEYS[name]) | {column for column, _, _ in LINEAGE_COLUMNS}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_tables_and_columns_carry_the_view_docs(warehouse_path, name):
    columns = output_columns(name, compile_view(VIEWS[name]))
    with open_read_only(warehouse_path) as con:
        (table_comment,) = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'core' AND table_name = ?",
            [name],
        ).fetchall()[0]
        comments = dict(
            con.execute(
                """
                SELECT column_name, comment FROM duckdb_columns()
                WHERE schema_name = 'core' AND table_name = ?
                """,
                [name],
            ).fetchall()
        )
    assert table_comment == VIEWS[name].description
    for column in columns:
        assert column.description in comments[column.name]
        assert f"[deid: {column.deid_class}]" in comments[column.name]
    assert all(comments[column] for column, _, _ in LINEAGE_COLUMNS)


def test_replace_tables_name_their_parent(definitions):
    for name, parent in REPLACE_BY_PARENT.items():
        assert definitions[name].replace_parent == parent == definitions[name].key[0]


def test_audit_tables_exist_and_are_versioned(warehouse_path):
    with open_read_only(warehouse_path) as con:
        audit = {
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'audit'"
            ).fetchall()
        }
        versioned = {
            name
            for (name,) in con.execute("SELECT table_name FROM audit.schema_version").fetchall()
        }
    assert audit == {"runs", "files", "file_counts", "quarantine", "schema_version"}
    assert versioned == {f"audit.{t}" for t in audit} | {f"core.{v}" for v in VIEWS}


def test_reopening_keeps_the_warehouse_and_restores_edited_comments(warehouse_path, definitions):
    with open_warehouse(warehouse_path) as con:
        con.execute("COMMENT ON COLUMN core.visits.visit_id IS 'edited by hand'")
        before = all_rows(con)
    with open_warehouse(warehouse_path) as con:
        assert all_rows(con) == before
        (comment,) = con.execute(
            """
            SELECT comment FROM duckdb_columns()
            WHERE schema_name = 'core' AND table_name = 'visits' AND column_name = 'visit_id'
            """
        ).fetchall()[0]
    assert comment == definitions["visits"].comments()["visit_id"]


@pytest.fixture
def old_views(tmp_path):
    """The project's views as they were before ``visits.reason_code`` was added."""
    folder = tmp_path / "old_views"
    shutil.copytree(VIEWS_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    visits = json.loads((folder / "visits.json").read_text())

    def drop(node):
        node["column"] = [c for c in node.get("column", []) if c["name"] != "reason_code"]
        for child in node.get("select", []):
            drop(child)

    for node in visits["select"]:
        drop(node)
    (folder / "visits.json").write_text(json.dumps(visits))
    return folder


def test_changed_view_fails_loudly_until_full_refresh(tmp_path, old_views, definitions):
    path = tmp_path / "old.duckdb"
    old = core_tables(old_views)
    assert "reason_code" not in old["visits"].column_names
    with open_warehouse(path, definitions=old) as con:
        batch = {"visits": make_batch(old["visits"], [{"visit_id": "v1"}])}
        load_run(con, "r1", batch, full_refresh=False, definitions=old)

    with pytest.raises(SchemaVersionError) as opened, open_warehouse(path):
        pass
    message = str(opened.value)
    assert "core.visits: columns added: reason_code" in message
    assert "full refresh" in message

    batch = {"visits": make_batch(definitions["visits"], [{"visit_id": "v2"}])}
    with open_warehouse(path, full_refresh=True) as con:
        before = all_rows(con)
        with pytest.raises(SchemaVersionError, match="full refresh"):
            load_run(con, "r2", batch, full_refresh=False)
        assert all_rows(con) == before

        counts = load_run(con, "r3", batch, full_refresh=True)
        assert counts["visits"].inserted == 1 and counts["visits"].deleted == 1
        assert [row[0] for row in table_rows(con, "visits")] == ["v2"]
    with open_warehouse(path) as con:
        columns = [d[0] for d in con.execute("SELECT * FROM core.visits LIMIT 0").description]
    assert "reason_code" in columns


def test_changed_audit_table_is_never_rebuilt(warehouse_path):
    with open_warehouse(warehouse_path) as con:
        con.execute(
            """
            UPDATE audit.schema_version
            SET definition = replace(definition, '"error_summary"', '"old_summary"')
            WHERE table_name = 'audit.runs'
            """
        )
    for full_refresh in (False, True):
        with (
            pytest.raises(SchemaVersionError, match=r"audit\.runs.*migrate"),
            open_warehouse(warehouse_path, full_refresh=full_refresh),
        ):
            pass


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA core; CREATE TABLE core.patients (id VARCHAR)")
    con.close()
    with (
        pytest.raises(SchemaDefinitionError, match="not a chartetl warehouse"),
        open_warehouse(path),
    ):
        pass
