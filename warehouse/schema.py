"""Warehouse DDL: core tables generated from the views, audit tables from sql/, schema versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from transforms.deid.classes import OutputColumn, output_columns
from transforms.sql_on_fhir import compile_view
from transforms.views import REPLACE_BY_PARENT, TABLE_KEYS, VIEWS_DIR, load_views

from .errors import SchemaDefinitionError, SchemaVersionError
from .sqltools import quote_identifier, quote_literal, transaction, utc_now

SQL_DIR = Path(__file__).resolve().parent / "sql"
CORE_SCHEMA = "core"
AUDIT_SCHEMA = "audit"

# Lineage every core row carries after its view's columns: the caller supplies the source file
# hash and line, the loader the run id and load time.
LINEAGE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("_run_id", "VARCHAR", "Run that last inserted or changed this row (audit.runs.run_id)."),
    ("_source_file_hash", "VARCHAR", "SHA-256 of the input file the row came from (audit.files)."),
    (
        "_source_line",
        "BIGINT",
        "Line (NDJSON), entry number (Bundle) or data row (CSV) of the source resource, 1-based.",
    ),
    ("_loaded_at", "TIMESTAMP", "When the row was last inserted or changed (UTC)."),
)
SOURCE_LINEAGE = ("_source_file_hash", "_source_line")


@dataclass(frozen=True)
class CoreTable:
    """One core table: its view's de-identified columns, its key and its documentation.

    Attributes:
        name: the view name, which is the table name in schema ``core``.
        description: the view's description (the table comment).
        columns: the de-identified columns in order, from ``output_columns``.
        key: the MERGE key (``TABLE_KEYS``), also the primary key.
        replace_parent: for child tables, the parent key column whose re-delivery replaces all
            of that parent's rows (``REPLACE_BY_PARENT``); None otherwise.
        parent_table: for child tables, the core table keyed by ``replace_parent`` alone, when
            there is one (questionnaire_items -> questionnaire_responses): its batch names
            parents re-delivered without any child row.
    """

    name: str
    description: str | None
    columns: tuple[OutputColumn, ...]
    key: tuple[str, ...]
    replace_parent: str | None = None
    parent_table: str | None = None

    @property
    def qualified_name(self) -> str:
        """``core.name``, as messages show it."""
        return f"{CORE_SCHEMA}.{self.name}"

    @property
    def sql_name(self) -> str:
        """``core."name"``, ready for SQL."""
        return f"{CORE_SCHEMA}.{quote_identifier(self.name)}"

    @property
    def column_names(self) -> tuple[str, ...]:
        """The de-identified column names in order (lineage excluded)."""
        return tuple(column.name for column in self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The de-identified columns outside the key: the ones a MERGE compares and updates."""
        return tuple(name for name in self.column_names if name not in self.key)

    def create_statement(self) -> str:
        """The CREATE TABLE statement: view columns, lineage, primary key."""
        lines = [
            f"    {quote_identifier(column.name)} {column.sql_type}"
            + (" NOT NULL" if column.name in self.key else "")
            for column in self.columns
        ]
        lines += [
            f"    {quote_identifier(name)} {sql_type} NOT NULL"
            for name, sql_type, _ in LINEAGE_COLUMNS
        ]
        lines.append(f"    PRIMARY KEY ({', '.join(map(quote_identifier, self.key))})")
        return f"CREATE TABLE {self.sql_name} (\n" + ",\n".join(lines) + "\n)"

    def comments(self) -> dict[str | None, str]:
        """The comments analysts read in ``duckdb_tables()``/``duckdb_columns()``, by column.

        The key None holds the table comment (the view description, when it has one).
        """
        comments: dict[str | None, str] = {}
        if self.description:
            comments[None] = self.description
        for column in self.columns:
            comments[column.name] = (
                f"{column.description or ''} [deid: {column.deid_class}]".lstrip()
            )
        comments.update({name: text for name, _, text in LINEAGE_COLUMNS})
        return comments

    def comment_statement(self, column: str | None, text: str) -> str:
        """The COMMENT ON statement setting ``text`` on a column, or on the table for None."""
        target = (
            f"TABLE {self.sql_name}"
            if column is None
            else f"COLUMN {self.sql_name}.{quote_identifier(column)}"
        )
        return f"COMMENT ON {target} IS {quote_literal(text)}"


@dataclass(frozen=True)
class TableDefinition:
    """What a table must look like for the loader: columns (name, type, nullable), primary key."""

    columns: tuple[tuple[str, str, bool], ...]
    primary_key: tuple[str, ...]

    def to_json(self) -> str:
        """The canonical JSON stored in ``audit.schema_version.definition``."""
        return json.dumps(
            {"columns": [list(c) for c in self.columns], "primary_key": list(self.primary_key)},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> TableDefinition:
        """The definition stored by ``to_json``."""
        data = json.loads(text)
        return cls(tuple(tuple(c) for c in data["columns"]), tuple(data["primary_key"]))

    def changes_to(self, new: TableDefinition) -> str:
        """A short description of what differs from ``self`` to ``new``, for operators."""
        old_types = {name: sql_type for name, sql_type, _ in self.columns}
        new_types = {name: sql_type for name, sql_type, _ in new.columns}
        parts = []
        if added := [n for n in new_types if n not in old_types]:
            parts.append("columns added: " + ", ".join(added))
        if removed := [n for n in old_types if n not in new_types]:
            parts.append("columns removed: " + ", ".join(removed))
        if retyped := [
            f"{n} {old_types[n]} -> {new_types[n]}"
            for n in new_types
            if n in old_types and old_types[n] != new_types[n]
        ]:
            parts.append("types changed: " + ", ".join(retyped))
        if self.primary_key != new.primary_key:
            parts.append(f"key ({', '.join(self.primary_key)}) -> ({', '.join(new.primary_key)})")
        return "; ".join(parts) or "column order or nullability changed"


def core_tables(
    views_dir: Path = VIEWS_DIR, profile: str = "ED", notes_mode: bool = False
) -> dict[str, CoreTable]:
    """Every core table, by name, from the ViewDefinitions of ``views_dir``.

    Args:
        views_dir: the folder of ViewDefinition JSON files (default: ``transforms/views``).
        profile: the de-identification profile (SH stores years where ED and LDS store dates).
        notes_mode: whether scrubbed note text is kept (``core.notes.note_text``).

    Raises:
        SchemaDefinitionError: a view without a key in TABLE_KEYS, a key or parent column the view
            does not produce, or duplicate or reserved column names.
    """
    return {table.name: table for table in _core_tables(Path(views_dir), profile, notes_mode)}


@cache
def _core_tables(views_dir: Path, profile: str, notes_mode: bool) -> tuple[CoreTable, ...]:
    # Compiling all views takes ~0.2 s; every open and load needs the definitions.
    views = load_views(views_dir)
    keyed_by = {TABLE_KEYS[n]: n for n in views if n in TABLE_KEYS and len(TABLE_KEYS[n]) == 1}
    tables = []
    for name, view in views.items():
        columns = tuple(output_columns(name, compile_view(view), profile, notes_mode))
        names = [column.name for column in columns]
        if name not in TABLE_KEYS:
            raise SchemaDefinitionError(f"view {name!r} has no key in TABLE_KEYS")
        key = TABLE_KEYS[name]
        parent = REPLACE_BY_PARENT.get(name)
        if missing := [k for k in key if k not in names]:
            raise SchemaDefinitionError(f"view {name!r} lacks key columns {missing}")
        if parent is not None and parent != key[0]:
            raise SchemaDefinitionError(
                f"view {name!r}: REPLACE_BY_PARENT column {parent!r} must be the first key column"
            )
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise SchemaDefinitionError(f"view {name!r} yields columns twice: {duplicated}")
        if reserved := [n for n in names if n.startswith("_")]:
            raise SchemaDefinitionError(
                f"view {name!r}: column names starting with '_' are reserved for lineage: {reserved}"
            )
        parent_table = keyed_by.get((parent,)) if parent is not None else None
        tables.append(CoreTable(name, view.description, columns, key, parent, parent_table))
    return tuple(tables)


def expected_definitions(definitions: Mapping[str, CoreTable]) -> dict[str, TableDefinition]:
    """The definition of every warehouse table (core and audit) as the current code creates it.

    Args:
        definitions: the core tables by name.
    """
    return dict(_expected_definitions(tuple(definitions.values())))


@cache
def _expected_definitions(tables: tuple[CoreTable, ...]) -> tuple[tuple[str, TableDefinition], ...]:
    # Run the DDL in a scratch in-memory database and read its catalog: the same reading as for
    # the warehouse file, so the comparison never depends on how types are spelled in the DDL.
    scratch = duckdb.connect()
    try:
        _create_all(scratch, tables)
        return tuple(sorted(catalog_definitions(scratch).items()))
    finally:
        scratch.close()


def catalog_definitions(con: duckdb.DuckDBPyConnection) -> dict[str, TableDefinition]:
    """The definitions of the core and audit tables present in the connected database.

    Args:
        con: a connection to the warehouse (or any DuckDB database).
    """
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for schema_name, table_name, column_name, data_type, is_nullable in con.execute(
        """
        SELECT schema_name, table_name, column_name, data_type, is_nullable
        FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name IN ($core, $audit)
        ORDER BY schema_name, table_name, column_index
        """,
        {"core": CORE_SCHEMA, "audit": AUDIT_SCHEMA},
    ).fetchall():
        columns.setdefault(f"{schema_name}.{table_name}", []).append(
            (column_name, data_type, is_nullable)
        )
    keys = {
        f"{schema_name}.{table_name}": tuple(key)
        for schema_name, table_name, key in con.execute(
            """
            SELECT schema_name, table_name, constraint_column_names
            FROM duckdb_constraints()
            WHERE database_name = current_database() AND schema_name IN ($core, $audit)
              AND constraint_type = 'PRIMARY KEY'
            """,
            {"core": CORE_SCHEMA, "audit": AUDIT_SCHEMA},
        ).fetchall()
    }
    return {
        name: TableDefinition(tuple(cols), keys.get(name, ())) for name, cols in columns.items()
    }


def stored_definitions(con: duckdb.DuckDBPyConnection) -> dict[str, TableDefinition] | None:
    """The definitions recorded in ``audit.schema_version``; None for a new, empty warehouse.

    Args:
        con: a connection to the warehouse.
    """
    exists = con.execute(
        """
        SELECT count(*) FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name = $audit
          AND table_name = 'schema_version'
        """,
        {"audit": AUDIT_SCHEMA},
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute("SELECT table_name, definition FROM audit.schema_version").fetchall()
    return {name: TableDefinition.from_json(text) for name, text in rows}


def ensure_schema(
    con: duckdb.DuckDBPyConnection,
    definitions: Mapping[str, CoreTable],
    *,
    full_refresh: bool = False,
) -> None:
    """Create the warehouse in a new file, or check that an existing one matches the code.

    A new file gets the schemas, the audit tables, every core table with its comments and the
    schema versions, in one transaction. An existing file must match the current definitions;
    only comments (view descriptions) are brought up to date in place.

    Args:
        con: a read-write connection to the warehouse, outside any transaction.
        definitions: the core tables by name.
        full_refresh: tolerate changed core tables: the coming full-refresh load rebuilds them.

    Raises:
        SchemaVersionError: core tables built from other views (unless ``full_refresh``), or audit
            tables that differ from ``sql/audit.sql`` (never rebuilt: they hold the run history).
        SchemaDefinitionError: the file holds core or audit tables but no schema versions.
    """
    stored = stored_definitions(con)
    if stored is None:
        if catalog_definitions(con):
            raise SchemaDefinitionError(
                "the database has core or audit tables but no audit.schema_version: "
                "it is not a chartetl warehouse, or an unversioned one; use a new file"
            )
        with transaction(con):
            _create_all(con, tuple(definitions.values()))
            _record_versions(con, expected_definitions(definitions))
        return
    check_audit_version(stored, expected_definitions(definitions))
    if full_refresh:
        return
    check_core_version(con, definitions)
    statements = _stale_comment_statements(con, definitions)
    if statements:
        with transaction(con):
            for statement in statements:
                con.execute(statement)


def check_audit_version(
    stored: Mapping[str, TableDefinition], expected: Mapping[str, TableDefinition]
) -> None:
    """Raise SchemaVersionError when the audit tables differ from ``sql/audit.sql``.

    Args:
        stored: the definitions in ``audit.schema_version``.
        expected: the definitions the current code creates.
    """
    problems = _differences(stored, expected, AUDIT_SCHEMA)
    if problems:
        raise SchemaVersionError(
            "the audit tables differ from warehouse/sql/audit.sql ("
            + "; ".join(problems)
            + "). They hold the run history and are never rebuilt automatically: migrate them "
            "(ALTER TABLE, then update audit.schema_version) or start a new warehouse file"
        )


def check_core_version(
    con: duckdb.DuckDBPyConnection, definitions: Mapping[str, CoreTable]
) -> None:
    """Raise SchemaVersionError when the core tables were built from other views.

    Args:
        con: a connection to the warehouse.
        definitions: the core tables by name, from the current views.
    """
    stored = stored_definitions(con) or {}
    problems = _differences(stored, expected_definitions(definitions), CORE_SCHEMA)
    if problems:
        raise SchemaVersionError(
            "the warehouse core tables were built from other view definitions ("
            + "; ".join(problems)
            + "). Loading would mis-load rows, so nothing was loaded: run a full refresh "
            "(chartetl run --full; full_refresh=True in Python), which rebuilds every core table "
            "from the current views and reloads every input file"
        )


def rebuild_core(
    con: duckdb.DuckDBPyConnection, definitions: Mapping[str, CoreTable]
) -> dict[str, int]:
    """Drop every core table and create the current ones, inside the caller's transaction.

    Args:
        con: a read-write connection with an open transaction (a failed load rolls it back).
        definitions: the core tables by name.

    Returns:
        The number of rows each current table held before, by table name (0 for new tables).
    """
    existing = [
        name
        for (name,) in con.execute(
            """
            SELECT table_name FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = $core
            """,
            {"core": CORE_SCHEMA},
        ).fetchall()
    ]
    previous = {}
    for name in existing:
        table = f"{CORE_SCHEMA}.{quote_identifier(name)}"
        previous[name] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute(f"DROP TABLE {table}")
    for table in definitions.values():
        _create_core_table(con, table)
    con.execute(
        "DELETE FROM audit.schema_version WHERE table_name LIKE $prefix",
        {"prefix": f"{CORE_SCHEMA}.%"},
    )
    expected = expected_definitions(definitions)
    _record_versions(con, {n: d for n, d in expected.items() if n.startswith(f"{CORE_SCHEMA}.")})
    return {name: previous.get(name, 0) for name in definitions}


def _create_all(con: duckdb.DuckDBPyConnection, tables: tuple[CoreTable, ...]) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {CORE_SCHEMA}")
    con.execute((SQL_DIR / "audit.sql").read_text(encoding="utf-8"))
    for table in tables:
        _create_core_table(con, table)


def _create_core_table(con: duckdb.DuckDBPyConnection, table: CoreTable) -> None:
    con.execute(table.create_statement())
    for column, text in table.comments().items():
        con.execute(table.comment_statement(column, text))


def _record_versions(
    con: duckdb.DuckDBPyConnection, definitions: Mapping[str, TableDefinition]
) -> None:
    created_at = utc_now()
    con.executemany(
        "INSERT INTO audit.schema_version (table_name, definition, created_at) VALUES (?, ?, ?)",
        [
            (name, definition.to_json(), created_at)
            for name, definition in sorted(definitions.items())
        ],
    )


def _differences(
    stored: Mapping[str, TableDefinition], expected: Mapping[str, TableDefinition], schema: str
) -> list[str]:
    prefix = f"{schema}."
    stored = {n: d for n, d in stored.items() if n.startswith(prefix)}
    expected = {n: d for n, d in expected.items() if n.startswith(prefix)}
    problems = [f"{name} is new" for name in sorted(expected.keys() - stored.keys())]
    problems += [f"{name} is no longer defined" for name in sorted(stored.keys() - expected.keys())]
    problems += [
        f"{name}: {stored[name].changes_to(expected[name])}"
        for name in sorted(expected.keys() & stored.keys())
        if stored[name] != expected[name]
    ]
    return problems


def _stale_comment_statements(
    con: duckdb.DuckDBPyConnection, definitions: Mapping[str, CoreTable]
) -> list[str]:
    # Comments come from view descriptions, which may change without changing any column: bring
    # them up to date instead of demanding a rebuild.
    current = {
        (table, column): comment
        for table, column, comment in con.execute(
            """
            SELECT table_name, NULL, comment FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = $core
            UNION ALL
            SELECT table_name, column_name, comment FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = $core
            """,
            {"core": CORE_SCHEMA},
        ).fetchall()
    }
    return [
        table.comment_statement(column, text)
        for table in definitions.values()
        for column, text in table.comments().items()
        if current.get((table.name, column)) != text
    ]
