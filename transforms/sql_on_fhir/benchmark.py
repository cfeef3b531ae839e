"""Flattening throughput: compiled views over a bulk export beside DuckDB's raw JSON scan."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .compiler import compile_view
from .engine import install_macros, materialize_view, ndjson_source
from .schema import R4B
from .viewdef import ViewDefinition

__all__ = ["BenchmarkResult", "ViewTiming", "benchmark_views", "resource_files"]


@dataclass(frozen=True)
class ViewTiming:
    view: str
    resource: str
    files: int
    megabytes: float
    resources: int
    rows: int
    seconds: float  # median of the repeats, compile + run

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes / self.seconds if self.seconds else float("inf")

    @property
    def resources_per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else float("inf")


@dataclass(frozen=True)
class BenchmarkResult:
    views: list[ViewTiming]
    floor_seconds: float  # median read_ndjson_objects scan of the same files

    @property
    def megabytes(self) -> float:
        return sum(v.megabytes for v in self.views)

    @property
    def seconds(self) -> float:
        return sum(v.seconds for v in self.views)

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes / self.seconds

    @property
    def floor_megabytes_per_second(self) -> float:
        return self.megabytes / self.floor_seconds


def resource_files(export_dir: Path, resource_type: str) -> list[Path]:
    """Bulk-export files of one resource type (``Type.ndjson``, ``Type.000.ndjson``, ``.gz``)."""
    patterns = (
        f"{resource_type}.ndjson",
        f"{resource_type}.*.ndjson",
        f"{resource_type}.ndjson.gz",
        f"{resource_type}.*.ndjson.gz",
    )
    found = {p for pattern in patterns for p in export_dir.glob(pattern)}
    return sorted(found)


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def benchmark_views(
    export_dir: Path, views: dict[str, ViewDefinition], repeats: int = 5
) -> BenchmarkResult:
    """Time each view (compile + run into an in-memory table) over its resource type's files.

    Args:
        export_dir: a bulk export folder (one NDJSON file set per resource type).
        views: views by name; those whose resource type has no file are skipped.
        repeats: runs per measurement; the median is reported.
    """
    con = duckdb.connect()
    install_macros(con)
    timings: list[ViewTiming] = []
    all_files: list[Path] = []
    for name, view in views.items():
        files = resource_files(export_dir, view.resource)
        if not files:
            continue
        all_files.extend(files)
        source = ndjson_source(files)

        def run(view=view, source=source):
            return materialize_view(con, compile_view(view, R4B), source, "bench_output")

        rows = run()
        resources = con.sql(f"SELECT count(*) FROM {source}").fetchall()[0][0]
        seconds = _median_seconds(run, repeats)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        timings.append(
            ViewTiming(name, view.resource, len(files), megabytes, resources, rows, seconds)
        )
    if not timings:
        raise FileNotFoundError(f"no NDJSON file in {export_dir} matches the views' resource types")
    floor_source = ndjson_source(all_files)
    floor = _median_seconds(
        lambda: con.execute(f"CREATE OR REPLACE TABLE bench_floor AS SELECT * FROM {floor_source}"),
        repeats,
    )
    con.close()
    return BenchmarkResult(timings, floor)
