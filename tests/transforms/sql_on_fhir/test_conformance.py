"""Every test of the official SQL-on-FHIR v2 suite, as its own case, with and without R4 schema paths."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.conftest import SOF_SUITE
from transforms.sql_on_fhir import (
    compile_view,
    install_macros,
    load_resources,
    parse_view,
    run_view,
)
from transforms.sql_on_fhir.conformance import iter_cases, run_case, run_suite, write_report
from transforms.sql_on_fhir.schema import R4B

CASES = list(iter_cases(SOF_SUITE))


def test_suite_is_the_pinned_one():
    assert len(CASES) == 144
    assert len({file for file, _d, _c in CASES}) == 22


@pytest.fixture(scope="module")
def suite_connection():
    """One connection, one resource table per suite file (loaded once)."""
    connection = duckdb.connect()
    install_macros(connection)
    loaded = set()
    for file_name, document, _case in CASES:
        if file_name not in loaded:
            load_resources(connection, document["resources"], f"res_{file_name[:-5]}")
            loaded.add(file_name)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("file_name", "case"),
    [(f, c) for f, _d, c in CASES],
    ids=[f"{f[:-5]}::{c['title']}" for f, _d, c in CASES],
)
def test_official_case(suite_connection, file_name, case):
    result = run_case(suite_connection, file_name, case, f"res_{file_name[:-5]}")
    assert result.passed, result.reason


@pytest.mark.parametrize(
    ("file_name", "case"),
    [(f, c) for f, _d, c in CASES if "expect" in c],
    ids=[f"{f[:-5]}::{c['title']}" for f, _d, c in CASES if "expect" in c],
)
def test_schema_paths_match_generic_navigation(suite_connection, file_name, case):
    """R4 cardinality shortcuts never change a result: same rows as schema-free compilation."""
    view = parse_view(case["view"])
    table = f"res_{file_name[:-5]}"
    with_schema = run_view(suite_connection, compile_view(view, R4B), table)
    generic = run_view(suite_connection, compile_view(view, None), table)
    key = lambda row: json.dumps(row, sort_keys=True, default=str)  # noqa: E731
    assert sorted(map(key, with_schema)) == sorted(map(key, generic))


def test_a_wrong_expectation_fails(suite_connection):
    """The comparison is real: a changed expected value is reported with a reason."""
    file_name, _document, case = next(c for c in CASES if c[0] == "basic.json" and "expect" in c[2])
    broken = dict(case, expect=[dict(row, id="not-an-id") for row in case["expect"]])
    result = run_case(suite_connection, file_name, broken, "res_basic")
    assert not result.passed
    assert "rows differ" in result.reason


def test_report_has_the_official_shape(tmp_path):
    results = run_suite(SOF_SUITE)
    results[0] = type(results[0])(results[0].file, results[0].title, (), False, "forced", "forced")
    path = tmp_path / "test_report.json"
    write_report(results, path)
    report = json.loads(path.read_text())
    assert set(report) == {file for file, _d, _c in CASES}
    entries = [entry for file in report.values() for entry in file["tests"]]
    assert len(entries) == 144
    assert all(set(e) == {"name", "result"} and "passed" in e["result"] for e in entries)
    failed = [e for e in entries if not e["result"]["passed"]]
    assert failed == [
        {
            "name": results[0].title,
            "result": {"passed": False, "reason": "forced", "error": "forced"},
        }
    ]
