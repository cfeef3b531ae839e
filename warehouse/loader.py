"""Loads one run's de-identified rows into the core tables: dedupe, MERGE, one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from .errors import LoadError, LoadInputError
from .schema import (
    SOURCE_LINEAGE,
    CoreTable,
    check_core_version,
    core_tables,
    rebuild_core,
)
from .sqltools import quote_identifier, transaction, utc_now

# Arrow columns may arrive in a narrower or wider type of the same family (DuckDB's year() gives
# BIGINT for an INTEGER column); the CAST then either converts exactly or fails inside the
# transaction (integer overflow). Families that would convert lossily or by parsing (DOUBLE to
# INTEGER, VARCHAR to DATE, TIMESTAMP to DATE) are refused up front.
_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)
_ACCEPTED_SOURCE_TYPES = {
    "INTEGER": _INTEGER_TYPES,
    "BIGINT": _INTEGER_TYPES,
    "DOUBLE": _INTEGER_TYPES | {"FLOAT", "DOUBLE"},
}
_NULL_TYPE = '"NULL"'  # an all-NULL Arrow column; fits any type
_POSITION = "_batch_position"
_BATCH_TABLE = "_chartetl_load_batch"
_DELIVERIES_TABLE = "_chartetl_load_deliveries"


@dataclass(frozen=True)
class LoadCounts:
    """What a load did to one core table.

    Attributes:
        inserted: rows with a new key.
        updated: rows whose key existed with other values (lineage then points to this run).
        unchanged: rows identical to the stored row; not rewritten, their lineage stays.
        deleted: rows removed: stale children of re-delivered parents (REPLACE_BY_PARENT tables)
            and, in a full refresh, every row the table held before.
        duplicates_dropped: rows of the batch that lost the dedupe: to a row with the same key,
            or (REPLACE_BY_PARENT tables) to a newer delivery of the same parent.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    duplicates_dropped: int = 0


def load_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    tables: Mapping[str, pa.Table],
    full_refresh: bool,
    *,
    definitions: Mapping[str, CoreTable] | None = None,
    before_commit: Sequence[Callable[[duckdb.DuckDBPyConnection], None]] = (),
) -> dict[str, LoadCounts]:
    """Load one run's batches into the core tables in a single transaction, then CHECKPOINT.

    Per table: the batch is deduplicated on the key (the winner is the last row in the order
    file hash, line, position in the batch), then MERGEd: new keys inserted, changed rows
    updated, identical rows left untouched (idempotent: loading a batch twice changes nothing,
    lineage included). In REPLACE_BY_PARENT tables a re-delivered parent's rows become exactly
    those of its newest delivery: rows the delivery no longer has are deleted. A full refresh
    first rebuilds every core table from the current views. Any error rolls everything back:
    the tables stay exactly as before.

    Args:
        con: the read-write warehouse connection, outside any transaction.
        run_id: the run (``audit.runs.run_id``) stamped into ``_run_id`` of written rows.
        tables: by core table name, an Arrow table with that table's columns plus
            ``_source_file_hash`` and ``_source_line`` (the rows of one resource share them).
            Tables not given are left unchanged (emptied by a full refresh), except that a
            child table loses the rows of parents re-delivered in its parent table's batch.
        full_refresh: rebuild and reload every core table instead of merging into it.
        definitions: the core tables by name (default: from ``transforms/views``).
        before_commit: steps run in order inside the transaction after every MERGE, on the
            merged tables (yesterday's rows and this run's together): the data-quality gate,
            the study build. A step that raises rolls the whole load back, and its exception
            propagates unchanged (a ``duckdb.Error`` becomes ``LoadError`` naming the step).

    Returns:
        Counts per core table, for every defined table.

    Raises:
        LoadInputError: a batch for an unknown table, with missing or extra columns, a column of
            an unfit type or a NULL key; raised before anything is written.
        SchemaVersionError: the core tables were built from other views (incremental load).
        LoadError: DuckDB failed during the load; rolled back. DuckDB's message is withheld: it
            can quote the values that failed to convert.
    """
    definitions = core_tables() if definitions is None else definitions
    if unknown := sorted(set(tables) - set(definitions)):
        raise LoadInputError(f"no core tables {unknown}; known: {', '.join(definitions)}")
    batches = {name: _checked_batch(con, definitions[name], b) for name, b in tables.items()}
    loaded_at = utc_now()
    counts: dict[str, LoadCounts] = {}
    current = "core"
    with _registered(con, batches) as views:
        try:
            with transaction(con):
                if full_refresh:
                    previous = rebuild_core(con, definitions)
                else:
                    check_core_version(con, definitions)
                    previous = {}
                for name, table in definitions.items():
                    current = table.qualified_name
                    merged = LoadCounts()
                    if name in views or table.parent_table in views:
                        rows = batches[name].num_rows if name in batches else 0
                        merged = _merge_batch(con, table, views, rows, run_id, loaded_at)
                    counts[name] = LoadCounts(
                        inserted=merged.inserted,
                        updated=merged.updated,
                        unchanged=merged.unchanged,
                        deleted=merged.deleted + previous.get(name, 0),
                        duplicates_dropped=merged.duplicates_dropped,
                    )
                for step in before_commit:
                    label = getattr(step, "step_name", None) or getattr(step, "__name__", "")
                    current = f"step {label or type(step).__name__}"
                    step(con)
        except duckdb.Error as exc:
            raise LoadError(current, type(exc).__name__) from None
    # Fold the WAL into the database file: the snapshot copies that file alone. Should this fail,
    # the load is committed all the same and publish_snapshot refuses the WAL left behind.
    con.execute("CHECKPOINT")
    return counts


def _checked_batch(con: duckdb.DuckDBPyConnection, table: CoreTable, batch: pa.Table) -> pa.Table:
    """The batch with its position column, after checking columns, types and keys."""
    expected = set(table.column_names) | set(SOURCE_LINEAGE)
    got = set(batch.column_names)
    if got != expected or len(batch.column_names) != len(got):
        # Fail closed on extra columns: the view columns are the de-identification allow-list.
        raise LoadInputError(
            f"batch for {table.qualified_name}: missing columns {sorted(expected - got)}, "
            f"unexpected columns {sorted(got - expected)}"
            + (", duplicated column names" if len(batch.column_names) != len(got) else "")
        )
    source_types = dict(
        zip(batch.column_names, (str(t) for t in con.from_arrow(batch).types), strict=True)
    )
    unfit = [
        f"{column} {source_types[column]} (expected {target})"
        for column, target in _column_types(table).items()
        if source_types[column] not in {target, _NULL_TYPE}
        and source_types[column] not in _ACCEPTED_SOURCE_TYPES.get(target, ())
    ]
    if unfit:
        raise LoadInputError(f"batch for {table.qualified_name}: unfit types: {', '.join(unfit)}")
    null_keys = [c for c in (*table.key, *SOURCE_LINEAGE) if batch.column(c).null_count]
    if null_keys:
        raise LoadInputError(
            f"batch for {table.qualified_name}: NULL values in key or lineage columns {null_keys}"
        )
    # An explicit position makes the dedupe winner independent of DuckDB's parallel scan order.
    return batch.append_column(_POSITION, pa.array(np.arange(batch.num_rows, dtype=np.int64)))


def _column_types(table: CoreTable) -> dict[str, str]:
    """The SQL type of every column a batch carries: the view's columns and source lineage."""
    types = {column.name: column.sql_type for column in table.columns}
    types.update({"_source_file_hash": "VARCHAR", "_source_line": "BIGINT"})
    return types


@contextmanager
def _registered(
    con: duckdb.DuckDBPyConnection, batches: Mapping[str, pa.Table]
) -> Iterator[dict[str, str]]:
    """Each batch registered as a view, by table name; unregistered on exit.

    Registered outside the load transaction: unregistering inside an aborted transaction fails
    and would hide the error that aborted it.
    """
    views: dict[str, str] = {}
    try:
        for name, batch in batches.items():
            views[name] = f"_chartetl_load_{name}"
            con.register(views[name], batch)
        yield views
    finally:
        for view in views.values():
            con.unregister(view)


def _merge_batch(
    con: duckdb.DuckDBPyConnection,
    table: CoreTable,
    views: Mapping[str, str],
    input_rows: int,
    run_id: str,
    loaded_at: datetime,
) -> LoadCounts:
    """Dedupe the table's batch into a temporary table, MERGE it, and count what happened."""
    temporary = [_BATCH_TABLE]
    if table.replace_parent:
        sources = [views[n] for n in (table.name, table.parent_table) if n in views]
        con.execute(_deliveries_sql(table, sources))
        temporary.append(_DELIVERIES_TABLE)
    con.execute(_dedupe_sql(table, views.get(table.name)))
    (kept,) = con.execute(f"SELECT count(*) FROM {_BATCH_TABLE}").fetchall()[0]
    # RETURNING is the only way to learn what MERGE did per row; a MERGE cannot be a subquery,
    # so the actions are counted here (one short string per written row).
    done = Counter(
        action
        for (action,) in con.execute(
            _merge_sql(table), {"run_id": run_id, "loaded_at": loaded_at}
        ).fetchall()
    )
    for name in temporary:
        con.execute(f"DROP TABLE {name}")
    inserted, updated = done.get("INSERT", 0), done.get("UPDATE", 0)
    return LoadCounts(
        inserted=inserted,
        updated=updated,
        unchanged=kept - inserted - updated,
        deleted=done.get("DELETE", 0),
        duplicates_dropped=input_rows - kept,
    )


def _deliveries_sql(table: CoreTable, sources: list[str]) -> str:
    """Each re-delivered parent's newest delivery: the (file hash, line) of its resource.

    Parents come from the child batch and from the parent table's batch, which also names
    parents re-delivered without any child row (a response whose answers were all removed).
    """
    parent = quote_identifier(table.replace_parent)
    parent_type = _column_types(table)[table.replace_parent]
    union = "\n        UNION ALL\n        ".join(
        f'SELECT {parent}, "_source_file_hash", "_source_line" FROM {source}' for source in sources
    )
    return f"""
    CREATE TEMP TABLE {_DELIVERIES_TABLE} AS
    SELECT
        CAST({parent} AS {parent_type}) AS {parent},
        CAST("_source_file_hash" AS VARCHAR) AS "_source_file_hash",
        CAST("_source_line" AS BIGINT) AS "_source_line"
    FROM (
        {union}
    )
    QUALIFY row_number() OVER (
        PARTITION BY {parent} ORDER BY "_source_file_hash" DESC, "_source_line" DESC
    ) = 1
    """


def _dedupe_sql(table: CoreTable, input_view: str | None) -> str:
    """One row per key, typed as the core table, from the batch (empty when none was given).

    Tie rule: among rows with the same key, the last one in the order (source file hash, source
    line, position in the batch) wins. Within a file the later line wins, whatever order the
    caller concatenated files in; rows of one source line (children of one resource) fall back
    to their order in the batch. In REPLACE_BY_PARENT tables only the rows of each parent's
    newest delivery take part: children of an older delivery must not survive beside it.
    """
    q = quote_identifier
    if input_view is None:
        columns = ", ".join(map(q, (*table.column_names, *SOURCE_LINEAGE)))
        return f"CREATE TEMP TABLE {_BATCH_TABLE} AS SELECT {columns} FROM {table.sql_name} LIMIT 0"
    casts = ",\n        ".join(
        f"CAST(input.{q(name)} AS {sql_type}) AS {q(name)}"
        for name, sql_type in _column_types(table).items()
    )
    newest_delivery = ""
    if table.replace_parent:
        parent = q(table.replace_parent)
        newest_delivery = (
            f"JOIN {_DELIVERIES_TABLE} AS delivery\n"
            f"      ON delivery.{parent} = input.{parent}\n"
            '     AND delivery."_source_file_hash" = input."_source_file_hash"\n'
            '     AND delivery."_source_line" = input."_source_line"'
        )
    return f"""
    CREATE TEMP TABLE {_BATCH_TABLE} AS
    SELECT
        {casts}
    FROM {input_view} AS input
    {newest_delivery}
    QUALIFY row_number() OVER (
        PARTITION BY {", ".join(f"input.{q(k)}" for k in table.key)}
        ORDER BY input."_source_file_hash" DESC, input."_source_line" DESC,
                 input.{_POSITION} DESC
    ) = 1
    """


def _merge_sql(table: CoreTable) -> str:
    """MERGE the deduplicated batch: insert new keys, update rows that differ, skip the rest."""
    q = quote_identifier
    on = " AND ".join(f"target.{q(k)} = source.{q(k)}" for k in table.key)
    values = table.value_columns
    lineage = {
        "_run_id": "$run_id",
        "_source_file_hash": 'source."_source_file_hash"',
        "_source_line": 'source."_source_line"',
        "_loaded_at": "$loaded_at",
    }
    clauses = []
    if values:
        differs = "\n            OR ".join(
            f"target.{q(c)} IS DISTINCT FROM source.{q(c)}" for c in values
        )
        assignments = ",\n            ".join(
            [f"{q(c)} = source.{q(c)}" for c in values]
            + [f"{q(c)} = {expression}" for c, expression in lineage.items()]
        )
        clauses.append(
            f"WHEN MATCHED AND (\n            {differs}\n        ) THEN UPDATE SET\n"
            f"            {assignments}"
        )
    insert_columns = ", ".join(map(q, (*table.column_names, *lineage)))
    insert_values = ", ".join(
        [f"source.{q(c)}" for c in table.column_names] + list(lineage.values())
    )
    clauses.append(
        f"WHEN NOT MATCHED THEN INSERT ({insert_columns})\n        VALUES ({insert_values})"
    )
    if table.replace_parent:
        # The batch holds each re-delivered parent's complete set of children: stored children
        # of those parents that the batch lacks are stale.
        parent = q(table.replace_parent)
        clauses.append(
            f"WHEN NOT MATCHED BY SOURCE AND target.{parent} IN "
            f"(SELECT {parent} FROM {_DELIVERIES_TABLE}) THEN DELETE"
        )
    body = "\n    ".join(clauses)
    return f"""
    MERGE INTO {table.sql_name} AS target
    USING {_BATCH_TABLE} AS source
    ON {on}
    {body}
    RETURNING merge_action
    """
