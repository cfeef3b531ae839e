"""README "Querying the warehouse": every SQL block runs on the paper snapshot and returns rows."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import duckdb
import pytest

from flows.cli import demo_command
from warehouse import publish_snapshot

from .study.conftest import (  # noqa: F401 - fixtures used by name
    paper_export,
    paper_keys,
    paper_warehouse_factory,
)

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Querying the warehouse"
_SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def _queries() -> list[str]:
    return _SQL_BLOCK.findall(_section())


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory, paper_warehouse_factory) -> Path:  # noqa: F811 - the fixture
    """The analysts' snapshot of the NDJSON paper warehouse, published as the flow does."""
    warehouse = paper_warehouse_factory("ndjson").path
    return publish_snapshot(warehouse, tmp_path_factory.mktemp("readme") / "w.snapshot.duckdb")


def test_the_section_follows_running_the_pipeline_and_links_the_dictionary():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[headings.index("Running the pipeline") + 1] == "Querying the warehouse"
    section = _section()
    assert "(docs/data-dictionary.md)" in section
    assert (README.parent / "docs" / "data-dictionary.md").is_file()
    assert 4 <= len(_queries()) <= 6


def test_the_section_names_the_demo_snapshot_the_cli_writes():
    workdir = inspect.signature(demo_command).parameters["workdir"].default
    # the flow's default snapshot: the warehouse path with the suffix .snapshot.duckdb
    snapshot = (workdir / "warehouse.duckdb").with_suffix(".snapshot.duckdb")
    section = _section()
    assert f"duckdb -readonly {snapshot.as_posix()}" in section
    assert f'duckdb.connect("{snapshot.as_posix()}", read_only=True)' in section


@pytest.mark.parametrize("number", range(len(_queries())))
def test_each_query_returns_rows_on_the_paper_snapshot(snapshot, number):
    query = _queries()[number]
    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"README query {number + 1} returned no rows:\n{query}"
