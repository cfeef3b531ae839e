"""The ``nightly-refresh`` flow: discover -> stage -> flatten + de-identify -> load -> snapshot.

Orchestration only: every step calls ``transforms`` (pure) or ``warehouse`` (SQL, database).
Tasks that see identified data run with ``cache_policy=NO_CACHE`` and ``persist_result=False``:
their results live in memory for the run and are never written by Prefect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from expectations.checks import (
    Check,
    CheckResult,
    fatal_failures,
    load_catalogue,
    record_results,
    run_sql_checks,
)
from expectations.gate import QualityGate, QualityGateError
from expectations.gx_suites import run_gx_checks
from expectations.run_report import build_run_report, markdown_summary, write_run_report
from expectations.study_report import StudyReportError, write_study_report
from transforms.deid.apply import (
    DeidContext,
    read_patient_index,
    write_patient_index,
)
from transforms.deid.classes import PROFILES, PSEUDONYM_MODES, output_columns
from transforms.deid.evidence import date_shift_sanity
from transforms.deid.keys import DeidKeys, load_keys
from transforms.deid.leakscan import TokenIndex, read_token_index, write_token_index
from transforms.deid.note_corpus import evaluate, generate_corpus
from transforms.deid.notes import SCRUBBER_VERSION
from transforms.deid.pseudonyms import resource_pseudonym
from transforms.deid.terms import TERMS_FILE
from transforms.sources.csv_source import ColumnMap, load_column_map
from transforms.sources.discover import Discovery, InputFile, discover, file_name_hash
from transforms.sql_on_fhir import CompiledView, compile_view
from transforms.staging import (
    DeidentifiedRun,
    ResourceTally,
    StagedFile,
    deidentified_tables,
    stage_file,
)
from transforms.views import VIEWS_DIR, load_views
from warehouse import (
    FileRecord,
    FileTypeCount,
    LoadCounts,
    RunCounts,
    core_tables,
    finish_run,
    load_run,
    loaded_file_hashes,
    open_warehouse,
    publish_snapshot,
    record_file_counts,
    record_files,
    record_quarantine,
    start_run,
    transaction,
)
from warehouse.evidence import record_csv_columns, record_evidence, record_notes_scrubber
from warehouse.leak_scan import LeakDetectedError, record_leak_scan, scan_files, scan_warehouse
from warehouse.ledger import amend_run_failed
from warehouse.risk import INTERNAL_K, RiskRow, measure_risk
from warehouse.run_history import record_table_counts
from warehouse.snapshot import record_load_commit, snapshot_is_current
from warehouse.study import build_study

SHIPPED_CSV_MAPS = ("synthea", "questionnaire")
PHI_TASK = {"cache_policy": NO_CACHE, "persist_result": False}


class Progress:
    """Where the flow reports progress on its long steps (the CLI swaps in a progress bar)."""

    def start(self, step: str, total: int) -> None:
        """A step with ``total`` units of work begins."""

    def advance(self, step: str, amount: int = 1) -> None:
        """``amount`` units of ``step`` are done."""


progress = Progress()  # replaced by the command line for an interactive terminal


@dataclass
class RunSummary(ResourceTally):
    """What a run did, value-free: shown by the CLI, the artifact and ``run.json``."""

    run_id: str
    status: str
    profile: str
    full_refresh: bool
    key_fingerprint: str
    config_hash: str
    warehouse: str
    snapshot: str | None
    report_dir: str
    seconds: float = 0.0
    files_seen: int = 0
    files_loaded: int = 0
    files_skipped_already_loaded: int = 0
    files_ignored: dict[str, int] = field(default_factory=dict)
    read_by_type: dict[str, int] = field(default_factory=dict)
    quarantined_by_type: dict[str, int] = field(default_factory=dict)
    rows_by_table: dict[str, dict] = field(default_factory=dict)
    deid_by_table: dict[str, dict] = field(default_factory=dict)
    date_shift: dict = field(default_factory=dict)
    risk: list[dict] = field(default_factory=list)
    leak_scan: dict = field(default_factory=dict)
    notes_scrubber: dict = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None


def config_hash(views_dir: Path = VIEWS_DIR, maps: list[ColumnMap] | None = None) -> str:
    """Hash of what decides the warehouse content: views, term and code allow-lists, CSV maps."""
    digest = hashlib.sha256()
    for path in [
        *sorted(views_dir.glob("*.json")),
        TERMS_FILE,
        TERMS_FILE.with_name("allowlist.yaml"),
    ]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for column_map in maps or []:
        digest.update(column_map.name.encode() + b"\0" + column_map.sha256.encode())
    return digest.hexdigest()[:16]


def compiled_core_views() -> dict[str, CompiledView]:
    """Compile every core view and check every column's de-identification class.

    A column without a class is a configuration error: the run refuses to start.
    """
    compiled = {name: compile_view(view) for name, view in load_views().items()}
    for name, view in compiled.items():
        output_columns(name, view)
    return compiled


# ------------------------------------------------------------------------------------- tasks


@task(name="discover", retries=2, retry_delay_seconds=5)
def discover_task(inbox: Path) -> Discovery:
    return discover(inbox)


@task(name="stage-file", **PHI_TASK)
def stage_file_task(
    input_file: InputFile,
    keys: DeidKeys,
    source: str,
    column_maps: list[ColumnMap],
    drop_unknown: bool,
) -> StagedFile:
    return stage_file(
        input_file,
        id_hasher=lambda resource_type, raw_id: resource_pseudonym(
            keys, resource_type, source, raw_id
        ),
        column_maps=column_maps,
        drop_unknown_columns=drop_unknown,
    )


@task(name="flatten-and-deidentify", **PHI_TASK)
def flatten_task(
    staged: list[StagedFile], context: DeidContext, views: dict[str, CompiledView], vault: Path
) -> DeidentifiedRun:
    previous = read_patient_index(vault, context.keys.fingerprint)
    tokens = read_token_index(vault, context.keys.scan_index)
    return deidentified_tables(
        staged, context, views, previous, scratch_parent=vault, previous_tokens=tokens
    )


@task(name="leak-scan-batch", **PHI_TASK)
def prescan_task(tables: dict[str, pa.Table], tokens: TokenIndex, key: bytes, run_id: str) -> dict:
    """Scan the de-identified batch before it is loaded: a hit fails the run, nothing is written."""
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA core; CREATE SCHEMA audit")
        for name, table in tables.items():
            con.register("_batch", table)
            con.execute(f'CREATE TABLE core."{name}" AS SELECT * FROM _batch')
            con.unregister("_batch")
        result = scan_warehouse(con, tokens, key, run_id)
    finally:
        con.close()
    result.raise_if_leaking()
    return result.report()


def _retry_unless_refused(task, task_run, state) -> bool:
    """Retry a load that broke (I/O, a lock), never one the gate or the leak scan refused."""
    try:
        state.result(raise_on_failure=True)
    except (QualityGateError, LeakDetectedError):
        return False
    except Exception:
        return True
    return True


@task(
    name="load-warehouse",
    retries=1,
    retry_delay_seconds=10,
    retry_condition_fn=_retry_unless_refused,
    **PHI_TASK,
)
def load_task(
    warehouse: Path,
    run_id: str,
    tables: dict[str, pa.Table],
    full: bool,
    staged: list[StagedFile],
    key: bytes,
    definitions: dict,
    gate: QualityGate,
    study_gate: QualityGate,
    record_more: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    scan_with: tuple[TokenIndex, bytes] | None = None,
) -> tuple[dict[str, LoadCounts], list[RiskRow], dict | None]:
    def mark_commit(con: duckdb.DuckDBPyConnection) -> None:
        record_load_commit(con, run_id)  # the snapshot is behind until it holds this mark

    with open_warehouse(warehouse, full_refresh=full, definitions=definitions) as con:
        try:
            # the gates run inside the load transaction, after the MERGE: a fatal failure rolls
            # the whole load back, so the tables keep yesterday's good state; the study tables
            # are rebuilt (and checked) in the same transaction: they publish with the load or
            # not at all
            counts = load_run(
                con,
                run_id,
                tables,
                full,
                definitions=definitions,
                before_commit=[gate, build_study, study_gate, mark_commit],
            )
        except QualityGateError:
            # the refused files stay 'failed' in the ledger: the next run tries them again
            with transaction(con):
                _record_staged(con, run_id, staged, key, loaded=False)
                if record_more is not None:
                    record_more(con)
            record_results(con, run_id, gate.results + study_gate.results)
            raise
        # bookkeeping after the load commits: a crash in between only makes the files load
        # again next time, which the idempotent MERGE makes harmless
        with transaction(con):
            _record_staged(con, run_id, staged, key, loaded=True)
            if record_more is not None:
                record_more(con)
        record_results(con, run_id, gate.results + study_gate.results)
        # k-anonymity of the patients as loaded (k = 5 internally; exports enforce 11)
        risk = measure_risk(con, run_id, k=INTERNAL_K)
        # the whole warehouse (audit tables too) after the load: a hit fails the run, so the
        # analysts' snapshot keeps its previous, clean state
        scan = None
        if scan_with is not None:
            result = scan_warehouse(con, scan_with[0], scan_with[1], run_id)
            scan = result.report()
            result.raise_if_leaking()
    return counts, risk, scan


def _record_staged(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    staged: list[StagedFile],
    key: bytes,
    *,
    loaded: bool,
) -> None:
    """Ledger rows for the staged files: manifest, per-type balance, quarantine (value-free).

    Files of a load the gate refused are recorded ``failed`` with nothing loaded.
    """
    record_files(
        con,
        run_id,
        [
            FileRecord(
                file_sha256=item.file.sha256,
                file_name_hash=file_name_hash(item.file.relative_path, key),
                format=item.file.format,
                size_bytes=item.file.size_bytes,
                resources_read=item.resources_read,
                resources_loaded=item.resources.num_rows if loaded else 0,
                resources_quarantined=item.resources_quarantined,
                status="loaded" if loaded else "failed",
            )
            for item in staged
        ],
    )
    record_file_counts(
        con,
        run_id,
        [
            FileTypeCount(
                file_sha256=item.file.sha256,
                resource_type=resource_type,
                read=read,
                loaded=read - item.quarantined_by_type.get(resource_type, 0) if loaded else 0,
                quarantined=item.quarantined_by_type.get(resource_type, 0),
            )
            for item in staged
            for resource_type, read in item.read_by_type.items()
        ],
    )
    record_quarantine(con, run_id, [row for item in staged for row in item.quarantine])
    record_csv_columns(con, run_id, _csv_column_rows(staged))


def _csv_column_rows(staged: list[StagedFile]) -> list[tuple]:
    rows = []
    for item in staged:
        stats = item.csv_stats
        if stats is None:
            continue
        rows += [
            (item.file.sha256, header, "dropped_unknown", 1) for header in stats.dropped_headers
        ]
        for action, counter in (
            ("unparseable", stats.unparseable),
            ("free_text_dropped", stats.free_text_dropped),
            ("unmapped_dropped", stats.unmapped_dropped),
        ):
            rows += [
                (item.file.sha256, header, action, count)
                for header, count in sorted(counter.items())
            ]
    return rows


@task(name="data-quality-batch", **PHI_TASK)
def gx_checks_task(
    tables: dict[str, pa.Table], checks: list[Check], data_docs: Path
) -> list[CheckResult]:
    """The Great Expectations suites on the de-identified batch (results hold counts only)."""
    return run_gx_checks(tables, checks=checks, data_docs_dir=data_docs)


@task(name="data-quality-recheck")
def recheck_task(
    warehouse: Path, run_id: str, definitions: dict, checks: list[Check]
) -> list[CheckResult]:
    """A run with nothing new to load still checks the warehouse, so every run has a report.

    Raises:
        QualityGateError: a fatal check fails on the tables already published (a new or changed
            check, or an edit made outside chartetl): the run must show red.
    """
    with open_warehouse(warehouse, definitions=definitions) as con:
        results = run_sql_checks(
            con, run_id, checks=[check for check in checks if check.kind == "sql"]
        )
    if failures := fatal_failures(results):
        raise QualityGateError(failures, rolled_back=False)
    return results


@task(name="leak-scan-unpublished", **PHI_TASK)
def unpublished_scan_task(warehouse: Path, vault: Path, keys: DeidKeys, run_id: str) -> dict:
    """Scan the warehouse before publishing a load an earlier run committed but did not publish."""
    tokens = read_token_index(vault, keys.scan_index)
    if tokens is None or not len(tokens):
        return {"skipped": "no patient identifiers indexed yet"}
    with open_warehouse(warehouse) as con:
        result = scan_warehouse(con, tokens, keys.scan_index, run_id)
    result.raise_if_leaking()
    return result.report()


@task(name="publish-snapshot", retries=2, retry_delay_seconds=5)
def snapshot_task(warehouse: Path, snapshot: Path, definitions: dict) -> Path:
    return publish_snapshot(warehouse, snapshot, definitions=definitions)


# -------------------------------------------------------------------------------------- flow


@flow(name="nightly-refresh", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=False)
def nightly_refresh(
    inbox: str,
    warehouse: str,
    vault: str,
    reports: str,
    profile: str = "ED",
    pseudonym_mode: str = "hmac",
    notes: str = "drop",
    full: bool = False,
    source: str = "ehr",
    snapshot: str | None = None,
    unknown_columns: str = "fail",
) -> dict:
    """Load new export files into the de-identified warehouse and publish the analysts' snapshot.

    Args:
        inbox: folder of exports (PHI zone, read only).
        warehouse: the DuckDB warehouse file (de-identified data only).
        vault: folder holding the key and the patient index (outside the warehouse).
        reports: folder for run reports; each run writes ``<reports>/<run_id>/run.json``.
        profile: de-identification profile: ``ED`` (per-patient date shift, default), ``SH``
            (Safe Harbor: years only) or ``LDS`` (limited data set: real dates). Changing it
            needs ``full``.
        pseudonym_mode: ``hmac`` (default) or ``random_crosswalk`` (random patient ids kept in
            the vault's patient index).
        notes: ``drop`` (default: clinical note text never leaves) or ``scrub`` (decoded,
            scrubbed of identifiers, dates shifted, kept in ``core.notes.note_text``).
        full: rebuild every core table from all files instead of loading only new files.
        source: name of the source system (part of every non-patient pseudonym).
        snapshot: read-only copy for analysts (default: ``<warehouse stem>.snapshot.duckdb``).
        unknown_columns: ``fail`` (default) or ``drop`` CSV headers the column map does not know.

    Returns:
        The run summary (value-free) as a dict.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    if notes not in ("drop", "scrub"):
        raise ValueError("notes is 'drop' or 'scrub'")
    if profile not in PROFILES or pseudonym_mode not in PSEUDONYM_MODES:
        raise ValueError(f"profile is one of {PROFILES}, pseudonym_mode one of {PSEUDONYM_MODES}")
    if unknown_columns not in ("fail", "drop"):
        raise ValueError("unknown_columns must be 'fail' or 'drop'")
    inbox_path, warehouse_path, vault_path, reports_path = map(
        Path, (inbox, warehouse, vault, reports)
    )
    snapshot_path = Path(snapshot) if snapshot else warehouse_path.with_suffix(".snapshot.duckdb")

    # Refuse to start on configuration errors, before touching anything.
    keys = load_keys(vault_path)
    views = compiled_core_views()
    column_maps = [load_column_map(name) for name in SHIPPED_CSV_MAPS]
    catalogue = load_catalogue()  # once per run: a malformed check stops the run here
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    summary = RunSummary(
        run_id=run_id,
        status="running",
        profile=profile,
        full_refresh=full,
        key_fingerprint=keys.fingerprint,
        config_hash=config_hash(maps=column_maps),
        warehouse=str(warehouse_path),
        snapshot=str(snapshot_path),
        report_dir=str(reports_path / run_id),
    )
    logger.info("run %s: profile %s, key fingerprint %s", run_id, profile, keys.fingerprint)

    found = discover_task(inbox_path)
    summary.files_seen = len(found.files)
    summary.files_ignored = found.skipped_by_reason()
    definitions = core_tables(profile=profile, notes_mode=notes == "scrub")
    with open_warehouse(warehouse_path, full_refresh=full, definitions=definitions) as con:
        already = set() if full else loaded_file_hashes(con)
        start_run(con, run_id, profile, pseudonym_mode, full, keys.fingerprint, summary.config_hash)
    # identical content under two names loads once (the sha256 is the file's identity)
    todo = list({f.sha256: f for f in reversed(found.files) if f.sha256 not in already}.values())[
        ::-1
    ]
    summary.files_skipped_already_loaded = len(found.files) - len(todo)
    logger.info("%d files found, %d new", len(found.files), len(todo))

    tokens: TokenIndex | None = None
    republish = False  # a committed load an earlier run left unpublished
    # every log record of this run, kept in memory for the leak scan of the logs
    log_capture = _LogCapture()
    logging.getLogger("prefect").addHandler(log_capture)
    try:
        if todo:
            futures = stage_file_task.map(
                todo,
                keys=unmapped(keys),
                source=unmapped(source),
                column_maps=unmapped(column_maps),
                drop_unknown=unmapped(unknown_columns == "drop"),
            )
            progress.start("stage", len(futures))
            staged_by_hash = {}
            for future in as_completed(futures):
                item = future.result()
                staged_by_hash[item.file.sha256] = item
                progress.advance("stage")
            staged = [staged_by_hash[f.sha256] for f in todo]  # discovery order: deterministic
            read, quarantined = Counter(), Counter()
            for item in staged:
                read.update(item.read_by_type)
                quarantined.update(item.quarantined_by_type)
            summary.read_by_type, summary.quarantined_by_type = dict(read), dict(quarantined)
            logger.info(
                "staged %d resources, %d quarantined",
                summary.resources_read,
                summary.resources_quarantined,
            )

            context = DeidContext(
                keys=keys,
                source=source,
                run_date=dt.date.today(),
                profile=profile,
                pseudonym_mode=pseudonym_mode,
                notes_mode=notes == "scrub",
            )
            progress.start("flatten", 1)
            deidentified = flatten_task(staged, context, views, vault_path)
            tables, deid_counts, index = (
                deidentified.tables,
                deidentified.counts,
                deidentified.patient_index,
            )
            evidence, extensions, tokens = (
                deidentified.evidence,
                deidentified.extensions,
                deidentified.token_index,
            )
            sanity = date_shift_sanity(index.table(), context.max_shift_days)
            summary.date_shift = sanity
            progress.advance("flatten")
            progress.start("load", 1)
            summary.deid_by_table = {name: asdict(c) for name, c in deid_counts.items()}
            # leak scan of the batch before anything is written (a hit raises: run failed)
            if len(tokens):
                summary.leak_scan["batch"] = prescan_task(tables, tokens, keys.scan_index, run_id)
            else:  # no Patient has been seen yet: no identifier to look for, nothing to prove
                summary.leak_scan["skipped"] = "no patient identifiers indexed yet"
                tokens = None
            # the indexes first: if the load then fails, their entries (deterministic) are still right
            write_patient_index(vault_path, index, keys.fingerprint)
            if tokens is not None:
                write_token_index(vault_path, tokens)

            # notes mode: measure the scrubber on a labelled synthetic corpus, for the audit
            scrubber_check = evaluate(generate_corpus(200, seed=0)) if notes == "scrub" else None
            if scrubber_check is not None:
                summary.notes_scrubber = {
                    "version": SCRUBBER_VERSION,
                    "own_recall": scrubber_check.own_overall,
                    "pattern_recall": scrubber_check.pattern_overall,
                }

            def record_run_evidence(con: duckdb.DuckDBPyConnection) -> None:
                record_evidence(
                    con,
                    run_id,
                    evidence,
                    deid_counts,
                    sanity,
                    profile,
                    context.max_shift_days,
                    keys.fingerprint,
                    extensions,
                )
                if scrubber_check is not None:
                    record_notes_scrubber(con, run_id, SCRUBBER_VERSION, scrubber_check)

            gate = QualityGate(
                batch_results=gx_checks_task(tables, catalogue, reports_path / run_id / "gx"),
                checks=catalogue,
            )
            study_gate = QualityGate(scope="study", checks=catalogue)
            load_counts, risk, warehouse_scan = load_task(
                warehouse_path,
                run_id,
                tables,
                full,
                staged,
                keys.file_name,
                definitions,
                gate,
                study_gate,
                record_run_evidence,
                (tokens, keys.scan_index) if tokens is not None else None,
            )
            summary.leak_scan["warehouse"] = warehouse_scan
            summary.rows_by_table = {name: asdict(c) for name, c in load_counts.items()}
            summary.risk = [
                {k: v for k, v in asdict(row).items() if k != "measured_at"} for row in risk
            ]
            progress.advance("load")
            summary.files_loaded = len(todo)
        else:  # nothing new: the checks still judge the warehouse, for this run's report
            recheck_task(warehouse_path, run_id, definitions, catalogue)
            if snapshot_path.exists() and not snapshot_is_current(warehouse_path, snapshot_path):
                # an earlier run committed a load and failed before publishing it
                summary.leak_scan["warehouse"] = unpublished_scan_task(
                    warehouse_path, vault_path, keys, run_id
                )
                republish = True
        summary.status = "succeeded"
    except QualityGateError as exc:
        summary.status, summary.error = "failed", "QualityGateError"
        summary.failed_checks = [result.check_id for result in exc.failures]
        logger.error("%s", exc)  # names checks and counts only
        raise
    except Exception as exc:
        summary.status = "failed"
        # class and our own message only: never the text of a library exception about the data
        summary.error = f"{type(exc).__name__}"
        raise
    finally:
        summary.seconds = round(time.perf_counter() - started, 3)
        logging.getLogger("prefect").removeHandler(log_capture)
        report_paths, markdown = report_task(summary, warehouse_path, definitions, full, catalogue)
        report_scan = None
        if tokens is not None:  # the reports (and the run's log) must hold no identifier either
            report_scan = scan_files(
                report_scan_labels(reports_path / run_id),
                tokens,
                keys.scan_index,
                texts=[("log.prefect", log_capture.text()), ("artifact.markdown", markdown)],
            )
            summary.leak_scan["report"] = report_scan.report()
        with open_warehouse(warehouse_path, full_refresh=full, definitions=definitions) as con:
            if report_scan is not None:
                record_leak_scan(con, run_id, report_scan)
                if not report_scan.clean:  # in a report file or in the logs
                    _withhold(reports_path / run_id)
                    summary.status, summary.error = "failed", "LeakDetectedError"
                    amend_run_failed(con, run_id, "LeakDetectedError")
        if report_scan is None or report_scan.clean:
            create_markdown_artifact(
                key="nightly-refresh-summary",
                markdown=markdown,
                description=f"chartetl nightly refresh {run_id}: {summary.status}",
            )
    if report_scan is not None and not report_scan.clean:  # the reports were withheld
        raise LeakDetectedError(report_scan)
    # publish only a run that loaded, passed the gate, scanned clean and reported clean
    if summary.files_loaded or republish or not snapshot_path.exists():
        snapshot_task(warehouse_path, snapshot_path, definitions)
    logger.info("run %s %s; report %s", run_id, summary.status, report_paths["html"])
    return asdict(summary)


class _LogCapture(logging.Handler):
    """Collects the log messages of a run (in memory) so the leak scan can read them."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a malformed record must not break the run; it is simply not kept
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)


_LABEL_LENGTH = 64  # the leak scan's limit


def _is_text(path: Path) -> bool:
    """UTF-8 text: every report, JSON, HTML, CSS, JS and SVG file; not fonts or images."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def report_scan_labels(folder: Path) -> dict[str, Path]:
    """Every text file of a run's report folder, under a unique leak-scan label.

    A label is ``report.`` and the relative path with dots for slashes (``report.report.json``,
    ``report.gx.index.html``); a path too long for that, or whose label another file already
    has, is numbered instead (``report.7.<file name>``), so no file goes unscanned. Binary
    files (the fonts and images GX Data Docs ship) are left out: the scan reads text lines, and
    their bytes can spell a name by chance.
    """
    labels: dict[str, Path] = {}
    files = [path for path in sorted(folder.rglob("*")) if path.is_file() and _is_text(path)]
    for number, path in enumerate(files):
        label = "report." + path.relative_to(folder).as_posix().replace("/", ".")
        if len(label) > _LABEL_LENGTH or label in labels:
            label = f"report.{number}.{path.name}"[:_LABEL_LENGTH]
        labels[label] = path
    return labels


@task(name="write-reports")
def report_task(
    summary: RunSummary, warehouse: Path, definitions: dict, full: bool, catalogue: list[Check]
) -> tuple[dict[str, Path], str]:
    """Finish the run in the ledger and write its reports: run, data quality, study.

    Files: run.json, report.json and report.html (the auditors' run report), study_report.html
    and study_report.json (the study tables as published).

    The table counts are recorded first so the run-over-run comparison has them; the GX Data
    Docs, when the batch suites ran, are already in the folder and get linked.
    """
    folder = Path(summary.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run_json = folder / "run.json"
    run_json.write_text(
        json.dumps(asdict(summary), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    with open_warehouse(warehouse, full_refresh=full, definitions=definitions) as con:
        record_table_counts(con, summary.run_id)
        finish_run(
            con,
            summary.run_id,
            summary.status,
            RunCounts(
                files_seen=summary.files_seen,
                files_loaded=summary.files_loaded,
                files_skipped=summary.files_skipped_already_loaded,
                resources_read=summary.resources_read,
                # the load is one transaction: a run that failed before it committed loaded nothing
                resources_loaded=(
                    summary.resources_read - summary.resources_quarantined
                    if summary.files_loaded
                    else 0
                ),
                resources_quarantined=summary.resources_quarantined,
            ),
            error_summary=summary.error,
        )
        paths = {"run": run_json}
        try:  # the study as published (yesterday's when this run was refused); linked below
            study = write_study_report(con, folder)
            paths |= {"study_html": study["html"], "study_json": study["json"]}
        except StudyReportError:  # no study tables yet: no load has succeeded
            pass
        report = build_run_report(con, summary.run_id, summary=asdict(summary), catalogue=catalogue)
        paths |= write_run_report(folder, report)
    return paths, markdown_summary(report, paths["html"])


def _withhold(folder: Path) -> None:
    """Replace every report file with a notice: one of them held an identifier."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_text("withheld: the leak scan found an identifier in this run's reports\n")
