"""Run the official SQL-on-FHIR v2 test suite against this engine and write ``test_report.json``."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .compiler import compile_view
from .engine import ViewExecutionError, install_macros, load_resources, run_view
from .viewdef import ViewDefinitionError, parse_view

__all__ = ["CaseResult", "default_suite_dir", "iter_cases", "run_case", "run_suite", "write_report"]


def default_suite_dir() -> Path:
    """The pinned suite in ``../shared/fixtures/sql-on-fhir-v2`` beside the project root."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "sql-on-fhir-v2"


@dataclass(frozen=True)
class CaseResult:
    file: str
    title: str
    tags: tuple[str, ...]
    passed: bool
    reason: str = ""
    error: str = ""


def iter_cases(suite_dir: Path) -> Iterator[tuple[str, dict, dict]]:
    """Yield (file name, test file document, test case) for every case of the suite."""
    for path in sorted(suite_dir.glob("*.json")):
        if path.name == "tests.schema.json":
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        for case in document.get("tests", []):
            yield path.name, document, case


def _normalize(value):
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list):
        return tuple(_normalize(v) for v in value)
    return value


def _row_key(row: dict) -> tuple:
    return tuple(sorted((k, repr(_normalize(v))) for k, v in row.items()))


def _compare(case: dict, rows: list[dict], columns: list[str]) -> str:
    """'' when the result meets the expectation, else the reason."""
    if "expectCount" in case:
        if len(rows) != case["expectCount"]:
            return f"expected {case['expectCount']} rows, got {len(rows)}"
        return ""
    expected = case["expect"]
    if "expectColumns" in case and columns != case["expectColumns"]:
        return f"expected columns {case['expectColumns']}, got {columns}"
    if Counter(map(_row_key, rows)) != Counter(map(_row_key, expected)):
        return f"rows differ: expected {len(expected)} rows {expected!r}, got {len(rows)} rows {rows!r}"
    return ""


def run_case(con: duckdb.DuckDBPyConnection, file_name: str, case: dict, table: str) -> CaseResult:
    """Run one test case over the resources already loaded in ``table``."""
    title = case.get("title", "")
    tags = tuple(case.get("tags", []) or [])
    expect_error = bool(case.get("expectError"))
    try:
        compiled = compile_view(parse_view(case["view"]))
        rows = run_view(con, compiled, table)
    except (ViewDefinitionError, ViewExecutionError) as exc:
        if expect_error:
            return CaseResult(file_name, title, tags, True, error=str(exc))
        return CaseResult(file_name, title, tags, False, f"unexpected error: {exc}", str(exc))
    if expect_error:
        return CaseResult(file_name, title, tags, False, "expected an error, the view ran")
    reason = _compare(case, rows, [c.name for c in compiled.columns])
    return CaseResult(file_name, title, tags, not reason, reason, reason)


def run_suite(
    suite_dir: Path | None = None, on_result: Callable[[CaseResult], None] | None = None
) -> list[CaseResult]:
    """Run every test of the suite, one DuckDB connection for all.

    Args:
        suite_dir: folder of the suite's JSON files (default: the pinned copy in ../shared).
        on_result: called after each case, e.g. for progress output.
    """
    suite_dir = suite_dir or default_suite_dir()
    if not suite_dir.is_dir():
        raise FileNotFoundError(f"SQL-on-FHIR suite folder not found: {suite_dir}")
    con = duckdb.connect()
    install_macros(con)
    results: list[CaseResult] = []
    loaded_file = None
    for file_name, document, case in iter_cases(suite_dir):
        if file_name != loaded_file:
            load_resources(con, document.get("resources", []), "sof_resources")
            loaded_file = file_name
        result = run_case(con, file_name, case, "sof_resources")
        results.append(result)
        if on_result:
            on_result(result)
    con.close()
    return results


def write_report(results: list[CaseResult], path: Path) -> None:
    """Write the official ``test_report.json`` format (``reason`` and ``error`` on failures)."""
    report: dict[str, dict] = {}
    for result in results:
        entry: dict = {"passed": result.passed}
        if not result.passed:
            entry["reason"] = result.reason
            entry["error"] = result.error or result.reason
        report.setdefault(result.file, {"tests": []})["tests"].append(
            {"name": result.title, "result": entry}
        )
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
