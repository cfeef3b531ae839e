"""The analysts' data dictionary, docs/data-dictionary.md, generated from the views, study models and DDL.

Run ``python -m warehouse.data_dictionary`` after changing a view, a study model or its
``schema.yaml``; ``--check`` exits 1 when the committed file is stale (the test suite does the
same). Every type is the one DuckDB reports: the generator creates the warehouse (core and audit
tables) in an in-memory database, builds the study tables on the empty core with ``build_study``
and reads ``duckdb_columns()``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from transforms.deid.classes import DEID_TAG
from transforms.sql_on_fhir import compile_view
from transforms.views import TABLE_KEYS, VIEWS_DIR, load_views

from .leak_scan import DDL as LEAK_SCAN_DDL
from .risk import ensure_risk_tables
from .run_history import _TABLE_COUNTS_DDL
from .schema import (
    AUDIT_SCHEMA,
    CORE_SCHEMA,
    LINEAGE_COLUMNS,
    SQL_DIR,
    core_tables,
    ensure_schema,
)
from .snapshot import _LOAD_COMMITS_DDL
from .study import STUDY_SCHEMA, build_study, study_models

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DICTIONARY_PATH = PROJECT_ROOT / "docs" / "data-dictionary.md"
CODE_SYSTEM_TAG = "code-system"

DEID_CLASS_EFFECTS = {
    "pseudonym": "Resource id or reference: keyed HMAC-SHA256 pseudonym, separated by resource type.",
    "shift": "Date: shifted by the patient's own offset (profile ED); the year only (SH, INTEGER); unchanged (LDS).",
    "birth_year": "Birth date: the year; NULL with age_group '90+' for anyone 90 or older.",
    "zip3": "Postal code: the first 3 digits; restricted prefixes become 000.",
    "code": "Code, system or display from a terminology.",
    "value": "Clinical value: number, boolean or coded answer.",
    "term": "A clinician's chosen wording: kept only when it is on the reviewed term list (transforms/deid/terms.yaml; case and spacing ignored), as the list spells it; anything else NULL and counted.",
    "text": "Free text: dropped, or scrubbed in the opt-in notes mode.",
}
"""What each de-identification class does (architecture.md section 3, deid.md)."""

OTHER_AUDIT_TABLES = {
    "check_results": (
        "Data-quality check outcomes per run: counts and status only, never values or keys.",
        "expectations/checks.py (the check runner), described in expectations/DATA_QUALITY.md",
    ),
    "check_violations": (
        "Offending keys of failed SQL data-quality checks, up to 100 per check and run, for data "
        "engineers: pseudonymous ids and positional indexes only, never values, codes or text. "
        "Not shown in the auditors' run report, which keeps counts only.",
        "expectations/checks.py (the check runner); `chartetl report RUN_ID --keys CHECK_ID`",
    ),
}
"""Audit tables created outside warehouse/ (table -> comment, owner); tests keep them in step."""

_AUDIT_NOTES = {
    "deid_evidence": "De-identification evidence per run: elements counted by HIPAA Safe Harbor category and method. Counts only.",
    "deid_counts": "Per run and table: rows, and values pseudonymised, shifted, nulled, generalised or dropped. Counts only.",
    "date_shift": "Per run: the date-shift profile, offset range and key fingerprint (never an offset of a patient).",
    "extensions": "Per run: FHIR extension URLs met in the input, how often, and whether a view keeps them.",
    "csv_columns": "Per run and CSV file: headers dropped or not parsed, and how many values that concerned.",
    "notes_scrubber": "Per run in notes mode: the scrubber version and its recall on the labelled note corpus.",
}
"""Descriptions of the audit tables whose DDL carries no table comment."""

_SYSTEM_FILTER = re.compile(r"system\s*=\s*'([^']+)'")


@dataclass(frozen=True)
class Column:
    """One documented column."""

    name: str
    data_type: str
    description: str
    deid_class: str | None = None
    code_system: str | None = None


@dataclass(frozen=True)
class Table:
    """One documented table."""

    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    source: str = ""


def catalog_database() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse: core and audit tables, and the study built on the empty core."""
    con = duckdb.connect()
    ensure_schema(con, core_tables())
    for ddl in (
        (SQL_DIR / "evidence.sql").read_text(encoding="utf-8"),
        LEAK_SCAN_DDL,
        _TABLE_COUNTS_DDL,
        _LOAD_COMMITS_DDL,
    ):
        con.execute(ddl)
    ensure_risk_tables(con)
    build_study(con)
    return con


def core_dictionary(con: duckdb.DuckDBPyConnection, views_dir: Path = VIEWS_DIR) -> list[Table]:
    """The core tables: view description, key, and per column its type, class and code system.

    Args:
        con: a database from ``catalog_database`` (the types are read from it).
        views_dir: the ViewDefinitions (default: ``transforms/views``).
    """
    types = _column_types(con, CORE_SCHEMA)
    notes_mode = core_tables(views_dir, notes_mode=True)
    tables = []
    views = load_views(views_dir)
    order = list(TABLE_KEYS)  # patients, visits, ...: the order of architecture.md
    for name in sorted(views, key=lambda n: (order.index(n) if n in order else len(order), n)):
        view = views[name]
        compiled = {column.name: column for column in compile_view(view).columns}
        default_columns = core_tables(views_dir)[name].column_names
        columns = []
        # the notes-mode columns in their place: the default warehouse lacks only those
        # (the scrubbed note text), which say so
        for column in notes_mode[name].columns:
            description = column.description or ""
            if column.name in default_columns:
                data_type = types[(name, column.name)]
            else:
                data_type = column.sql_type
                description = f"{description} Notes mode only (--notes scrub).".strip()
            columns.append(
                Column(
                    column.name,
                    data_type,
                    description,
                    column.deid_class,
                    _code_system(compiled.get(column.source)),
                )
            )
        columns += [
            Column(lineage, types[(name, lineage)], text) for lineage, _, text in LINEAGE_COLUMNS
        ]
        tables.append(
            Table(
                CORE_SCHEMA,
                name,
                view.description or "",
                tuple(columns),
                key=TABLE_KEYS[name],
                source=f"FHIR {view.resource}; view transforms/views/{_view_file(views_dir, name)}",
            )
        )
    return tables


def study_dictionary(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """The study tables in build order: description (grain), columns, types, descriptions.

    Args:
        con: a database from ``catalog_database`` (study built; comments from schema.yaml).
    """
    models = {model.name: model for model in study_models()}
    return [
        Table(
            STUDY_SCHEMA,
            name,
            description,
            columns,
            source=(
                f"model warehouse/sql/study/{models[name].path.name}"
                if name in models
                else "warehouse/study/build.py"
            ),
        )
        for name, description, columns in _schema_tables(con, STUDY_SCHEMA)
    ]


def audit_dictionary(con: duckdb.DuckDBPyConnection) -> list[Table]:
    """The audit tables in brief: description and columns with types.

    Args:
        con: a database from ``catalog_database``.
    """
    tables = [
        Table(
            AUDIT_SCHEMA,
            name,
            description or _AUDIT_NOTES.get(name, ""),
            columns,
            key=_primary_key(con, AUDIT_SCHEMA, name),
        )
        for name, description, columns in _schema_tables(con, AUDIT_SCHEMA)
    ]
    tables += [
        Table(AUDIT_SCHEMA, name, description, (), source=owner)
        for name, (description, owner) in OTHER_AUDIT_TABLES.items()
    ]
    return sorted(tables, key=lambda table: table.name)


def render_data_dictionary() -> str:
    """The whole of docs/data-dictionary.md."""
    con = catalog_database()
    try:
        core = core_dictionary(con)
        study = study_dictionary(con)
        audit = audit_dictionary(con)
    finally:
        con.close()
    lines = [
        "# chartetl data dictionary",
        "",
        "<!-- Generated by `python -m warehouse.data_dictionary`; do not edit by hand. A test fails",
        "     when this file is stale. -->",
        "",
        "The tables of the research warehouse and of its read-only snapshot, by schema. Column types",
        "are the DuckDB types (profile ED, the default). The same descriptions are the tables' and",
        "columns' comments in the database: `SELECT * FROM duckdb_columns() WHERE schema_name = 'core'`.",
        "",
        "- `core`: one table per ViewDefinition of `transforms/views/`, de-identified at flattening."
        " Every column carries a de-identification class.",
        "- `study`: the LDN chart review's analysis tables (`warehouse/sql/study/`, config"
        " `warehouse/study/ldn.yaml`), rebuilt from `core` in every load.",
        "- `audit`: the run ledger and evidence for auditors. Counts, hashes and settings; no PHI.",
        "",
        "Pseudonyms (`*_id` columns) join across tables: `core.visits.visit_id` = "
        "`core.conditions.visit_id`, and every `patient_id` is the same patient in `core` and "
        "`study`. Dates are shifted per patient under profile ED: intervals within a patient are "
        "exact, calendar dates are not real.",
        "",
        "## Contents",
        "",
        "- [De-identification classes](#de-identification-classes)",
        "- [Lineage columns](#lineage-columns)",
        # GitHub's heading anchors drop the dot and keep underscores: core.visits -> corevisits
        *(f"- [core.{table.name}](#core{table.name})" for table in core),
        *(f"- [study.{table.name}](#study{table.name})" for table in study),
        "- [audit tables](#audit-tables)",
        "",
        "## De-identification classes",
        "",
        "| class | effect |",
        "|---|---|",
        *(f"| `{name}` | {_cell(effect)} |" for name, effect in DEID_CLASS_EFFECTS.items()),
        "",
        "## Lineage columns",
        "",
        "Every core table ends with these columns (not de-identified data: run and file bookkeeping).",
        "",
        "| column | type | description |",
        "|---|---|---|",
        *(
            f"| `{name}` | {data_type} | {_cell(text)} |"
            for name, data_type, text in LINEAGE_COLUMNS
        ),
        "",
    ]
    for table in core:
        lines += _table_section(table, core=True)
    for table in study:
        lines += _table_section(table, core=False)
    lines += [
        "## audit tables",
        "",
        "In brief; `warehouse/sql/audit.sql` and the files beside it hold the DDL.",
        "",
        "| table | description | key | columns |",
        "|---|---|---|---|",
    ]
    for table in audit:
        columns = ", ".join(f"`{c.name}` {c.data_type}" for c in table.columns)
        if not columns:
            columns = f"created by {table.source}"
        key = ", ".join(f"`{k}`" for k in table.key) or "\u2013"
        lines.append(f"| `audit.{table.name}` | {_cell(table.description)} | {key} | {columns} |")
    return "\n".join(lines) + "\n"


def write_data_dictionary(path: Path = DICTIONARY_PATH) -> Path:
    """Write the data dictionary to ``path`` (default: docs/data-dictionary.md).

    Args:
        path: where to write it.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_data_dictionary(), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m warehouse.data_dictionary [--check] [--out PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m warehouse.data_dictionary", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=DICTIONARY_PATH, help="the Markdown file")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file differs from a fresh render"
    )
    arguments = parser.parse_args(argv)
    if arguments.check:
        current = arguments.out.read_text(encoding="utf-8") if arguments.out.is_file() else None
        if current != render_data_dictionary():
            print(f"{arguments.out} is stale: run python -m warehouse.data_dictionary")
            return 1
        print(f"{arguments.out} is up to date")
        return 0
    print(f"wrote {write_data_dictionary(arguments.out)}")
    return 0


# ----------------------------------------------------------------------------------- helpers


def _table_section(table: Table, *, core: bool) -> list[str]:
    lines = [f"## {table.schema}.{table.name}", "", _cell(table.description), ""]
    facts = [f"Source: {table.source}."]
    if table.key:
        facts.insert(0, f"Key: {', '.join(f'`{k}`' for k in table.key)}.")
    lines += [" ".join(facts), ""]
    if core:
        lines += [
            "| column | type | de-identification | description | code system |",
            "|---|---|---|---|---|",
        ]
        for column in table.columns:
            lines.append(
                f"| `{column.name}` | {column.data_type} | "
                f"{f'`{column.deid_class}`' if column.deid_class else 'lineage'} | "
                f"{_cell(column.description)} | {_cell(column.code_system or '')} |"
            )
    else:
        lines += ["| column | type | description |", "|---|---|---|"]
        lines += [
            f"| `{column.name}` | {column.data_type} | {_cell(column.description)} |"
            for column in table.columns
        ]
    return [*lines, ""]


def _schema_tables(
    con: duckdb.DuckDBPyConnection, schema: str
) -> list[tuple[str, str, tuple[Column, ...]]]:
    tables = con.execute(
        """
        SELECT table_name, coalesce(comment, '') FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name = $schema
        """,
        {"schema": schema},
    ).fetchall()
    order = {name: index for index, name in enumerate(_build_order(schema))}
    columns: dict[str, list[Column]] = {}
    for table, column, data_type, comment in con.execute(
        """
        SELECT table_name, column_name, data_type, coalesce(comment, '') FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name = $schema
        ORDER BY table_name, column_index
        """,
        {"schema": schema},
    ).fetchall():
        columns.setdefault(table, []).append(Column(column, data_type, comment))
    return [
        (name, description, tuple(columns[name]))
        for name, description in sorted(tables, key=lambda t: (order.get(t[0], len(order)), t[0]))
    ]


def _build_order(schema: str) -> list[str]:
    if schema != STUDY_SCHEMA:
        return []
    from .study import study_table_names

    return list(study_table_names())


def _column_types(con: duckdb.DuckDBPyConnection, schema: str) -> dict[tuple[str, str], str]:
    return {
        (table, column): data_type
        for table, column, data_type in con.execute(
            """
            SELECT table_name, column_name, data_type FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = $schema
            """,
            {"schema": schema},
        ).fetchall()
    }


def _primary_key(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[str, ...]:
    rows = con.execute(
        """
        SELECT constraint_column_names FROM duckdb_constraints()
        WHERE database_name = current_database() AND schema_name = $schema
          AND table_name = $table AND constraint_type = 'PRIMARY KEY'
        """,
        {"schema": schema, "table": table},
    ).fetchall()
    return tuple(rows[0][0]) if rows else ()


def _code_system(column) -> str | None:
    """Where a coded column's system is: the column its tag names, or the system its path fixes."""
    if column is None or column.column.tag(DEID_TAG) != "code":
        return None
    if (system_column := column.column.tag(CODE_SYSTEM_TAG)) is not None:
        return f"in `{system_column}`"
    systems = _SYSTEM_FILTER.findall(column.column.path)
    return ", ".join(dict.fromkeys(systems)) or None


def _view_file(views_dir: Path, name: str) -> str:
    for path in sorted(Path(views_dir).glob("*.json")):
        if path.stem == name:
            return path.name
    return f"{name}.json"


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


if __name__ == "__main__":
    sys.exit(main())
