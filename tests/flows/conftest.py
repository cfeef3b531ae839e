"""One Prefect test harness for every flow test (it costs seconds to start), and run helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE_EXPORT
from transforms.deid.keys import keygen


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


class Workspace:
    """Inbox, vault, warehouse and reports of one test pipeline."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox = root / "inbox"
        self.vault = root / "vault"
        self.warehouse = root / "warehouse.duckdb"
        self.reports = root / "reports"
        self.inbox.mkdir(parents=True)
        keygen(self.vault)

    def run(self, **options) -> dict:
        from flows.nightly import nightly_refresh

        return nightly_refresh(
            inbox=str(self.inbox),
            warehouse=str(self.warehouse),
            vault=str(self.vault),
            reports=str(self.reports),
            **options,
        )

    def query(self, sql: str, parameters=None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, parameters or []).fetchall()

    def tables(self, exclude_columns: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
        """Every core table's rows, sorted, without the named columns."""
        out = {}
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'core' ORDER BY 1"
            ).fetchall():
                columns = [
                    c
                    for (c,) in con.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'core' "
                        "AND table_name = ? ORDER BY column_index",
                        [name],
                    ).fetchall()
                    if c not in exclude_columns
                ]
                select = ", ".join(f'"{c}"' for c in columns)
                out[name] = sorted(
                    con.execute(f"SELECT {select} FROM core.{name}").fetchall(), key=repr
                )
        return out


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def sample_workspace(workspace) -> Workspace:
    for path in SAMPLE_EXPORT.iterdir():
        shutil.copy(path, workspace.inbox / path.name)
    return workspace
