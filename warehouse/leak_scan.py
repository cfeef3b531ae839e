"""Leak scan: every text column of every warehouse table, and the run's files, against the index."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import string
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from transforms.deid.leakscan import (
    DIGITS_PATTERN,
    INDEX_SCHEMA,
    JOIN_PATTERN,
    MAX_WINDOW,
    WORD_PATTERN_SQL,
    LocationScan,
    TokenHasher,
    TokenIndex,
    scan_locations,
    value_tokens,
)

from .errors import WarehouseError
from .sqltools import quote_identifier, quote_literal, transaction, utc_now

DDL = (Path(__file__).resolve().parent / "sql" / "leak_scan.sql").read_text(encoding="utf-8")
CONTROL_LOCATION = "control"
# Column types scanned: text, JSON, enums, and nested types (lists, structs, maps) holding them.
_TEXT_TYPE = r"(^|[^A-Za-z_])(VARCHAR|JSON|ENUM)([^A-Za-z_]|$)"
_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Names of this scan's temporary objects: temporary, so the catalog query below never scans them.
_TOKENS, _DIGESTS, _HITS, _INDEX, _CONTROL, _DIGEST_FUNCTION = (
    "_leakscan_tokens",
    "_leakscan_digests",
    "_leakscan_hits",
    "_leakscan_index",
    "_leakscan_control",
    "_leakscan_digest",
)


class LeakScanError(WarehouseError):
    """The leak scan could not run or failed its positive control: nothing was proven clean."""


class LeakDetectedError(WarehouseError):
    """The scan found patient identifier tokens; the message names locations and counts only."""

    def __init__(self, result: LeakScanResult):
        self.result = result
        found = "; ".join(
            f"{scan.location}: {scan.hits} ({', '.join(scan.hits_by_category)})"
            for scan in result.leaking
        )
        super().__init__(f"leak scan ({result.scope}) found identifier tokens in {found}")


@dataclass(frozen=True)
class LeakScanResult:
    """What a scan found, value-free.

    Attributes:
        scope: ``warehouse`` or ``files``.
        locations: one result per scanned column, file or text (the control excluded).
        tokens_checked: distinct candidate tokens looked up: over the whole warehouse, or the
            sum over the files and texts.
        index_entries: rows of the token index scanned against.
        seconds: wall time of the scan.
        control: the warehouse scan's positive control (found, or the scan raised); None for files.
    """

    scope: str
    locations: tuple[LocationScan, ...]
    tokens_checked: int
    index_entries: int
    seconds: float
    control: LocationScan | None = None

    @property
    def clean(self) -> bool:
        """No scanned location holds an indexed token."""
        return not self.leaking

    @property
    def leaking(self) -> tuple[LocationScan, ...]:
        """The locations with hits."""
        return tuple(scan for scan in self.locations if scan.hits)

    @property
    def total(self) -> LocationScan:
        """The summary over all locations (``total:<scope>``)."""
        categories: Counter[str] = Counter()
        for scan in self.locations:
            categories.update(scan.hits_by_category)
        return LocationScan(
            f"total:{self.scope}",
            sum(scan.rows_scanned for scan in self.locations),
            self.tokens_checked,
            sum(scan.hits for scan in self.locations),
            dict(sorted(categories.items())),
        )

    def report(self) -> dict:
        """The run report's leak-scan section: counts, categories and leaking locations."""
        total = self.total
        return {
            "scope": self.scope,
            "clean": self.clean,
            "locations_scanned": len(self.locations),
            "rows_scanned": total.rows_scanned,
            "tokens_checked": total.tokens_checked,
            "index_entries": self.index_entries,
            "hits": total.hits,
            "hits_by_category": dict(total.hits_by_category),
            "leaking_locations": {scan.location: scan.hits for scan in self.leaking},
            "control_found": None if self.control is None else self.control.hits == 1,
            "seconds": round(self.seconds, 3),
        }

    def raise_if_leaking(self) -> None:
        """Raise LeakDetectedError when any location holds an indexed token."""
        if not self.clean:
            raise LeakDetectedError(self)


@dataclass(frozen=True)
class _Column:
    location: str  # schema.table.column
    relation: str  # quoted, ready for SQL
    column: str  # quoted
    data_type: str

    def text_sql(self) -> str:
        """The column's value as one text: JSON string leaves decoded (``\\u00eb`` -> ``ë``)."""
        if self.data_type == "JSON":
            leaves = f"array_to_string(json_extract_string({self.column}, '$..*'), chr(10))"
            return f"CAST({self.column} AS VARCHAR) || chr(10) || coalesce({leaves}, '')"
        return self.column if self.data_type == "VARCHAR" else f"CAST({self.column} AS VARCHAR)"


def candidates_sql(relation: str) -> str:
    """A query adding to each row of ``relation`` the raw candidates ``raw`` of its text ``t``.

    The SQL form of transforms.deid.leakscan.raw_candidates: the same words, digit runs and
    windows, in the same order (tests/warehouse/test_leak_scan.py checks the equivalence).

    Args:
        relation: a subquery or table with a VARCHAR column ``t``; its other columns pass through.
    """
    word, digits, join = map(quote_literal, (WORD_PATTERN_SQL, DIGITS_PATTERN, JOIN_PATTERN))
    # w: words, s: separators (s[k] precedes w[k]), d: w[k] is ASCII digits, j: w[k], w[k+1] join
    return f"""
        SELECT * EXCLUDE (w, s, d, j), flatten([
            [array_to_string(w[i:i + n - 1], '')
             FOR n IN range(1, least({MAX_WINDOW}, len(w) - i + 1) + 1)
             IF n = 1
                OR NOT list_bool_and(d[i:i + n - 1])
                OR (list_bool_and(j[i:i + n - 2])
                    AND (i = 1 OR NOT j[i - 1])
                    AND (i + n - 1 = len(w) OR NOT j[i + n - 1]))]
            FOR i IN range(1, len(w) + 1)]) AS raw
        FROM (
            SELECT *,
                [d[k] AND d[k + 1] AND regexp_full_match(s[k + 1], {join})
                 FOR k IN range(1, len(w))] AS j
            FROM (
                SELECT *, [regexp_full_match(x, {digits}) FOR x IN w] AS d
                FROM (
                    SELECT *, regexp_extract_all(t, {word}) AS w, string_split_regex(t, {word}) AS s
                    FROM {relation}
                )
            )
        )
    """


def scan_warehouse(
    con: duckdb.DuckDBPyConnection, index: TokenIndex, scan_key: bytes, run_id: str
) -> LeakScanResult:
    """Scan every text column of every table for the index's tokens and record it in the audit.

    Every VARCHAR, JSON, ENUM column and nested column holding them, of every base table in every
    schema of the connected database, is cut into candidate tokens in SQL (distinct values
    first); each distinct token of the whole warehouse is normalised and hashed once by a Python
    function that holds the key, and the digests are joined with the index. A positive control
    (a temporary table with a random planted identifier) goes through the same steps and must be
    found, else the scan raises. Writes one ``audit.leak_scan`` row per column, the control and
    ``total:warehouse``, then CHECKPOINTs (the snapshot needs a WAL-free file).

    Args:
        con: a read-write connection to the warehouse, outside any transaction.
        index: the token index of every patient loaded so far (the vault's, merged with this run's).
        scan_key: the scan sub-key (``DeidKeys.scan_index``) the index was built with.
        run_id: the run the evidence belongs to.

    Returns:
        The result; ``.clean`` is False when any column holds an indexed token.

    Raises:
        LeakScanError: wrong key, empty index, the control was not found, or a database error
            (its message withheld: it can quote values).
    """
    started = time.perf_counter()
    _check_index(index, scan_key)
    hasher = TokenHasher(scan_key)
    control_text, control_index = _control(hasher)
    location = "setup"
    try:
        columns = [
            _Column(CONTROL_LOCATION, f"temp.{_CONTROL}", "t", "VARCHAR"),
            *_text_columns(con),
        ]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_CONTROL} (t VARCHAR)")
        con.execute(f"INSERT INTO {_CONTROL} VALUES (?)", [control_text])
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_TOKENS} (loc INTEGER, token VARCHAR)")
        con.register(_INDEX, pa.concat_tables([index.table(), control_index]))
        con.create_function(
            _DIGEST_FUNCTION,
            hasher.digest_raw,
            [duckdb.sqltype("VARCHAR")],
            duckdb.sqltype("VARCHAR"),
            type="arrow",
            null_handling="special",  # NULL out: a token too short or common to look up
        )
        location = "token collection"
        rows = _collect_tokens(con, columns)
        location = "lookup"
        scans, tokens_checked = _lookup(con, columns, rows)
        (control_tokens,) = con.execute(
            f"SELECT count(DISTINCT token) FROM {_HITS} WHERE loc = 0"
        ).fetchone()
    except duckdb.Error as exc:
        raise LeakScanError(
            f"leak scan failed at {location} ({type(exc).__name__}); nothing was proven clean"
        ) from None
    finally:
        _drop_temporaries(con)
    control, *locations = scans
    # both planted tokens (the word and the number) in the one control row, and nothing else
    if (control.hits, control_tokens, dict(control.hits_by_category)) != (1, 2, {"control": 1}):
        raise LeakScanError(
            "the leak scan's positive control was not found: the scanner is broken and proves "
            "nothing; the run must not publish"
        )
    result = LeakScanResult(
        "warehouse",
        tuple(locations),
        tokens_checked,
        len(index),
        time.perf_counter() - started,
        control,
    )
    record_leak_scan(con, run_id, result)
    return result


def scan_files(
    files: Mapping[str, Path],
    index: TokenIndex,
    scan_key: bytes,
    texts: Iterable[tuple[str, str]] = (),
) -> LeakScanResult:
    """Scan the run's reports and logs line by line, and other texts (exception messages).

    Args:
        files: label -> path, e.g. ``{"report.run-json": reports / run_id / "run.json"}``. Labels
            name the kind of file (letters, digits, ``_.-``); paths (which may hold PHI) are
            never recorded. Locations are ``file:<label>``.
        index: the token index.
        scan_key: the scan sub-key the index was built with.
        texts: ``(label, text)`` pairs, e.g. ``("exception", traceback_text)``; locations are
            ``text:<label>``.

    Returns:
        The result (scope ``files``); record it with record_leak_scan.

    Raises:
        LeakScanError: wrong key, empty index, or an invalid label.
        OSError: a file cannot be read (it is not silently skipped).
    """
    started = time.perf_counter()
    _check_index(index, scan_key)
    texts = list(texts)
    for label in [*files, *(label for label, _ in texts)]:
        if not _LABEL.fullmatch(label):
            raise LeakScanError("file and text labels are 1-64 letters, digits, '_', '.', '-'")

    def lines() -> Iterator[tuple[str, str]]:
        for label, path in files.items():
            with Path(path).open(encoding="utf-8", errors="replace") as handle:
                yield from ((f"file:{label}", line) for line in handle)
        yield from ((f"text:{label}", text) for label, text in texts)

    found = {scan.location: scan for scan in scan_locations(lines(), index, scan_key)}
    # an empty file has no line but was scanned: it gets its (zero) row too
    locations = [f"file:{label}" for label in files] + [f"text:{label}" for label, _ in texts]
    scans = [
        found.get(location, LocationScan(location, 0, 0, 0))
        for location in dict.fromkeys(locations)
    ]
    return LeakScanResult(
        "files",
        tuple(scans),
        sum(scan.tokens_checked for scan in scans),
        len(index),
        time.perf_counter() - started,
    )


def record_leak_scan(con: duckdb.DuckDBPyConnection, run_id: str, result: LeakScanResult) -> None:
    """Write a result into ``audit.leak_scan``: its locations, its control, its total.

    Creates the table when missing; a repeated scan of the same run and location replaces the
    earlier row. CHECKPOINTs afterwards, like a load.

    Args:
        con: a read-write connection to the warehouse, outside any transaction.
        run_id: the run the evidence belongs to.
        result: a scan result.
    """
    scanned_at = utc_now()
    extra = [result.control] if result.control is not None else []
    rows = [
        (
            run_id,
            scanned_at,
            scan.location,
            scan.rows_scanned,
            scan.tokens_checked,
            scan.hits,
            json.dumps(dict(scan.hits_by_category), sort_keys=True),
        )
        for scan in [*result.locations, *extra, result.total]
    ]
    con.execute(DDL)
    with transaction(con):
        con.executemany("INSERT OR REPLACE INTO audit.leak_scan VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CHECKPOINT")


def _check_index(index: TokenIndex, scan_key: bytes) -> None:
    if not index.matches_key(scan_key):
        raise LeakScanError("the scan key is not the key the token index was built with")
    if len(index) == 0:
        raise LeakScanError("the token index is empty: a scan against it would prove nothing")


def _control(hasher: TokenHasher) -> tuple[str, pa.Table]:
    """A random never-real identifier planted in text, and its index rows (category control).

    It exercises both kinds of candidate (a word; digits with other punctuation than in the
    index) and the normalisation (upper case, an accent), on this connection and DuckDB build.
    """
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
    digits = "".join(secrets.choice(string.digits) for _ in range(9))
    text = f"self-check QZCTL{letters.upper()}É ssn {digits[:3]}-{digits[3:5]}-{digits[5:]}."
    values = [f"qzctl{letters}e", f"{digits[:3]} {digits[3:5]} {digits[5:]}"]
    digests = sorted({hasher.digest(t) for v in values for t in value_tokens("control", v)})
    return text, pa.table(
        [pa.array(digests, pa.string()), pa.array(["control"] * len(digests), pa.string())],
        schema=INDEX_SCHEMA,
    )


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[_Column]:
    """Every text-bearing column of every base table of the database, from the catalog."""
    found = con.execute(
        """
        SELECT c.schema_name, c.table_name, c.column_name, c.data_type
        FROM duckdb_columns() AS c
        JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name)
        WHERE c.database_name = current_database() AND NOT t.temporary AND NOT t.internal
          AND regexp_matches(c.data_type, $text_type)
        ORDER BY c.schema_name, c.table_name, c.column_index
        """,
        {"text_type": _TEXT_TYPE},
    ).fetchall()
    return [
        _Column(
            f"{schema}.{table}.{column}",
            f"{quote_identifier(schema)}.{quote_identifier(table)}",
            quote_identifier(column),
            data_type,
        )
        for schema, table, column, data_type in found
    ]


def _collect_tokens(con: duckdb.DuckDBPyConnection, columns: list[_Column]) -> dict[int, int]:
    """Fill the token table with each column's distinct raw candidates; count non-NULL values.

    One statement for all columns (numbered by position): DuckDB plans and parallelises it once.
    """
    values = " UNION ALL ".join(
        f"SELECT {number} AS loc, {column.text_sql()} AS t FROM {column.relation} "
        f"WHERE {column.column} IS NOT NULL"
        for number, column in enumerate(columns)
    )
    con.execute(
        f"INSERT INTO {_TOKENS} SELECT DISTINCT loc, unnest(raw) "
        f"FROM ({candidates_sql(f'(SELECT DISTINCT loc, t FROM ({values}))')})"
    )
    counts = " UNION ALL ".join(
        f"SELECT {number} AS loc, count({column.column}) FROM {column.relation}"
        for number, column in enumerate(columns)
    )
    return dict(con.execute(counts).fetchall())


def _lookup(
    con: duckdb.DuckDBPyConnection, columns: list[_Column], rows: Mapping[int, int]
) -> tuple[list[LocationScan], int]:
    """Hash each distinct token once, join the index, count the values holding a hit."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_DIGESTS} AS "
        f"SELECT token, {_DIGEST_FUNCTION}(token) AS digest FROM (SELECT DISTINCT token FROM {_TOKENS})"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_HITS} AS
        SELECT DISTINCT t.loc, t.token, i.category
        FROM {_TOKENS} AS t JOIN {_DIGESTS} AS d USING (token) JOIN {_INDEX} AS i ON i.hash = d.digest
        """
    )
    checked = dict(
        con.execute(
            f"""
            SELECT t.loc, count(DISTINCT d.digest) FROM {_TOKENS} AS t JOIN {_DIGESTS} AS d
            USING (token) WHERE d.digest IS NOT NULL GROUP BY t.loc
            """
        ).fetchall()
    )
    (tokens_checked,) = con.execute(
        f"SELECT count(DISTINCT digest) FROM {_DIGESTS} WHERE digest IS NOT NULL"
    ).fetchone()
    dirty = [loc for (loc,) in con.execute(f"SELECT DISTINCT loc FROM {_HITS}").fetchall()]
    hits = {loc: _count_hit_rows(con, loc, columns[loc]) for loc in dirty}
    scans = [
        LocationScan(
            column.location,
            rows[number],
            checked.get(number, 0),
            *hits.get(number, (0, {})),
        )
        for number, column in enumerate(columns)
    ]
    return scans, tokens_checked


def _count_hit_rows(
    con: duckdb.DuckDBPyConnection, number: int, column: _Column
) -> tuple[int, dict[str, int]]:
    """Values of a dirty column holding a hit token, in total and per category (a second pass)."""
    values = (
        f"(SELECT {column.text_sql()} AS t FROM {column.relation} "
        f"WHERE {column.column} IS NOT NULL)"
    )
    counts = con.execute(
        f"""
        WITH rows AS (SELECT row_number() OVER () AS r, raw FROM ({candidates_sql(values)})),
        hit AS (
            SELECT category, list(token) AS tokens FROM {_HITS} WHERE loc = $loc GROUP BY category
        ),
        pairs AS (
            SELECT rows.r, hit.category FROM rows, hit WHERE list_has_any(rows.raw, hit.tokens)
        )
        SELECT category, count(DISTINCT r) FROM pairs GROUP BY GROUPING SETS ((category), ())
        """,
        {"loc": number},
    ).fetchall()
    by_category = {category: count for category, count in counts if category is not None}
    total = next(count for category, count in counts if category is None)
    return total, dict(sorted(by_category.items()))


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the scan's temporary tables, view and function (they hold warehouse tokens)."""
    for table in (_TOKENS, _DIGESTS, _HITS, _CONTROL):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    con.unregister(_INDEX)
    with contextlib.suppress(duckdb.InvalidInputException):  # the scan failed before registering it
        con.remove_function(_DIGEST_FUNCTION)
