"""Data-quality checks: the validated catalogue, the SQL runner and the audit rows it writes."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from warehouse import core_tables, transaction
from warehouse.sqltools import quote_identifier, quote_literal
from warehouse.study import STUDY_SCHEMA, study_table_docs

CATALOGUE_PATH = Path(__file__).resolve().parent / "catalogue.yaml"
CHECKS_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "sql" / "checks"

KAHN_CONTEXTS = ("verification", "validation")
# Kahn et al. 2016 (eGEMs 4(1):1244): completeness has no subcategory.
SUBCATEGORIES: dict[str, tuple[str | None, ...]] = {
    "conformance": ("value", "relational", "computational"),
    "completeness": (None,),
    "plausibility": ("atemporal", "temporal", "uniqueness"),
}
SEVERITIES = ("fatal", "warning")
KINDS = ("sql", "gx")
STATUSES = ("passed", "failed", "not_applicable", "error")
# At most this many offending keys are kept per check (audit.check_violations); counts stay exact.
MAX_VIOLATING_KEYS = 100
# Positional parts of composite keys: an index within a resource, never a clinical value.
POSITION_KEY_COLUMNS = ("answer_index", "value_index", "content_index")

_FIELDS = (
    "id",
    "table",
    "column",
    "description",
    "rationale",
    "kahn_context",
    "category",
    "subcategory",
    "severity",
    "threshold_pct",
    "kind",
)
# Fields of one kind only; an entry of the other kind leaves them out (or null).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "sql": ("sql", "denominator"),
    "gx": ("expectation", "kwargs"),
}
# Expectation arguments that name the columns judged, by how GX spells them.
GX_COLUMN_ARGUMENTS = ("column", "column_list", "column_A", "column_B")
# Arguments a catalogue entry may not set: the threshold is threshold_pct (not GX's ``mostly``),
# every row of the batch is judged (no row_condition), and the runner alone picks the result
# format, because a richer one copies values into the results.
GX_RESERVED_ARGUMENTS = ("batch_id", "mostly", "row_condition", "condition_parser", "result_format")
_ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

_RESULTS_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.check_results (
    run_id          VARCHAR  NOT NULL,
    check_id        VARCHAR  NOT NULL,  -- expectations/catalogue.yaml id
    status          VARCHAR  NOT NULL
        CHECK (status IN ('passed', 'failed', 'not_applicable', 'error')),
    severity        VARCHAR  NOT NULL CHECK (severity IN ('fatal', 'warning')),
    rows_checked    BIGINT,             -- NULL when the check could not run
    rows_violating  BIGINT,
    pct             DOUBLE,             -- 100 * rows_violating / rows_checked
    threshold_pct   DOUBLE   NOT NULL,
    error_class     VARCHAR,            -- exception class only: messages can quote data
    PRIMARY KEY (run_id, check_id)
);
COMMENT ON TABLE audit.check_results IS
    'Data-quality check outcomes per run: counts and status only, never values or keys.';
"""
# Apart from _RESULTS_DDL: the data dictionary lists the audit tables that DDL creates.
_VIOLATIONS_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.check_violations (
    run_id      VARCHAR  NOT NULL,
    check_id    VARCHAR  NOT NULL,  -- expectations/catalogue.yaml id
    row_number  INTEGER  NOT NULL,  -- 1.. in the check's key order (ORDER BY ALL)
    key_json    JSON     NOT NULL,  -- {"column": pseudonym or index, ...}, in the check's order
    PRIMARY KEY (run_id, check_id, row_number)
);
COMMENT ON TABLE audit.check_violations IS
    'Offending keys of failed SQL data-quality checks, up to 100 per check and run, for data '
    'engineers: pseudonymous ids and positional indexes only, never values, codes or text. '
    'Not shown in the auditors'' run report, which keeps counts only.';
"""


class CatalogueError(ValueError):
    """The check catalogue is malformed: the message names the check and the field."""


class KeyColumnError(CatalogueError):
    """A check returns a column that is no pseudonymous id or positional index."""


@dataclass(frozen=True)
class Check:
    """One catalogue entry (field meanings: the header of ``expectations/catalogue.yaml``).

    A check of kind ``sql`` has ``sql`` and ``denominator`` and no ``expectation``/``kwargs``; a
    check of kind ``gx`` (a Great Expectations expectation on the staged batch, run by
    ``expectations.gx_suites``) the other way round.
    """

    id: str
    table: str
    column: str | None
    description: str
    rationale: str
    kahn_context: str
    category: str
    subcategory: str | None
    severity: str
    threshold_pct: float
    kind: str
    sql: str | None
    denominator: str | None
    checks_dir: Path = CHECKS_DIR
    expectation: str | None = None
    # A plain dict (picklable for task runners); left out of the hash since it is not hashable.
    kwargs: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def is_study_check(self) -> bool:
        """Whether the check judges a study table (run after the study build, not before)."""
        return self.table.startswith(f"{STUDY_SCHEMA}.")

    @property
    def sql_path(self) -> Path | None:
        """The SQL file returning the offending rows' keys; None for a gx check."""
        return None if self.sql is None else self.checks_dir / self.sql

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the check names (``column``, split at commas); empty when it names none."""
        if self.column is None:
            return ()
        return tuple(name.strip() for name in self.column.split(","))

    def violation_query(self) -> str:
        """The check's SELECT, ready to wrap in a subquery (sql checks only)."""
        return _strip_statement(self._sql_file().read_text(encoding="utf-8"))

    def denominator_query(self) -> str:
        """A SELECT of the rows the check judges: a whole table or a ``denominators/`` query."""
        if self.denominator is None:
            raise TypeError(f"check {self.id!r} is of kind {self.kind}: it has no denominator")
        if self.denominator.endswith(".sql"):
            return _strip_statement((self.checks_dir / self.denominator).read_text("utf-8"))
        return f"SELECT * FROM {quote_identifier(self.denominator)}"

    def _sql_file(self) -> Path:
        if self.sql_path is None:
            raise TypeError(f"check {self.id!r} is of kind {self.kind}: it has no SQL")
        return self.sql_path


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check in one run.

    Attributes:
        check_id: the catalogue id.
        status: passed, failed, not_applicable (nothing to check) or error (the check could not
            run).
        severity: fatal or warning, from the catalogue.
        rows_checked: rows in the check's denominator (gx: the batch's rows the expectation
            judged); None on error.
        rows_violating: rows the check returned (gx: GX's unexpected_count); None on error.
        pct: 100 * rows_violating / rows_checked; None when not applicable or on error.
        threshold_pct: the share of rows allowed to violate.
        key_columns: names of the key columns the check returns.
        violating_keys: up to MAX_VIOLATING_KEYS offending keys (pseudonymous ids and
            positional indexes, as text), sorted; always empty for gx checks. ``record_results``
            stores them in ``audit.check_violations`` when the check failed.
        error_class: the exception class when status is error; its message is withheld because
            DuckDB and GX messages can quote the data.
    """

    check_id: str
    status: str
    severity: str
    rows_checked: int | None
    rows_violating: int | None
    pct: float | None
    threshold_pct: float
    key_columns: tuple[str, ...] = ()
    violating_keys: tuple[tuple[str | None, ...], ...] = ()
    error_class: str | None = None


def load_catalogue(path: Path = CATALOGUE_PATH, checks_dir: Path = CHECKS_DIR) -> list[Check]:
    """Read and validate the check catalogue.

    Args:
        path: the catalogue YAML file.
        checks_dir: the folder holding the SQL files the catalogue names.

    Raises:
        CatalogueError: missing or unknown fields, a duplicate or malformed id, an unknown enum
            value, table or column, a threshold outside 0-100, a missing SQL file, a field of
            the other kind, or (kind gx) an unknown or non row-level expectation or arguments
            it does not accept. Validating gx entries imports Great Expectations (about 3 s).
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise CatalogueError(f"{path}: expected a mapping with a 'checks' list")
    tables = {name: set(table.column_names) for name, table in core_tables().items()}
    # study checks name their tables with the schema; they judge the study build
    tables |= {
        f"{STUDY_SCHEMA}.{name}": set(docs["columns"]) for name, docs in study_table_docs().items()
    }
    checks: list[Check] = []
    seen: set[str] = set()
    for number, entry in enumerate(data["checks"], start=1):
        check = _parse_entry(entry, number, Path(checks_dir), tables)
        if check.id in seen:
            raise CatalogueError(f"check {check.id!r}: duplicate id")
        seen.add(check.id)
        checks.append(check)
    return checks


def run_sql_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    checks: Sequence[Check] | None = None,
    schema: str = "core",
    run_date: dt.date | None = None,
) -> list[CheckResult]:
    """Run the SQL checks against one schema and record the outcomes in ``audit.check_results``.

    Rows already recorded for ``run_id`` and these checks are replaced.

    Args:
        con: a read-write connection outside any transaction.
        run_id: the run the results belong to (audit.runs.run_id).
        checks: the checks to run (default: the catalogue's SQL checks; gx checks are
            skipped, they run on the staged batch through ``expectations.gx_suites``).
        schema: the schema whose tables are checked.
        run_date: the date future-date checks compare with (default: today, UTC).
    """
    results = evaluate_sql_checks(con, checks=checks, schema=schema, run_date=run_date)
    record_results(con, run_id, results)
    return results


def evaluate_sql_checks(
    con: duckdb.DuckDBPyConnection,
    *,
    checks: Sequence[Check] | None = None,
    schema: str = "core",
    run_date: dt.date | None = None,
) -> list[CheckResult]:
    """Run the SQL checks against one schema without recording anything.

    Check files name tables without a schema: the search path points them at ``schema``, so the
    same files judge the warehouse (``core``) or staged rows in another schema with the same
    tables. Only reads and session settings: safe inside an open transaction (the load's gate).

    Args:
        con: a connection to the database holding ``schema``.
        checks: the checks to run (default: the catalogue's SQL checks; gx checks are
            skipped, they run on the staged batch through ``expectations.gx_suites``).
        schema: the schema whose tables are checked.
        run_date: the date future-date checks compare with (default: today, UTC).
    """
    checks = [c for c in (load_catalogue() if checks is None else checks) if c.kind == "sql"]
    run_date = run_date or dt.datetime.now(dt.UTC).date()
    previous_path = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    con.execute(f"SET search_path = {quote_literal(schema)}")
    con.execute("SET VARIABLE run_date = $run_date", {"run_date": run_date})
    try:
        return [_run_check(con, check) for check in checks]
    finally:
        con.execute(f"SET search_path = {quote_literal(previous_path)}")
        con.execute("RESET VARIABLE run_date")


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, results: Iterable[CheckResult]
) -> None:
    """Write results to ``audit.check_results`` and keys to ``audit.check_violations``.

    Both tables are created when missing; rows of the same run and check are replaced. The keys
    of a failed check (up to MAX_VIOLATING_KEYS) are stored; a check that passed, could not run
    or was not applicable stores none.

    Args:
        con: a read-write connection outside any transaction.
        run_id: the run the results belong to.
        results: the outcomes to record.

    Raises:
        KeyColumnError: a result's key columns include one that is no pseudonymous id or
            positional index (nothing is written).
    """
    results = list(results)
    violations = [
        (run_id, r.check_id, number, key_json)
        for r in results
        if r.status == "failed"
        for number, key_json in enumerate(_key_objects(r), start=1)
    ]
    con.execute(_RESULTS_DDL)
    con.execute(_VIOLATIONS_DDL)
    if not results:
        return  # executemany refuses an empty list
    with transaction(con):
        for table in ("check_results", "check_violations"):
            con.executemany(
                f"DELETE FROM audit.{table} WHERE run_id = ? AND check_id = ?",
                [(run_id, result.check_id) for result in results],
            )
        con.executemany(
            """
            INSERT INTO audit.check_results (run_id, check_id, status, severity, rows_checked,
                rows_violating, pct, threshold_pct, error_class)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                (
                    run_id,
                    r.check_id,
                    r.status,
                    r.severity,
                    r.rows_checked,
                    r.rows_violating,
                    r.pct,
                    r.threshold_pct,
                    r.error_class,
                )
                for r in results
            ],
        )
        if violations:
            con.executemany(
                "INSERT INTO audit.check_violations (run_id, check_id, row_number, key_json) "
                "VALUES (?, ?, ?, ?)",
                violations,
            )


def stored_violations(
    con: duckdb.DuckDBPyConnection, run_id: str, check_id: str
) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    """The offending keys stored for one check of one run, for data engineers.

    Args:
        con: a connection to the warehouse (read-only is enough).
        run_id: the run.
        check_id: the catalogue id of the check.

    Returns:
        The key column names and the keys in stored order (one tuple per key, indexes as
        integers); both empty when nothing is stored.
    """
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'audit' AND table_name = 'check_violations'"
    ).fetchall()[0][0]
    if not exists:
        return (), []
    rows = con.execute(
        "SELECT key_json FROM audit.check_violations WHERE run_id = ? AND check_id = ? "
        "ORDER BY row_number",
        [run_id, check_id],
    ).fetchall()
    objects = [json.loads(text) for (text,) in rows]
    columns = tuple(objects[0]) if objects else ()
    return columns, [tuple(obj.get(column) for column in columns) for obj in objects]


def allowed_key_columns() -> dict[str, str]:
    """The columns a SQL check may return, each with the DuckDB type family it must have.

    The pseudonymous id columns of the core tables (de-identification class ``pseudonym``) are
    text; the positional key parts (POSITION_KEY_COLUMNS) are integers. Anything else (a value,
    a code, a date, an input string such as a questionnaire linkId) is refused.
    """
    allowed = {
        column.name: "text"
        for table in core_tables().values()
        for column in table.columns
        if column.deid_class == "pseudonym"
    }
    return allowed | dict.fromkeys(POSITION_KEY_COLUMNS, "integer")


def check_key_columns(
    check_id: str, columns: Sequence[str], types: Sequence[str] | None = None
) -> None:
    """Raise KeyColumnError unless every column is an allowed key column (of the right type).

    Args:
        check_id: the check, named in the message.
        columns: the column names the check returns.
        types: their DuckDB type names, when known (a check's query result).
    """
    allowed = allowed_key_columns()
    problems = [name for name in columns if name not in allowed]
    if types is not None:
        problems += [
            f"{name} ({sql_type})"
            for name, sql_type in zip(columns, types, strict=True)
            if name in allowed and _type_family(sql_type) != allowed[name]
        ]
    if problems:
        raise KeyColumnError(
            f"check {check_id!r} returns columns it may not: {problems}. A check returns the "
            "offending rows' keys only: pseudonymous ids (text: "
            + ", ".join(sorted(name for name, kind in allowed.items() if kind == "text"))
            + ") and positional indexes (integers: "
            + ", ".join(POSITION_KEY_COLUMNS)
            + "); never a value, code, date or input string"
        )


def fatal_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The results that must stop the publish: fatal checks that failed or could not run.

    A fatal check that errored counts: its guarantee was not verified.

    Args:
        results: outcomes from ``run_sql_checks``.
    """
    return [r for r in results if r.severity == "fatal" and r.status in ("failed", "error")]


def _run_check(con: duckdb.DuckDBPyConnection, check: Check) -> CheckResult:
    if check.is_study_check and not _study_table_exists(con, check.table):
        # a warehouse without the study (profile SH, or no load succeeded yet): nothing to judge
        return CheckResult(
            check.id, "not_applicable", check.severity, 0, 0, None, check.threshold_pct
        )
    try:
        violations = check.violation_query()
        rows_checked = _count(con, check.denominator_query())
        rows_violating = _count(con, violations)
        cursor = con.execute(
            f"SELECT * FROM (\n{violations}\n) ORDER BY ALL LIMIT {MAX_VIOLATING_KEYS}"
        )
        key_columns = tuple(column[0] for column in cursor.description)
        # Before any key is kept: a check returning a value is a definition error, whatever the
        # data (the columns do not depend on the rows), so it stops the run rather than erring.
        check_key_columns(check.id, key_columns, [str(column[1]) for column in cursor.description])
        keys = tuple(
            tuple(None if value is None else str(value) for value in row)
            for row in cursor.fetchall()
        )
    except (duckdb.Error, OSError) as exc:
        # Only the class: DuckDB messages can quote values (e.g. a failed cast shows the text).
        return CheckResult(
            check.id,
            "error",
            check.severity,
            None,
            None,
            None,
            check.threshold_pct,
            error_class=type(exc).__name__,
        )
    if rows_checked == 0 and rows_violating == 0:
        status, pct = "not_applicable", None
    else:
        # A violation without a checked row means the denominator misses part of the scope.
        pct = 100.0 * rows_violating / rows_checked if rows_checked else 100.0
        status = "passed" if pct <= check.threshold_pct else "failed"
    return CheckResult(
        check.id,
        status,
        check.severity,
        rows_checked,
        rows_violating,
        pct,
        check.threshold_pct,
        key_columns,
        keys,
    )


def _study_table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".", 1)
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def _key_objects(result: CheckResult) -> list[str]:
    # One JSON object per key: column names travel with the values, indexes stay numbers.
    if not result.violating_keys:
        return []
    check_key_columns(result.check_id, result.key_columns)
    return [
        json.dumps(
            {
                column: int(value)
                if value is not None and column in POSITION_KEY_COLUMNS
                else value
                for column, value in zip(result.key_columns, key, strict=True)
            }
        )
        for key in result.violating_keys
    ]


def _type_family(sql_type: str) -> str:
    if sql_type == "VARCHAR":
        return "text"
    if sql_type in _INTEGER_TYPES:
        return "integer"
    return sql_type


_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return con.execute(f"SELECT count(*) FROM (\n{query}\n)").fetchall()[0][0]


def _strip_statement(text: str) -> str:
    # The files are single SELECTs; a trailing semicolon would break the wrapping subquery.
    return text.strip().rstrip(";").rstrip()


def _parse_entry(
    entry: object, number: int, checks_dir: Path, tables: dict[str, set[str]]
) -> Check:
    if not isinstance(entry, dict):
        raise CatalogueError(f"check #{number}: expected a mapping")
    label = f"check {entry.get('id', f'#{number}')!r}"
    if missing := [name for name in _FIELDS if name not in entry]:
        raise CatalogueError(f"{label}: missing fields {missing}")
    known = set(_FIELDS).union(*KIND_FIELDS.values())
    if unknown := sorted(set(entry) - known):
        raise CatalogueError(f"{label}: unknown fields {unknown}")
    for name in ("id", "table", "description", "rationale"):
        if not isinstance(entry[name], str) or not entry[name].strip():
            raise CatalogueError(f"{label}: {name} must be a non-empty string")
    if not _ID_PATTERN.fullmatch(entry["id"]):
        raise CatalogueError(f"{label}: id must be lower_snake_case")
    _require_choice(label, "kahn_context", entry["kahn_context"], KAHN_CONTEXTS)
    _require_choice(label, "category", entry["category"], tuple(SUBCATEGORIES))
    _require_choice(label, "subcategory", entry["subcategory"], SUBCATEGORIES[entry["category"]])
    _require_choice(label, "severity", entry["severity"], SEVERITIES)
    _require_choice(label, "kind", entry["kind"], KINDS)
    kind = entry["kind"]
    if missing := [name for name in KIND_FIELDS[kind] if name not in entry]:
        raise CatalogueError(f"{label}: missing fields {missing}")
    for other, names in KIND_FIELDS.items():
        for name in names:
            if other != kind and entry.get(name) is not None:
                raise CatalogueError(
                    f"{label}: {name} is for {other} checks; a {kind} check has none"
                )
    threshold = entry["threshold_pct"]
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 <= threshold <= 100
    ):
        raise CatalogueError(f"{label}: threshold_pct must be a number within 0-100")
    if entry["table"] not in tables:
        raise CatalogueError(f"{label}: unknown table {entry['table']!r}")
    if entry["column"] is not None:
        columns = [c.strip() for c in str(entry["column"]).split(",")]
        if unknown_columns := [c for c in columns if c not in tables[entry["table"]]]:
            raise CatalogueError(f"{label}: {entry['table']} has no column {unknown_columns}")
    if kind == "sql":
        _validate_sql_entry(label, entry, checks_dir, tables)
    elif entry["table"].startswith(f"{STUDY_SCHEMA}."):
        raise CatalogueError(f"{label}: gx checks judge the staged batch, not study tables")
    else:
        _validate_gx_entry(label, entry, tables[entry["table"]])
    return Check(
        **{name: entry[name] for name in _FIELDS if name != "threshold_pct"},
        threshold_pct=float(threshold),
        sql=entry.get("sql"),
        denominator=entry.get("denominator"),
        checks_dir=checks_dir,
        expectation=entry.get("expectation"),
        kwargs=None if entry.get("kwargs") is None else dict(entry["kwargs"]),
    )


def _validate_sql_entry(
    label: str, entry: dict, checks_dir: Path, tables: dict[str, set[str]]
) -> None:
    for name in KIND_FIELDS["sql"]:
        if not isinstance(entry[name], str) or not entry[name].strip():
            raise CatalogueError(f"{label}: {name} must be a non-empty string")
    # One check per file, named after the check, so a report row leads straight to its SQL.
    if entry["sql"] != f"{entry['id']}.sql":
        raise CatalogueError(f"{label}: sql must be {entry['id']}.sql")
    if not (checks_dir / entry["sql"]).is_file():
        raise CatalogueError(f"{label}: no SQL file {entry['sql']} in {checks_dir}")
    denominator = entry["denominator"]
    if denominator.endswith(".sql"):
        if not (checks_dir / denominator).is_file():
            raise CatalogueError(f"{label}: no denominator file {denominator} in {checks_dir}")
    elif denominator not in tables:
        raise CatalogueError(f"{label}: denominator {denominator!r} is no core table")


def _validate_gx_entry(label: str, entry: dict, table_columns: set[str]) -> None:
    name, kwargs = entry["expectation"], entry["kwargs"]
    if not isinstance(name, str) or not name.strip():
        raise CatalogueError(f"{label}: expectation must be a non-empty string")
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise CatalogueError(f"{label}: kwargs must be a mapping of argument names to values")
    expectation_class = _gx_row_level_expectations().get(name)
    if expectation_class is None:
        if name in _gx_all_expectations():
            raise CatalogueError(
                f"{label}: expectation {name!r} is not row-level: only GX map expectations "
                "report unexpected_count per row (aggregate ones report observed values, i.e. data)"
            )
        raise CatalogueError(f"{label}: expectation {name!r} is no Great Expectations expectation")
    accepted = set(expectation_class.domain_keys) | set(expectation_class.success_keys)
    if reserved := sorted(set(kwargs) & set(GX_RESERVED_ARGUMENTS)):
        raise CatalogueError(f"{label}: kwargs may not set {reserved}")
    if unknown := sorted(set(kwargs) - accepted):
        raise CatalogueError(f"{label}: kwargs {unknown} are no arguments of {name}")
    columns: list[str] = []
    for argument in GX_COLUMN_ARGUMENTS:
        value = kwargs.get(argument)
        if isinstance(value, str):
            columns.append(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            columns.extend(value)
        elif value is not None:
            raise CatalogueError(f"{label}: kwargs {argument} must name columns")
    if not columns:
        raise CatalogueError(f"{label}: kwargs name no column")
    if unknown_columns := [c for c in columns if c not in table_columns]:
        raise CatalogueError(f"{label}: {entry['table']} has no column {unknown_columns}")
    # The catalogue's column field is what DATA_QUALITY.md and the report show: it must agree.
    if entry["column"] != ", ".join(columns):
        raise CatalogueError(f"{label}: column must be {', '.join(columns)!r}, as in kwargs")
    try:
        expectation_class(**kwargs)
    except Exception as exc:  # pydantic's ValidationError and GX's own argument errors
        raise CatalogueError(f"{label}: kwargs do not fit {name}: {_argument_errors(exc)}") from exc


def _argument_errors(exc: Exception) -> str:
    # pydantic lists each bad argument; the values are catalogue settings, never data.
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
            for error in errors()
        )
    return f"{type(exc).__name__}: {exc}"


@cache
def _gx_all_expectations() -> dict[str, type]:
    """Every expectation class GX exports, by class name (imports GX once: about 3 s)."""
    from .gx_suites import import_great_expectations

    gx = import_great_expectations()
    return {
        name: value
        for name, value in vars(gx.expectations).items()
        if isinstance(value, type) and issubclass(value, gx.expectations.Expectation)
    }


@cache
def _gx_row_level_expectations() -> dict[str, type]:
    """The expectations judging rows one by one: their results count rows, not values."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    row_level = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    return {
        name: value
        for name, value in _gx_all_expectations().items()
        if issubclass(value, row_level)
    }


def _require_choice(label: str, field: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise CatalogueError(f"{label}: {field} {value!r} is not one of {list(allowed)}")
