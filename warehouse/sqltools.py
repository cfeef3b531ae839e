"""Small DuckDB helpers shared by the warehouse modules: quoting, UTC time, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import duckdb


def utc_now() -> datetime:
    """The current time as the warehouse stores it: UTC in a naive TIMESTAMP (no pytz needed)."""
    return datetime.now(UTC).replace(tzinfo=None)


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes (view columns such as ``class`` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal, for statements that take no parameters (COMMENT ON)."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction: COMMIT at the end, ROLLBACK on any exception.

    Args:
        con: a connection outside any transaction (DuckDB has no nested transactions).
    """
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    # Outside the try: a COMMIT that fails has already rolled the transaction back.
    con.commit()
