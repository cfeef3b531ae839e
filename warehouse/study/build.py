"""Build the study tables: config, COMPASS-31 scores, the SQL models of sql/study/, the tests."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from transforms.compass31 import DOMAIN_CODES, SCORER_VERSION, score_answers, score_item_table
from transforms.study_statistics import compare_timepoints

from ..errors import WarehouseError
from ..sqltools import quote_identifier, quote_literal
from .config import StudyConfig, load_study_config

STUDY_SCHEMA = "study"
_log = logging.getLogger(__name__)
MODELS_DIR = Path(__file__).resolve().parents[1] / "sql" / "study"
DOCS_FILE = MODELS_DIR / "schema.yaml"

COMPARISONS = (
    ("initial_vs_prescription", "initial", "prescription"),
    ("prescription_vs_followup", "prescription", "follow_up"),
)
"""study.tests comparisons: name, timepoint a, timepoint b (published: Student's t of each)."""

SCORES = ("total", *(code.lower() for code in DOMAIN_CODES))
"""The COMPASS-31 scores compared: total, then the domains in reporting order."""

_MODEL_FILE = re.compile(r"(\d+)_([a-z][a-z0-9_]*)\.sql")

# The day counts of the definitions (follow-up window, questionnaire window, doses and side
# effects "on or before" the follow-up) need dates: profiles ED (shifted) and LDS keep them,
# profile SH keeps years only.
_DATE_COLUMNS = (
    ("visits", "start_date"),
    ("meds", "authored_date"),
    ("questionnaire_responses", "authored_date"),
    ("observations", "effective_date"),
    ("adverse_events", "event_date"),
)


class StudyBuildError(WarehouseError):
    """The database is no chartetl warehouse: the core tables the study reads are missing."""


@dataclass(frozen=True)
class StudyModel:
    """One SQL model: the table study.<name> is built from the SELECT in its file."""

    number: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        """The model's SELECT statement."""
        return self.path.read_text(encoding="utf-8")


def study_models(models_dir: Path = MODELS_DIR) -> tuple[StudyModel, ...]:
    """The SQL models in build order (the file name's number), e.g. ``03_screening.sql``."""
    models = []
    for path in models_dir.glob("*.sql"):
        match = _MODEL_FILE.fullmatch(path.name)
        if match:
            models.append(StudyModel(int(match[1]), match[2], path))
    return tuple(sorted(models, key=lambda model: (model.number, model.name)))


def study_table_names() -> tuple[str, ...]:
    """Every table build_study creates, in build order."""
    return (
        "config_lists",
        "config_codes",
        "config_parameters",
        "compass31_scores",
        *(model.name for model in study_models()),
        "tests",
    )


def build_study(
    con: duckdb.DuckDBPyConnection, config: StudyConfig | None = None
) -> dict[str, int]:
    """(Re)create every study table from the core tables of the warehouse.

    Every table is rebuilt from the whole warehouse (CREATE OR REPLACE), in this order: the
    config tables, study.compass31_scores (scored in Python), the SQL models of
    ``warehouse/sql/study`` (file order), study.tests; then the table and column comments.

    Runs inside the caller's open transaction when there is one (the nightly load calls it
    after the MERGE and the data-quality gate, before COMMIT, so the study publishes with the
    load or not at all): it never begins, commits or checkpoints that transaction. Called
    outside a transaction it opens and commits its own, so it is all-or-nothing either way.

    A warehouse whose core dates are years (profile SH) cannot give the study's day windows:
    then no study table is built, any left from an earlier profile are dropped, a warning is
    logged and the result is empty.

    Args:
        con: a read-write connection to a warehouse with the core tables.
        config: the study config; None for the shipped ``warehouse/study/ldn.yaml``.

    Returns:
        Rows per study table, by table name (without the schema), in build order; empty when
        the warehouse holds years instead of dates.

    Raises:
        StudyConfigError: the shipped config is invalid (when config is None).
        StudyBuildError: the core tables are missing; raised before anything is written.
        duckdb.Error: a model failed; nothing of the build is left behind when it ran in its
            own transaction, and the caller's transaction is left to the caller to roll back.
    """
    config = load_study_config() if config is None else config
    no_dates = _why_no_dates(con)
    if no_dates is not None:
        # Not an error: profile SH is a valid way to run the warehouse, and the load must not
        # fail over it. Study tables left from an earlier profile would hold finer dates.
        _log.warning("study tables not built: %s", no_dates)
        with _transaction_unless_open(con):
            con.execute(f"DROP SCHEMA IF EXISTS {STUDY_SCHEMA} CASCADE")
        return {}
    with _transaction_unless_open(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {STUDY_SCHEMA}")
        _write_config(con, config)
        con.execute((MODELS_DIR / "macros.sql").read_text(encoding="utf-8"))
        _replace_table(con, "compass31_scores", compass31_scores(con, config))
        for model in study_models():
            con.execute(f"CREATE OR REPLACE TABLE {_table(model.name)} AS\n{model.sql}")
        _replace_table(con, "tests", study_tests(con))
        _comment_tables(con)
        return {
            name: con.execute(f"SELECT count(*) FROM {_table(name)}").fetchall()[0][0]
            for name in study_table_names()
        }


def _why_no_dates(con: duckdb.DuckDBPyConnection) -> str | None:
    """None when the core tables hold dates; else why the study cannot be built on them."""
    types = dict(
        ((table, column), data_type)
        for table, column, data_type in con.execute(
            """
            SELECT table_name, column_name, data_type FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'core'
            """
        ).fetchall()
    )
    for table, column in _DATE_COLUMNS:
        data_type = types.get((table, column))
        if data_type is None:
            raise StudyBuildError(
                f"core.{table}.{column} does not exist: the study is built on a chartetl "
                "warehouse (open_warehouse creates the core tables)"
            )
        if data_type != "DATE":
            return (
                f"core.{table}.{column} is {data_type}, not DATE: the study's day windows need "
                "dates, which profiles ED and LDS keep and profile SH reduces to years"
            )
    return None


@contextmanager
def _transaction_unless_open(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    # DuckDB has no "am I in a transaction" call, and a failed BEGIN aborts the open one. In
    # auto-commit mode every statement runs in a transaction of its own, so two statements see
    # two transaction ids; inside BEGIN .. COMMIT they see the same one.
    first = con.execute("SELECT txid_current()").fetchall()[0][0]
    second = con.execute("SELECT txid_current()").fetchall()[0][0]
    if first == second:
        yield
        return
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _table(name: str) -> str:
    return f"{STUDY_SCHEMA}.{quote_identifier(name)}"


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    # Through Arrow rather than executemany: no row-at-a-time inserts, and an empty table is
    # still a table with its columns and types.
    view = f"_study_{name}"
    con.register(view, table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {_table(name)} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _write_config(con: duckdb.DuckDBPyConnection, config: StudyConfig) -> None:
    lists = config.list_rows()
    _replace_table(
        con,
        "config_lists",
        pa.table(
            {
                name: pa.array([row[i] for row in lists], data_type)
                for i, (name, data_type) in enumerate(
                    (
                        ("list_name", pa.string()),
                        ("list_number", pa.int32()),
                        ("label", pa.string()),
                        ("description", pa.string()),
                        ("codes", pa.int32()),
                    )
                )
            }
        ),
    )
    codes = config.code_rows()
    _replace_table(
        con,
        "config_codes",
        pa.table(
            {
                name: pa.array([row[i] for row in codes], data_type)
                for i, (name, data_type) in enumerate(
                    (
                        ("list_name", pa.string()),
                        ("system", pa.string()),
                        ("code", pa.string()),
                        ("match", pa.string()),
                        ("display_pattern", pa.string()),
                        ("position", pa.int32()),
                    )
                )
            }
        ),
    )
    parameters = config.parameter_rows()
    _replace_table(
        con,
        "config_parameters",
        pa.table(
            {
                "name": pa.array([name for name, _ in parameters], pa.string()),
                "value": pa.array([value for _, value in parameters], pa.string()),
            }
        ),
    )


COMPASS31_SCORES_SCHEMA = pa.schema(
    [
        ("response_id", pa.string()),
        ("patient_id", pa.string()),
        ("visit_id", pa.string()),
        ("questionnaire", pa.string()),
        ("authored_date", pa.date32()),
        ("status", pa.string()),
        ("score_source", pa.string()),
        ("answered_items", pa.int32()),
        *((f"raw_{code.lower()}", pa.int32()) for code in DOMAIN_CODES),
        *((f"weighted_{code.lower()}", pa.float64()) for code in DOMAIN_CODES),
        ("total", pa.float64()),
        ("total_rounded", pa.float64()),
        ("incomplete", pa.bool_()),
        ("missing_items", pa.list_(pa.int32())),
        ("invalid_items", pa.list_(pa.int32())),
        ("stray_follow_ups", pa.list_(pa.int32())),
        ("warnings", pa.list_(pa.string())),
        ("unknown_link_ids", pa.int32()),
        ("scorer_version", pa.string()),
    ]
)
"""Columns of study.compass31_scores."""


def compass31_scores(con: duckdb.DuckDBPyConnection, config: StudyConfig) -> pa.Table:
    """Score every COMPASS-31 response in core (questionnaire canonical in the config).

    Items are scored with transforms.compass31 (exact weights, the M1-M4 missing-data rules of
    the config's policy). A response with no COMPASS-31 item but a numeric answer to the
    config's reported-total linkId keeps that total as sent (score_source 'reported_total',
    domains NULL); a response with neither is 'no_items' (every score NULL).

    Args:
        con: a connection to the warehouse.
        config: the study config.

    Returns:
        One row per response, COMPASS31_SCORES_SCHEMA columns, ordered by response_id.
    """
    parameters = config.parameters
    prefix = parameters.compass31_link_id_prefix
    responses = con.execute(
        """
        SELECT response_id, patient_id, visit_id, questionnaire, authored_date, status
        FROM core.questionnaire_responses
        WHERE list_contains($canonicals, split_part(questionnaire, '|', 1))
        ORDER BY response_id
        """,
        {"canonicals": list(config.compass31_canonicals)},
    ).fetchall()
    items = con.execute(
        """
        SELECT items.response_id, items.link_id, items.answer_code, items.answer_value
        FROM core.questionnaire_items AS items
        INNER JOIN core.questionnaire_responses AS responses USING (response_id)
        WHERE list_contains($canonicals, split_part(responses.questionnaire, '|', 1))
        ORDER BY items.response_id, items.link_id, items.answer_index
        """,
        {"canonicals": list(config.compass31_canonicals)},
    ).fetchall()
    item_link_ids = {f"{prefix}{number}" for number in range(1, 32)}
    total_link_id = parameters.compass31_reported_total_link_id
    answered: dict[str, set[str]] = {}
    reported_totals: dict[str, float] = {}
    for response_id, link_id, _, value in items:
        if link_id in item_link_ids:
            answered.setdefault(response_id, set()).add(link_id)
        elif link_id == total_link_id and value is not None:
            reported_totals[response_id] = float(value)
    scores = score_item_table(
        (row for row in items if row[1] != total_link_id),
        prefix,
        missing_follow_up=parameters.compass31_missing_follow_up,
    )
    empty = score_answers({}, missing_follow_up=parameters.compass31_missing_follow_up)
    columns: dict[str, list] = {field.name: [] for field in COMPASS31_SCORES_SCHEMA}
    for response_id, patient_id, visit_id, questionnaire, authored, status in responses:
        score = scores.get(response_id, empty)
        if response_id in answered:
            source = "items"
        elif response_id in reported_totals:
            source = "reported_total"
        else:
            source = "no_items"
        row = {
            "response_id": response_id,
            "patient_id": patient_id,
            "visit_id": visit_id,
            "questionnaire": questionnaire,
            "authored_date": authored,
            "status": status,
            "score_source": source,
            "answered_items": len(answered.get(response_id, ())),
            "incomplete": score.incomplete,
            "missing_items": list(score.missing_items),
            "invalid_items": list(score.invalid_items),
            "stray_follow_ups": list(score.stray_follow_ups),
            "warnings": list(score.warnings),
            "unknown_link_ids": score.unknown_link_ids,
            "scorer_version": SCORER_VERSION,
        }
        for code in DOMAIN_CODES:
            weighted = score.weighted[code]
            row[f"raw_{code.lower()}"] = score.raw[code]
            row[f"weighted_{code.lower()}"] = None if weighted is None else float(weighted)
        if source == "reported_total":
            row["total"] = row["total_rounded"] = reported_totals[response_id]
        else:
            row["total"] = None if score.total is None else float(score.total)
            row["total_rounded"] = score.total_rounded
        for name, values in columns.items():
            values.append(row[name])
    return pa.table(columns, schema=COMPASS31_SCORES_SCHEMA)


STUDY_TESTS_SCHEMA = pa.schema(
    [
        ("comparison", pa.string()),
        ("score", pa.string()),
        ("timepoint_a", pa.string()),
        ("timepoint_b", pa.string()),
        ("n", pa.int64()),
        ("n_a", pa.int64()),
        ("n_b", pa.int64()),
        ("mean_a", pa.float64()),
        ("sd_a", pa.float64()),
        ("mean_b", pa.float64()),
        ("sd_b", pa.float64()),
        ("mean_difference", pa.float64()),
        ("mean_paired_difference", pa.float64()),
        ("sd_paired_difference", pa.float64()),
        ("t_student", pa.float64()),
        ("p_student", pa.float64()),
        ("t_paired", pa.float64()),
        ("p_paired", pa.float64()),
        ("w_wilcoxon", pa.float64()),
        ("p_wilcoxon", pa.float64()),
        ("note", pa.string()),
    ]
)
"""Columns of study.tests."""


def study_tests(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Compare the COMPASS-31 scores between timepoints (study.compass31_by_timepoint).

    A patient whose two timepoints are one visit (LDN written at the first autonomic visit:
    study.timepoints.same_visit_as_prescription) has one COMPASS-31 for both; that value is left
    out at timepoint a, so the paired tests get no zero-difference pair from it and Student's
    test does not count it twice. The note says how many patients were left out.

    Args:
        con: a connection where study.compass31_by_timepoint exists.

    Returns:
        One row per comparison x score (COMPARISONS x SCORES), STUDY_TESTS_SCHEMA columns.
    """
    score_columns = ", ".join(SCORES)
    rows = con.execute(
        f"""
        SELECT patient_id, timepoint, visit_id, {score_columns}
        FROM {_table("compass31_by_timepoint")}
        ORDER BY patient_id, timepoint_number
        """
    ).fetchall()
    values: dict[tuple[str, str], dict[str, float | None]] = {}
    visits: dict[tuple[str, str], str | None] = {}
    for patient_id, timepoint, visit_id, *scores in rows:
        values[(patient_id, timepoint)] = dict(zip(SCORES, scores, strict=True))
        visits[(patient_id, timepoint)] = visit_id
    patients = sorted({patient_id for patient_id, _ in values})
    columns: dict[str, list] = {field.name: [] for field in STUDY_TESTS_SCHEMA}
    for comparison, timepoint_a, timepoint_b in COMPARISONS:
        one_visit = {
            patient_id
            for patient_id in patients
            if visits.get((patient_id, timepoint_a)) is not None
            and visits.get((patient_id, timepoint_a)) == visits.get((patient_id, timepoint_b))
        }
        for score in SCORES:
            pairs = []
            left_out = 0
            for patient_id in patients:
                value_a = values.get((patient_id, timepoint_a), {}).get(score)
                value_b = values.get((patient_id, timepoint_b), {}).get(score)
                if patient_id in one_visit and value_a is not None:
                    value_a = None
                    left_out += 1
                pairs.append((value_a, value_b))
            result = compare_timepoints(pairs)
            notes = [result.note] if result.note else []
            if left_out:
                notes.insert(
                    0,
                    f"{left_out} patient(s) left out at {timepoint_a}: the {timepoint_a} visit "
                    f"is the {timepoint_b} visit (one COMPASS-31 for both)",
                )
            row = {
                "comparison": comparison,
                "score": score,
                "timepoint_a": timepoint_a,
                "timepoint_b": timepoint_b,
                **{name: getattr(result, name) for name in result.__dataclass_fields__},
                "note": "; ".join(notes) or None,
            }
            for name, column in columns.items():
                column.append(row[name])
    return pa.table(columns, schema=STUDY_TESTS_SCHEMA)


@cache
def study_table_docs() -> dict[str, dict]:
    """Table -> {"description": text, "columns": {column: text}} from sql/study/schema.yaml."""
    return yaml.safe_load(DOCS_FILE.read_text(encoding="utf-8"))["tables"]


def _comment_tables(con: duckdb.DuckDBPyConnection) -> None:
    present = {
        (table, column)
        for table, column in con.execute(
            """
            SELECT table_name, column_name FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = $schema
            """,
            {"schema": STUDY_SCHEMA},
        ).fetchall()
    }
    tables = {table for table, _ in present}
    for table, docs in study_table_docs().items():
        if table not in tables:
            continue
        con.execute(f"COMMENT ON TABLE {_table(table)} IS {quote_literal(docs['description'])}")
        for column, text in docs.get("columns", {}).items():
            if (table, column) in present:
                con.execute(
                    f"COMMENT ON COLUMN {_table(table)}.{quote_identifier(column)} "
                    f"IS {quote_literal(text)}"
                )
