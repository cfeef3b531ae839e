"""Study fixtures: the synthetic `paper` export run through the pipeline once per format.

Each format (NDJSON, Bundle, CSV) goes the non-Prefect path of flows/bench.py: write ->
stage_file -> deidentified_tables -> load_run, with build_study as the load's before_commit step
(the way the nightly flow publishes the study: inside the load transaction). One key serves all
three, so the formats share pseudonyms. The generator's answer key is used only to find the test
subjects' pseudonyms (PaperIds), never by the code under test.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from transforms.deid.apply import DeidContext
from transforms.deid.keys import DeidKeys, keygen, load_keys
from transforms.deid.pseudonyms import canonical_patient_key, patient_pseudonym, resource_pseudonym
from transforms.sources.csv_source import load_column_map
from transforms.sources.discover import discover
from transforms.staging import deidentified_tables, stage_file
from transforms.synth import generate, write_export
from transforms.synth.export import SyntheticExport
from warehouse import load_run, open_warehouse
from warehouse.study import build_study

from .helpers import CoreRows

FORMATS = ("ndjson", "bundle", "csv")
SOURCE = "ehr"  # DeidContext's default source: part of every non-patient pseudonym
RUN_DATE = dt.date(2025, 10, 1)  # the export date: the 90+ rule is applied as of then


@dataclass(frozen=True)
class PaperWarehouse:
    """One format's warehouse after the load with the study build."""

    fmt: str
    path: Path
    build_counts: dict[str, int]
    seconds: dict[str, float]


@pytest.fixture(scope="session")
def paper_export() -> SyntheticExport:
    """The `paper` profile, seed 0: the published cohort among distractors."""
    return generate("paper", seed=0)


@pytest.fixture(scope="session")
def paper_keys(tmp_path_factory) -> tuple[Path, DeidKeys]:
    """A vault with a fresh key (the environment's key variable is ignored)."""
    vault = tmp_path_factory.mktemp("study-vault")
    keygen(vault)
    return vault, load_keys(vault, environ={})


@pytest.fixture(scope="session")
def paper_warehouse_factory(
    tmp_path_factory, paper_export, paper_keys
) -> Callable[[str], PaperWarehouse]:
    """Builds (once per format and worker) and returns the paper warehouse of a format."""
    from flows.nightly import compiled_core_views

    vault, keys = paper_keys
    built: dict[str, PaperWarehouse] = {}
    maps = [load_column_map("synthea"), load_column_map("questionnaire")]

    def build(fmt: str) -> PaperWarehouse:
        if fmt in built:
            return built[fmt]
        root = tmp_path_factory.mktemp(f"paper-{fmt}")
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        write_export(paper_export, fmt, root / "inbox")
        seconds["write"] = time.perf_counter() - started
        started = time.perf_counter()
        staged = [
            stage_file(f, lambda t, i: resource_pseudonym(keys, t, SOURCE, i), column_maps=maps)
            for f in discover(root / "inbox").files
        ]
        context = DeidContext(keys=keys, source=SOURCE, run_date=RUN_DATE)
        tables = deidentified_tables(staged, context, compiled_core_views(), None, vault).tables
        seconds["stage_and_deidentify"] = time.perf_counter() - started
        counts: dict[str, int] = {}

        def study_step(con: duckdb.DuckDBPyConnection) -> None:
            step_started = time.perf_counter()
            counts.update(build_study(con))
            seconds["build_study"] = time.perf_counter() - step_started

        path = root / "warehouse.duckdb"
        started = time.perf_counter()
        with open_warehouse(path) as con:
            load_run(con, f"paper-{fmt}", tables, False, before_commit=[study_step])
        seconds["load_with_study"] = time.perf_counter() - started
        built[fmt] = PaperWarehouse(fmt, path, counts, seconds)
        return built[fmt]

    return build


@pytest.fixture(scope="session", params=FORMATS)
def paper_warehouse(request, paper_warehouse_factory) -> PaperWarehouse:
    """The paper warehouse of each format in turn."""
    return paper_warehouse_factory(request.param)


@pytest.fixture
def study(paper_warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the paper warehouse of the current format."""
    con = duckdb.connect(str(paper_warehouse.path), read_only=True)
    yield con
    con.close()


class PaperIds:
    """Generator ids -> warehouse pseudonyms (HMAC of the source ids with the test key)."""

    def __init__(self, export: SyntheticExport, keys: DeidKeys) -> None:
        self.keys = keys
        self._patients: dict[str, str] = {}
        for chart in export.patients:
            patient = chart.resources[0]
            mrn = next(
                identifier
                for identifier in patient["identifier"]
                if any(coding["code"] == "MR" for coding in identifier["type"]["coding"])
            )
            canonical = canonical_patient_key(SOURCE, chart.patient_id, mrn["system"], mrn["value"])
            self._patients[chart.patient_id] = patient_pseudonym(keys, canonical)

    def patient(self, raw_id: str) -> str:
        return self._patients[raw_id]

    def visit(self, raw_id: str) -> str:
        return resource_pseudonym(self.keys, "Encounter", SOURCE, raw_id)


@pytest.fixture(scope="session")
def paper_ids(paper_export, paper_keys) -> PaperIds:
    return PaperIds(paper_export, paper_keys[1])


@pytest.fixture
def rows(writer) -> CoreRows:
    """Inserts hand-built rows into this test's own new warehouse (fixture `writer`)."""
    return CoreRows(writer)
