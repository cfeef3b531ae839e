"""The ``chartetl`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
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
    ] = 5,
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


@app.command("demo")
def demo() -> None:
    """Show the engine at work: conformance suite, then the core views over the 10-patient sample.

    Nothing identified is written: the sample is flattened in memory and only counts are shown.
    """
    suite_dir = default_suite_dir()
    if suite_dir.is_dir():
        results = run_suite(suite_dir)
        passed = sum(r.passed for r in results)
        console.print(
            f"SQL-on-FHIR v2 conformance: {passed} passed, {len(results) - passed} failed"
        )
    else:
        console.print(f"[yellow]conformance suite not found at {suite_dir}; skipped[/yellow]")
    if SAMPLE_EXPORT.is_dir():
        bench_views(SAMPLE_EXPORT, repeats=3)
    else:
        console.print(f"[yellow]sample export not found at {SAMPLE_EXPORT}; skipped[/yellow]")


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


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
