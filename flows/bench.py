"""``chartetl bench``: pipeline throughput per stage on a generated clinic export, beside DuckDB's scan.

A benchmark, not a test: it measures one run on this machine and prints the numbers. The
stages are timed by calling the same functions the flow's tasks call (without Prefect's
overhead), then the whole flow is timed twice: a full refresh and a re-run with no new files.
"""

from __future__ import annotations

import datetime as dt
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from transforms.deid.apply import (
    DeidContext,
)
from transforms.deid.keys import keygen, load_keys
from transforms.deid.pseudonyms import resource_pseudonym
from transforms.sources.csv_source import load_column_map
from transforms.sources.discover import discover
from transforms.staging import deidentified_tables, stage_file
from transforms.synth import generate, write_export
from warehouse import load_run, open_warehouse


@dataclass
class StageTiming:
    stage: str
    seconds: float
    megabytes: float
    resources: int
    peak_rss_mb: float  # high-water mark of the process after the stage

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes / self.seconds if self.seconds else float("inf")

    @property
    def resources_per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else float("inf")


@dataclass
class BenchResult:
    patients: int
    files: int
    megabytes: float
    resources: int
    generate_seconds: float
    stages: list[StageTiming] = field(default_factory=list)
    floor_seconds: float = 0.0
    flow_full_seconds: float = 0.0
    flow_rerun_seconds: float = 0.0

    @property
    def pipeline_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_benchmark(
    patients: int, workdir: Path, seed: int = 0, with_flow: bool = True
) -> BenchResult:
    """Generate a clinic export of ``patients`` and measure every stage over it.

    Args:
        patients: clinic size.
        workdir: scratch folder (emptied first): export, vault, warehouse.
        seed: generator seed.
        with_flow: also time the whole Prefect flow (full refresh, then a re-run).
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    inbox, vault = workdir / "inbox", workdir / "vault"
    started = time.perf_counter()
    write_export(generate(profile="clinic", patients=patients, seed=seed), "ndjson", inbox)
    generate_seconds = time.perf_counter() - started
    keygen(vault)
    keys = load_keys(vault)
    files = discover(inbox).files
    megabytes = sum(f.size_bytes for f in files) / 1e6

    floor_con = duckdb.connect()
    paths = ", ".join(f"'{f.path}'" for f in files)
    started = time.perf_counter()
    floor_con.execute(f"CREATE TABLE floor AS SELECT * FROM read_ndjson_objects([{paths}])")
    floor_seconds = time.perf_counter() - started
    resources = floor_con.execute("SELECT count(*) FROM floor").fetchone()[0]
    floor_con.close()

    result = BenchResult(
        patients, len(files), megabytes, resources, generate_seconds, floor_seconds=floor_seconds
    )
    maps = [load_column_map("synthea"), load_column_map("questionnaire")]

    started = time.perf_counter()
    staged = [
        stage_file(f, lambda t, i: resource_pseudonym(keys, t, "ehr", i), column_maps=maps)
        for f in files
    ]
    result.stages.append(
        StageTiming(
            "read + validate", time.perf_counter() - started, megabytes, resources, _peak_rss_mb()
        )
    )

    started = time.perf_counter()
    from flows.nightly import compiled_core_views

    context = DeidContext(keys=keys, run_date=dt.date.today())
    tables = deidentified_tables(staged, context, compiled_core_views(), None, vault).tables
    del staged
    result.stages.append(
        StageTiming(
            "flatten + de-identify",
            time.perf_counter() - started,
            megabytes,
            resources,
            _peak_rss_mb(),
        )
    )

    started = time.perf_counter()
    with open_warehouse(workdir / "bench.duckdb") as warehouse:
        load_run(warehouse, "bench", tables, full_refresh=False)
    rows = sum(t.num_rows for t in tables.values())
    result.stages.append(
        StageTiming(
            "load warehouse", time.perf_counter() - started, megabytes, rows, _peak_rss_mb()
        )
    )

    if with_flow:
        from flows.nightly import nightly_refresh

        parameters = {
            "inbox": str(inbox),
            "warehouse": str(workdir / "flow.duckdb"),
            "vault": str(vault),
            "reports": str(workdir / "reports"),
        }
        result.flow_full_seconds = nightly_refresh(**parameters)["seconds"]
        result.flow_rerun_seconds = nightly_refresh(**parameters)["seconds"]
    return result
