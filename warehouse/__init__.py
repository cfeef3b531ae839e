"""The DuckDB research warehouse: schema, single-writer connection, MERGE loader, ledger, snapshot."""

from .connection import open_read_only, open_warehouse
from .errors import (
    LedgerError,
    LoadError,
    LoadInputError,
    SchemaDefinitionError,
    SchemaVersionError,
    SnapshotError,
    WarehouseBusyError,
    WarehouseError,
)
from .ledger import (
    QUARANTINE_FIELDS,
    FileRecord,
    FileTypeCount,
    RunCounts,
    finish_run,
    loaded_file_hashes,
    record_file_counts,
    record_files,
    record_quarantine,
    start_run,
)
from .loader import LoadCounts, load_run
from .schema import LINEAGE_COLUMNS, SOURCE_LINEAGE, CoreTable, core_tables
from .snapshot import publish_snapshot
from .sqltools import transaction

__all__ = [
    "LINEAGE_COLUMNS",
    "QUARANTINE_FIELDS",
    "SOURCE_LINEAGE",
    "CoreTable",
    "FileRecord",
    "FileTypeCount",
    "LedgerError",
    "LoadCounts",
    "LoadError",
    "LoadInputError",
    "RunCounts",
    "SchemaDefinitionError",
    "SchemaVersionError",
    "SnapshotError",
    "WarehouseBusyError",
    "WarehouseError",
    "core_tables",
    "finish_run",
    "load_run",
    "loaded_file_hashes",
    "open_read_only",
    "open_warehouse",
    "publish_snapshot",
    "record_file_counts",
    "record_files",
    "record_quarantine",
    "start_run",
    "transaction",
]
