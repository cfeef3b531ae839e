"""Errors of the warehouse package: messages name files, tables and columns, never row values."""

from __future__ import annotations

from pathlib import Path


class WarehouseError(Exception):
    """Base class of every error the warehouse package raises on purpose."""


class WarehouseBusyError(WarehouseError):
    """The warehouse file is locked: another process (the running load) holds it."""

    def __init__(self, path: Path, *, same_process: bool = False):
        self.path = path
        if same_process:
            message = (
                f"warehouse {path} is already open in this process in another mode "
                "(read-only versus read-write): close that connection first"
            )
        else:
            message = (
                f"warehouse {path} is locked by another process, most likely the running load: "
                "wait for it to finish, or query the read-only snapshot meanwhile"
            )
        super().__init__(message)


class SchemaDefinitionError(WarehouseError):
    """The views, TABLE_KEYS and REPLACE_BY_PARENT do not describe a consistent warehouse."""


class SchemaVersionError(WarehouseError):
    """The warehouse tables were built from other definitions than the current code's."""


class LoadInputError(WarehouseError):
    """A batch does not fit its core table; raised before anything is written."""


class LoadError(WarehouseError):
    """A load failed inside its transaction; the transaction was rolled back.

    Attributes:
        table: the core table being loaded (``core`` while the tables were prepared).
        error_class: DuckDB's exception class; its message is withheld (it can quote values).
    """

    def __init__(self, table: str, error_class: str):
        self.table = table
        self.error_class = error_class
        super().__init__(
            f"loading {table} failed ({error_class}); the transaction was rolled back and the "
            "warehouse is unchanged"
        )


class LedgerError(WarehouseError):
    """A run-ledger call that contradicts the ledger (unknown run, run already finished)."""


class SnapshotError(WarehouseError):
    """The analysts' snapshot could not be published; the previous snapshot is untouched."""
