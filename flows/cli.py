"""The ``chartetl`` command line."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, ClassVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from transforms.sql_on_fhir import FHIRPathSyntaxError, ViewDefinitionError, compile_view, load_view
from transforms.sql_on_fhir.benchmark import benchmark_views
from transforms.sql_on_fhir.conformance import (
    default_suite_dir,
    iter_cases,
    run_suite,
    write_report,
)
from transforms.sql_on_fhir.engine import macros_sql
from transforms.sql_on_fhir.schema import R4B
from transforms.views import load_views

app = typer.Typer(
    name="chartetl",
    help="EHR chart exports (FHIR R4, CSV) to a de-identified, validated DuckDB research warehouse.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

SAMPLE_EXPORT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "smart-bulk-10-patients"
)


def _progress_bars() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )


@app.command("sof-test")
def sof_test(
    suite: Annotated[
        Path | None, typer.Option(help="Folder of the SQL-on-FHIR v2 test JSON files.")
    ] = None,
    report: Annotated[Path, typer.Option(help="Where to write test_report.json.")] = Path(
        "test_report.json"
    ),
) -> None:
    """Run the SQL-on-FHIR v2 conformance suite and write test_report.json in the official format."""
    suite_dir = suite or default_suite_dir()
    if not suite_dir.is_dir():
        err_console.print(f"[red]suite folder not found:[/red] {suite_dir}")
        raise typer.Exit(2)
    total = sum(1 for _ in iter_cases(suite_dir))
    with _progress_bars() as progress:
        task = progress.add_task("SQL-on-FHIR tests", total=total)
        results = run_suite(suite_dir, on_result=lambda _r: progress.advance(task))
    write_report(results, report)

    table = Table(title=f"SQL-on-FHIR v2 conformance ({suite_dir.name})")
    for heading in ("file", "passed", "failed"):
        table.add_column(heading, justify="left" if heading == "file" else "right")
    by_file: dict[str, list] = {}
    for result in results:
        by_file.setdefault(result.file, []).append(result)
    for file_name, file_results in by_file.items():
        failed = sum(not r.passed for r in file_results)
        table.add_row(
            file_name, str(len(file_results) - failed), f"[red]{failed}[/red]" if failed else "0"
        )
    console.print(table)
    for result in results:
        if not result.passed:
            console.print(f"[red]FAILED[/red] {result.file} :: {result.title}: {result.reason}")
    passed = sum(r.passed for r in results)
    console.print(f"{passed} passed, {len(results) - passed} failed (report: {report})")
    if passed != len(results):
        raise typer.Exit(1)


@app.command("view-sql")
def view_sql(
    view: Annotated[
        Path, typer.Argument(help="A ViewDefinition JSON file.", exists=True, dir_okay=False)
    ],
    source: Annotated[
        str, typer.Option(help="Relation holding the resources (a 'resource' JSON column).")
    ] = "resources",
    macros: Annotated[
        bool, typer.Option("--macros", help="Also print the fhir_* macro definitions.")
    ] = False,
    generic: Annotated[
        bool,
        typer.Option(
            "--generic", help="Ignore R4 cardinalities (valid for JSON of any FHIR version)."
        ),
    ] = False,
) -> None:
    """Print the DuckDB SQL a ViewDefinition compiles to."""
    try:
        compiled = compile_view(load_view(view), None if generic else R4B)
    except (ViewDefinitionError, FHIRPathSyntaxError) as exc:
        err_console.print(f"[red]invalid view[/red] {view.name}: {exc}")
        raise typer.Exit(2) from None
    if macros:
        print(macros_sql())
    print(compiled.sql(source) + ";")


@app.command("bench-views")
def bench_views(
    export: Annotated[
        Path, typer.Option(help="Bulk export folder (NDJSON per resource type).")
    ] = SAMPLE_EXPORT,
    repeats: Annotated[
        int, typer.Option(min=1, help="Runs per measurement (median reported).")
    ] = 11,
) -> None:
    """Benchmark the core views over an export beside DuckDB's plain read_ndjson_objects scan."""
    if not export.is_dir():
        err_console.print(f"[red]export folder not found:[/red] {export}")
        raise typer.Exit(2)
    with console.status("flattening..."):
        result = benchmark_views(export, load_views(), repeats)
    table = Table(title=f"View flattening, {export.name} (median of {repeats})")
    for heading in ("view", "resource", "MB", "resources", "rows", "ms", "MB/s", "resources/s"):
        table.add_column(heading, justify="left" if heading in ("view", "resource") else "right")
    for t in result.views:
        table.add_row(
            t.view, t.resource, f"{t.megabytes:.2f}", str(t.resources), str(t.rows), f"{t.seconds * 1000:.1f}",
            f"{t.megabytes_per_second:.1f}", f"{t.resources_per_second:,.0f}",
        )  # fmt: skip
    table.add_row(
        "[b]all views[/b]", "", f"{result.megabytes:.2f}", str(sum(t.resources for t in result.views)),
        str(sum(t.rows for t in result.views)), f"{result.seconds * 1000:.1f}",
        f"[b]{result.megabytes_per_second:.1f}[/b]", "",
    )  # fmt: skip
    console.print(table)
    console.print(
        f"floor (read_ndjson_objects of the same files): {result.floor_megabytes_per_second:.1f} MB/s; "
        f"views run at {result.megabytes_per_second / result.floor_megabytes_per_second:.1%} of the floor"
    )


@app.command("views")
def views() -> None:
    """List the project's ViewDefinitions and their columns with de-identification classes."""
    for name, view in load_views().items():
        table = Table(title=f"{name} ({view.resource})")
        for heading in ("column", "type", "deid", "path"):
            table.add_column(heading)
        for column in compile_view(view).columns:
            table.add_row(
                column.name, column.sql_type, column.column.tag("deid") or "-", column.column.path
            )
        console.print(table)


# ------------------------------------------------------------------------------ the pipeline


@app.command("keygen")
def keygen_command(
    vault: Annotated[
        Path, typer.Option(help="Vault folder (created 0700; outside warehouse and reports).")
    ],
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the key: a new epoch, every pseudonym changes."),
    ] = False,
) -> None:
    """Create a fresh 32-byte de-identification key in the vault (file mode 0600)."""
    from transforms.deid.keys import keygen, load_keys

    try:
        path = keygen(vault, overwrite=overwrite)
    except FileExistsError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"key written to {path} (fingerprint {load_keys(vault).fingerprint})")


@app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option(help="Folder to write the export into.")],
    profile: Annotated[
        str, typer.Option(help="paper (the published LDN cohort) or clinic.")
    ] = "paper",
    patients: Annotated[
        int | None, typer.Option(help="Number of patients (clinic profile).")
    ] = None,
    export_format: Annotated[
        str, typer.Option("--format", help="ndjson, bundle or csv.")
    ] = "ndjson",
    seed: Annotated[
        int, typer.Option(help="Random seed: same seed, same patients in every format.")
    ] = 0,
    defects: Annotated[
        bool, typer.Option("--defects", help="Plant realistic faults for validation.")
    ] = False,
) -> None:
    """Generate a synthetic chart export (fake PHI only) for trying and testing the pipeline."""
    from transforms.synth import generate, write_export

    if profile not in ("paper", "clinic") or export_format not in ("ndjson", "bundle", "csv"):
        err_console.print("[red]--profile is paper|clinic and --format ndjson|bundle|csv[/red]")
        raise typer.Exit(2)
    with console.status(f"generating {profile} export..."):
        export = generate(profile=profile, patients=patients, seed=seed, defects=defects)
        paths = write_export(export, export_format, out)
    size = sum(p.stat().st_size for p in paths) / 1e6
    console.print(f"{len(paths)} files, {size:.1f} MB written to {out}")


class _RichProgress:
    """Progress bars for the flow's long steps in an interactive terminal."""

    labels: ClassVar[dict[str, str]] = {
        "stage": "read + validate files",
        "flatten": "flatten + de-identify",
        "load": "load warehouse",
    }

    def __init__(self, bars: Progress):
        self.bars = bars
        self.tasks: dict[str, object] = {}

    def start(self, step: str, total: int) -> None:
        self.tasks[step] = self.bars.add_task(self.labels.get(step, step), total=total)

    def advance(self, step: str, amount: int = 1) -> None:
        self.bars.advance(self.tasks[step], amount)


def _print_summary(summary: dict) -> None:
    table = Table(
        title=f"run {summary['run_id']}: {summary['status']} in {summary['seconds']:.1f} s"
    )
    for heading in ("table", "inserted", "updated", "unchanged", "deleted", "dups"):
        table.add_column(heading, justify="left" if heading == "table" else "right", no_wrap=True)
    for name, counts in sorted(summary["rows_by_table"].items()):
        table.add_row(
            name,
            *(
                str(counts[k])
                for k in ("inserted", "updated", "unchanged", "deleted", "duplicates_dropped")
            ),
        )
    console.print(table)
    read = sum(summary["read_by_type"].values())
    quarantined = sum(summary["quarantined_by_type"].values())
    console.print(
        f"files: {summary['files_seen']} seen, {summary['files_loaded']} loaded, "
        f"{summary['files_skipped_already_loaded']} already loaded; resources: {read} read, "
        f"{quarantined} quarantined (dups: duplicate keys within the run, last one kept)"
    )
    console.print(
        f"warehouse: {summary['warehouse']}\nsnapshot:  {summary['snapshot']}\nreport:    {summary['report_dir']}"
    )


def _run_pipeline(**parameters) -> dict:
    """Run the flow once on Prefect's embedded (ephemeral) API; progress bars on a terminal."""
    from flows import nightly

    with _progress_bars() as bars:
        nightly.progress = _RichProgress(bars) if console.is_terminal else nightly.Progress()
        try:
            return nightly.nightly_refresh(**parameters)
        finally:
            nightly.progress = nightly.Progress()


@app.command("run")
def run_command(
    inbox: Annotated[
        Path,
        typer.Option(help="Export folder (NDJSON, Bundles, CSV).", exists=True, file_okay=False),
    ],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file.")],
    vault: Annotated[Path, typer.Option(help="Vault folder with the key (chartetl keygen).")],
    reports: Annotated[Path, typer.Option(help="Folder for run reports.")],
    profile: Annotated[
        str,
        typer.Option(help="De-identification: ED (date shift), SH (years only), LDS (real dates)."),
    ] = "ED",
    notes: Annotated[
        str, typer.Option(help="drop (default) or scrub clinical note text into core.notes.")
    ] = "drop",
    pseudonyms: Annotated[
        str,
        typer.Option(
            help="hmac (keyed) or random_crosswalk (random patient ids; crosswalk in the vault)."
        ),
    ] = "hmac",
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild every table from every file.")
    ] = False,
    source: Annotated[str, typer.Option(help="Name of the source system.")] = "ehr",
    unknown_columns: Annotated[
        str, typer.Option(help="fail or drop CSV headers no map classifies.")
    ] = "fail",
) -> None:
    """Run the nightly refresh once, on the embedded Prefect API (no server to start)."""
    try:
        summary = _run_pipeline(
            inbox=str(inbox),
            warehouse=str(warehouse),
            vault=str(vault),
            reports=str(reports),
            profile=profile,
            pseudonym_mode=pseudonyms,
            notes=notes,
            full=full,
            source=source,
            unknown_columns=unknown_columns,
        )
    except Exception as exc:
        # the flow recorded the failure in audit.runs; our exceptions carry no values
        err_console.print(f"[red]run failed:[/red] {type(exc).__name__}: {exc}")
        reported = sorted(Path(reports).glob("*/report.html"), key=lambda p: p.stat().st_mtime)
        if reported:  # the run's own report says which checks failed and why
            # soft_wrap: a path must stay whole to be copied
            err_console.print(f"report: {reported[-1]}", soft_wrap=True)
            err_console.print(
                f"details: chartetl report --warehouse {warehouse} {reported[-1].parent.name}",
                soft_wrap=True,
            )
        raise typer.Exit(1) from None
    _print_summary(summary)


@app.command("serve")
def serve_command(
    inbox: Annotated[Path, typer.Option(help="Export folder watched each night.")],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file.")],
    vault: Annotated[Path, typer.Option(help="Vault folder with the key.")],
    reports: Annotated[Path, typer.Option(help="Folder for run reports.")],
    cron: Annotated[str, typer.Option(help="When to run (cron).")] = "30 2 * * *",
    timezone: Annotated[str, typer.Option(help="IANA time zone of the cron.")] = "America/New_York",
    profile: Annotated[str, typer.Option(help="De-identification profile.")] = "ED",
    port: Annotated[int, typer.Option(help="Port of the local Prefect server (127.0.0.1).")] = 4200,
) -> None:
    """Run the nightly schedule on this machine (one run at a time; a run due while one runs is cancelled).

    Prefect's embedded API has no scheduler, so unless PREFECT_API_URL points at a server this
    starts a local one (SQLite, loopback only) for as long as it serves, and stops it on exit.
    """
    import os

    from flows.local_server import local_prefect_server

    with local_prefect_server(port) if not os.environ.get("PREFECT_API_URL") else _no_server():
        from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
        from prefect.schedules import Cron

        from flows.nightly import nightly_refresh

        nightly_refresh.serve(
            name="nightly",
            schedules=[Cron(cron, timezone=timezone)],
            global_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            parameters={
                "inbox": str(inbox),
                "warehouse": str(warehouse),
                "vault": str(vault),
                "reports": str(reports),
                "profile": profile,
            },
        )


@contextlib.contextmanager
def _no_server():
    yield


@app.command("demo")
def demo_command(
    workdir: Annotated[
        Path, typer.Option(help="Work folder for the export, vault, warehouse, reports.")
    ] = Path("work/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic export.")] = 0,
) -> None:
    """The main job: synthetic paper export -> vault and key -> nightly flow -> what was loaded."""
    import shutil
    import time

    from transforms.deid.keys import keygen
    from transforms.synth import generate, write_export

    started = time.perf_counter()
    inbox, vault = workdir / "inbox", workdir / "vault"
    if workdir.exists():
        shutil.rmtree(workdir)  # a demo starts clean: fresh key, fresh warehouse
    with console.status("generating the synthetic paper export (fake PHI only)..."):
        paths = write_export(generate(profile="paper", seed=seed), "ndjson", inbox)
    console.print(f"export: {len(paths)} files in {inbox}")
    keygen(vault)
    summary = _run_pipeline(
        inbox=str(inbox),
        warehouse=str(workdir / "warehouse.duckdb"),
        vault=str(vault),
        reports=str(workdir / "reports"),
    )
    _print_summary(summary)
    _print_study_summary(Path(summary["snapshot"]))
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s")


def _print_study_summary(snapshot: Path) -> None:
    """study.summary as the analysts' snapshot holds it: measure, value, n/denominator, %."""
    import duckdb

    if not snapshot.is_file():
        return
    try:
        with duckdb.connect(str(snapshot), read_only=True) as con:
            rows = con.execute(
                "SELECT section, label, display, n, denominator, percent FROM study.summary "
                "ORDER BY measure_number"
            ).fetchall()
    except duckdb.CatalogException:  # a snapshot published before the study tables existed
        console.print("study.summary: not in the snapshot")
        return
    table = Table(title=f"study.summary ({snapshot.name})")
    for heading in ("measure", "value", "n/denominator", "%"):
        table.add_column(heading, justify="left" if heading in ("measure", "value") else "right")
    for index, (section, label, display, n, denominator, percent) in enumerate(rows):
        table.add_row(
            label,
            display,
            str(n) if denominator is None else f"{n}/{denominator}",
            "" if percent is None else f"{percent:.2f}",
            end_section=index + 1 < len(rows) and rows[index + 1][0] != section,
        )
    console.print(table)


@app.command("export")
def export_command(
    warehouse: Annotated[
        Path, typer.Option(help="The warehouse file (the export records itself in audit).")
    ],
    out: Annotated[Path, typer.Option(help="New folder for the exported files and manifest.json.")],
    tables: Annotated[
        list[str], typer.Option("--table", help="Table to export (core.x or study.x); repeat.")
    ] = ["core.patients"],  # noqa: B006 - typer reads the default, never mutates it
    export_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    k: Annotated[
        int, typer.Option(min=11, help="Smallest class size on the quasi-identifiers.")
    ] = 11,
    drop_suppressed: Annotated[
        bool,
        typer.Option(
            "--drop-suppressed", help="Drop suppressed patients' rows instead of masking."
        ),
    ] = False,
) -> None:
    """Export tables for sharing outside the warehouse, enforcing k-anonymity (k >= 11) by generalising."""
    from warehouse import open_warehouse
    from warehouse.export import export_tables

    with open_warehouse(warehouse) as con:
        report = export_tables(
            con, out, tables, export_format, k=k, drop_suppressed=drop_suppressed
        )
    console.print(
        f"exported {', '.join(f'{n} ({r} rows)' for n, r in report.rows.items())} to {report.out_dir} "
        f"(k = {report.k}): {report.patients} patients, zip3 generalised for {report.generalised_zip}, "
        f"birth year banded for {report.generalised_birth_year}, suppressed {report.suppressed}; "
        "manifest.json beside the files"
    )


@app.command("report")
def report_command(
    warehouse: Annotated[
        Path,
        typer.Option(
            help="The warehouse file or its snapshot (opened read-only).",
            exists=True,
            dir_okay=False,
        ),
    ],
    run_id: Annotated[
        str | None, typer.Argument(help="A run id; without it, list the runs.")
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option(
            help="Folder of run reports: shows <reports>/<run_id>/report.html, writing it if missing."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Runs to list, newest first.")] = 20,
    keys: Annotated[
        str | None,
        typer.Option(
            metavar="CHECK_ID",
            help="Print the offending keys (pseudonymous ids, indexes) stored for this check of "
            "RUN_ID, for data engineers; the report itself shows counts only.",
        ),
    ] = None,
) -> None:
    """List the runs, or show one run's data-quality summary and where its HTML report is."""
    from expectations.run_report import build_run_report, write_run_report
    from warehouse import WarehouseBusyError, open_read_only
    from warehouse.run_history import list_runs

    if keys is not None and run_id is None:
        err_console.print("[red]--keys needs a RUN_ID[/red]")
        raise typer.Exit(2)
    try:
        with open_read_only(warehouse) as con:
            if keys is not None:
                _print_check_keys(con, warehouse, run_id, keys)
                return
            if run_id is None:
                runs = list_runs(con, limit=limit)
            else:
                try:
                    report = build_run_report(con, run_id)
                except LookupError:
                    err_console.print(f"[red]no run {run_id!r} in {warehouse}[/red]")
                    raise typer.Exit(1) from None
    except WarehouseBusyError as exc:
        err_console.print(f"[red]{exc}[/red] (read the snapshot while a run writes)")
        raise typer.Exit(2) from None
    if run_id is None:
        _print_runs(runs)
        return
    _print_report(report)
    if reports is None:
        console.print("report: pass --reports to locate or write report.html")
        return
    folder = reports / run_id
    html = folder / "report.html"
    if html.is_file():
        console.print(f"report: {html}")
    else:
        paths = write_run_report(folder, report)
        console.print(f"report: {paths['html']} (written now from the warehouse)")


def _print_check_keys(con, warehouse: Path, run_id: str, check_id: str) -> None:
    from expectations.checks import MAX_VIOLATING_KEYS, stored_violations
    from warehouse.run_history import check_results

    result = next((row for row in check_results(con, run_id) if row["check_id"] == check_id), None)
    if result is None:
        err_console.print(
            f"[red]no result of check {check_id!r} in run {run_id!r} in {warehouse}[/red]"
        )
        raise typer.Exit(1)
    columns, rows = stored_violations(con, run_id, check_id)
    counts = (
        f"{result['rows_violating']} of {result['rows_checked']} rows violating"
        if result["rows_violating"] is not None
        else f"error {result['error_class'] or ''}".rstrip()
    )
    console.print(f"check {check_id} in run {run_id}: {_styled(result['status'])}, {counts}")
    if not rows:
        console.print("no keys stored (keys are kept for failed SQL checks only)")
        return
    table = Table(title=f"offending keys ({len(rows)} stored; at most {MAX_VIOLATING_KEYS})")
    table.add_column("#", justify="right")
    for column in columns:
        table.add_column(column, no_wrap=True)  # pseudonyms are copied from here: never cut
    for number, key in enumerate(rows, start=1):
        table.add_row(str(number), *("" if value is None else str(value) for value in key))
    console.print(table)


_STATUS_STYLE = {
    "succeeded": "green",
    "passed": "green",
    "ok": "green",
    "failed": "red",
    "error": "red",
    "warning": "yellow",
    "running": "blue",
}


def _styled(status: str | None) -> str:
    style = _STATUS_STYLE.get(status or "")
    return f"[{style}]{status}[/{style}]" if style else str(status)


def _nonzero(value: object, style: str) -> str:
    return f"[{style}]{value}[/{style}]" if value else str(value)


def _print_runs(runs: list[dict]) -> None:
    if not runs:
        console.print("no runs recorded")
        return
    table = Table(title="chartetl runs, newest first")
    table.add_column("run", no_wrap=True)  # ids are copied from here: never cut
    table.add_column("status")
    table.add_column("started (UTC)", no_wrap=True)
    for heading in ("files", "fatal", "warn"):
        table.add_column(heading, justify="right")
    for run in runs:
        checks = run["checks"]
        table.add_row(
            run["run_id"],
            _styled(run["status"]),
            f"{run['started_at']:%Y-%m-%d %H:%M}" if run["started_at"] else "-",
            "-" if run["files_loaded"] is None else str(run["files_loaded"]),
            _nonzero(run["fatal_failures"], "red") if checks else "-",
            _nonzero(run["warning_failures"], "yellow") if checks else "-",
        )
    console.print(table)
    console.print(
        "files: files loaded; fatal / warn: data-quality checks failed or in error "
        "(-: no check results)"
    )


def _print_report(report: dict) -> None:
    run, verdict, overview = report["run"], report["verdict"], report["overview"]
    console.print(
        f"run {run['run_id']}: {_styled(run['status'])} (profile {run['profile']}, "
        f"started {run['started_at'] or '-'}, key fingerprint {run['key_fingerprint']})"
    )
    console.print(f"[b]{verdict['headline']}[/b]", style=_STATUS_STYLE.get(verdict["level"]))
    grid = Table(title="data-quality checks (Kahn): passed / failed / error / n/a")
    grid.add_column("category")
    contexts = [*overview["contexts"], "total"]
    for context in contexts:
        grid.add_column(context, justify="right")
    for category in [*overview["categories"], "total"]:
        cells = []
        for context in contexts:
            cell = overview["grid"][context][category]
            cells.append(
                f"{cell['passed']} / {_nonzero(cell['failed'], 'red')} / "
                f"{_nonzero(cell['error'], 'red')} / {cell['not_applicable']}"
            )
        grid.add_row(category, *cells)
    console.print(grid)
    failing = sorted(  # fatal first, then catalogue order
        (row for row in report["checks"] if row["status"] in ("failed", "error")),
        key=lambda row: row["severity"] != "fatal",
    )
    if failing:
        table = Table(title="failing checks (fatal ones stop the publish)")
        table.add_column("check", no_wrap=True)
        table.add_column("severity")
        table.add_column("rows violating", justify="right")
        table.add_column("allowed", justify="right")
        for row in failing:
            if row["status"] == "error":
                violating = f"[red]error[/red] {row['error_class'] or ''}".rstrip()
            else:
                violating = f"{row['rows_violating']} of {row['rows_checked']} ({row['pct']:.2f} %)"
            table.add_row(
                row["check_id"],
                _nonzero(row["severity"], "red" if row["severity"] == "fatal" else "yellow"),
                violating,
                f"{row['threshold_pct']:g} %",
            )
        console.print(table)
    comparison = report["comparison"]
    if comparison["previous_run_id"] is None:
        console.print("no earlier run with check results to compare with")
    else:
        console.print(f"compared with run {comparison['previous_run_id']}:")
        for key, label in (
            ("new_failures", "new failures"),
            ("resolved_failures", "resolved failures"),
            ("persisting_failures", "persisting failures"),
        ):
            ids = ", ".join(entry["check_id"] for entry in comparison[key]) or "none"
            console.print(f"  {label} ({len(comparison[key])}): {ids}")
        changed = [row for row in comparison["tables"] if row["change"]]
        rows = ", ".join(f"{row['table']} {row['change']:+}" for row in changed) or "no change"
        console.print(f"  rows per table: {rows}")


@app.command("bench")
def bench_command(
    patients: Annotated[
        int, typer.Option(min=1, help="Size of the generated clinic export.")
    ] = 2000,
    workdir: Annotated[Path, typer.Option(help="Scratch folder (emptied first).")] = Path(
        "work/bench"
    ),
    flow: Annotated[
        bool, typer.Option(help="Also time the whole flow: full refresh, then a re-run.")
    ] = True,
) -> None:
    """Benchmark every pipeline stage on a generated clinic export (MB/s, resources/s, peak memory)."""
    from flows.bench import run_benchmark

    with console.status(f"benchmarking {patients} patients..."):
        result = run_benchmark(patients, workdir, with_flow=flow)
    table = Table(
        title=f"{patients} patients: {result.files} files, {result.megabytes:.1f} MB, {result.resources:,} resources"
    )
    for heading in ("stage", "s", "MB/s", "resources/s", "peak RSS MB"):
        table.add_column(heading, justify="left" if heading == "stage" else "right")
    for stage in result.stages:
        table.add_row(
            stage.stage,
            f"{stage.seconds:.2f}",
            f"{stage.megabytes_per_second:.1f}",
            f"{stage.resources_per_second:,.0f}",
            f"{stage.peak_rss_mb:,.0f}",
        )
    table.add_row(
        "[b]pipeline[/b]",
        f"{result.pipeline_seconds:.2f}",
        f"[b]{result.megabytes / result.pipeline_seconds:.1f}[/b]",
        f"{result.resources / result.pipeline_seconds:,.0f}",
        "",
    )
    table.add_row(
        "floor: read_ndjson_objects",
        f"{result.floor_seconds:.2f}",
        f"{result.megabytes / result.floor_seconds:.1f}",
        f"{result.resources / result.floor_seconds:,.0f}",
        "",
    )
    console.print(table)
    console.print(f"(generating the export took {result.generate_seconds:.1f} s, not counted)")
    if flow:
        share = (
            result.flow_rerun_seconds / result.flow_full_seconds if result.flow_full_seconds else 0
        )
        console.print(
            f"flow: full refresh {result.flow_full_seconds:.2f} s; re-run with no new files "
            f"{result.flow_rerun_seconds:.2f} s ({share:.1%} of the full refresh)"
        )


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
