"""docs/data-dictionary.md: in step with the code, every core and study column, real types."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from expectations.checks import _RESULTS_DDL as CHECK_RESULTS_DDL
from expectations.checks import _VIOLATIONS_DDL as CHECK_VIOLATIONS_DDL
from transforms.deid.classes import DEID_CLASSES
from warehouse import LINEAGE_COLUMNS, core_tables
from warehouse.data_dictionary import (
    DICTIONARY_PATH,
    OTHER_AUDIT_TABLES,
    catalog_database,
    main,
    render_data_dictionary,
)
from warehouse.study import study_table_docs, study_table_names

from .study.conftest import (  # noqa: F401 - fixtures used by name
    paper_export,
    paper_keys,
    paper_warehouse_factory,
)

_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \|(.*)\|$")


@pytest.fixture(scope="module")
def rendered() -> str:
    return render_data_dictionary()


@pytest.fixture(scope="module")
def sections(rendered) -> dict[str, list[list[str]]]:
    """Heading (e.g. core.visits) -> table rows as cells (first cell without backticks)."""
    found: dict[str, list[list[str]]] = {}
    heading = None
    for line in rendered.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            found[heading] = []
        elif heading and (match := _ROW.match(line)):
            rest = [cell.strip() for cell in match[3].split(" | ")]
            found[heading].append([match[1], match[2].strip(), *rest])
    return found


def test_the_committed_dictionary_is_up_to_date(rendered):
    assert DICTIONARY_PATH.is_file(), "run: python -m warehouse.data_dictionary"
    assert DICTIONARY_PATH.read_text(encoding="utf-8") == rendered, (
        "docs/data-dictionary.md is stale: run python -m warehouse.data_dictionary"
    )


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "data-dictionary.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert main(["--check", "--out", str(stale)]) == 1
    assert "stale" in capsys.readouterr().out
    assert main(["--out", str(stale)]) == 0
    assert main(["--check", "--out", str(stale)]) == 0


def test_every_core_column_is_listed_with_its_type_and_deidentification_class(sections):
    con = catalog_database()
    try:
        types = {
            (table, column): data_type
            for table, column, data_type in con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = 'core'"
            ).fetchall()
        }
    finally:
        con.close()
    lineage_order = [name for name, _, _ in LINEAGE_COLUMNS]
    lineage = set(lineage_order)
    notes_mode = core_tables(notes_mode=True)
    for name, table in core_tables().items():
        rows = {row[0]: row for row in sections[f"core.{name}"]}
        extra = [c for c in notes_mode[name].column_names if c not in table.column_names]
        assert list(rows) == [
            *notes_mode[name].column_names,
            *(n for n, _, _ in LINEAGE_COLUMNS),
        ], name
        assert [c for c in rows if c not in extra] == [*table.column_names, *lineage_order], name
        for column in table.columns:
            row = rows[column.name]
            assert row[1] == types[(name, column.name)], (name, column.name)
            assert row[2].strip("`") == column.deid_class in DEID_CLASSES, (name, column.name)
            assert row[3], f"core.{name}.{column.name} has no description"
        for column in lineage:
            assert rows[column][2] == "lineage"
        for column in extra:
            assert "Notes mode only" in rows[column][3]
            assert rows[column][2].strip("`") in DEID_CLASSES
    assert sections["core.conditions"][3][0] == "code_system"
    conditions = {row[0]: row for row in sections["core.conditions"]}
    assert conditions["code"][4] == "in `code_system`"
    meds = {row[0]: row for row in sections["core.meds"]}
    assert meds["rxnorm_code"][4] == "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_every_study_column_is_listed_with_the_type_of_a_built_warehouse(
    sections,
    paper_warehouse_factory,  # noqa: F811 - the imported fixture
):
    """Types come from a study built on an empty core; they must be those of a real build."""
    path: Path = paper_warehouse_factory("ndjson").path
    with duckdb.connect(str(path), read_only=True) as con:
        built = con.execute(
            """
            SELECT table_name, list(column_name ORDER BY column_index),
                   list(data_type ORDER BY column_index)
            FROM duckdb_columns() WHERE schema_name = 'study' GROUP BY table_name
            """
        ).fetchall()
    docs = study_table_docs()
    assert sorted(name for name, _, _ in built) == sorted(study_table_names())
    for name, columns, types in built:
        rows = sections[f"study.{name}"]
        assert [row[0] for row in rows] == columns, name
        assert [row[1] for row in rows] == types, name
        for row in rows:
            assert row[2] == " ".join(docs[name]["columns"][row[0]].split()).replace("|", "\\|")
    headings = [h for h in sections if h.startswith("study.")]
    assert headings == [f"study.{name}" for name in study_table_names()]


def test_audit_tables_are_all_listed(sections, rendered):
    con = catalog_database()
    con.execute(CHECK_RESULTS_DDL)
    con.execute(CHECK_VIOLATIONS_DDL)
    try:
        audit = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'audit'"
            ).fetchall()
        )
    finally:
        con.close()
    listed = {row[0] for row in sections["audit tables"]}
    assert listed == {f"audit.{name}" for name in audit}
    assert {"audit.runs", "audit.files", "audit.check_results", "audit.leak_scan"} <= listed
    for name, (description, _) in OTHER_AUDIT_TABLES.items():
        assert " ".join(audit[name].split()) == description  # the owner's comment, verbatim
    for row in sections["audit tables"]:
        assert row[1], f"{row[0]} has no description"
    assert "De-identification classes" in rendered and "Lineage columns" in rendered
