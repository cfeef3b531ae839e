"""The auditors' run report: one value-free document per run, as report.json and offline report.html.

The document holds counts, check outcomes, hashes and settings, never a value from the data and
never a key: check results come from ``audit.check_results`` (counts only), not from the
``violating_keys`` a check returns in memory. ``expectations/run_report.schema.json`` describes
it; ``write_run_report`` validates before writing anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import jsonschema

from transforms.sources.csv_source import MAPS_DIR
from transforms.views import VIEWS_DIR
from warehouse import run_history
from warehouse.sqltools import utc_now

from .checks import (
    CATALOGUE_PATH,
    CHECKS_DIR,
    KAHN_CONTEXTS,
    STATUSES,
    SUBCATEGORIES,
    Check,
    load_catalogue,
)
from .html import NO_VALUE, template_environment

REPORT_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "run_report.schema.json"
DATA_QUALITY_DOC = "expectations/DATA_QUALITY.md"
CATEGORIES = tuple(SUBCATEGORIES)
TOTAL = "total"
FAILING = run_history.FAILING_STATUSES
# Distributions whose versions the report records (key in the report -> distribution name).
VERSIONED = {
    "chartetl": "chartetl",
    "duckdb": "duckdb",
    "prefect": "prefect",
    "great_expectations": "great-expectations",
    "fhir_resources": "fhir.resources",
    "jinja2": "jinja2",
}
# HIPAA Safe Harbor identifiers, 45 CFR 164.514(b)(2)(i)(A)-(R).
SAFE_HARBOR = {
    "A": "names",
    "B": "geographic subdivisions smaller than a state",
    "C": "dates (except year) and ages over 89",
    "D": "telephone numbers",
    "E": "fax numbers",
    "F": "email addresses",
    "G": "social security numbers",
    "H": "medical record numbers",
    "I": "health plan beneficiary numbers",
    "J": "account numbers",
    "K": "certificate/license numbers",
    "L": "vehicle identifiers and serial numbers",
    "M": "device identifiers and serial numbers",
    "N": "web URLs",
    "O": "IP addresses",
    "P": "biometric identifiers",
    "Q": "full-face photographs",
    "R": "any other unique identifying number, characteristic or code",
}
# The RunSummary fields the report copies: counts and error classes; never paths or settings
# that the warehouse already records.
_SUMMARY_FIELDS = (
    "seconds",
    "files_seen",
    "files_loaded",
    "files_skipped_already_loaded",
    "files_ignored",
    "read_by_type",
    "quarantined_by_type",
    "rows_by_table",
    "leak_scan",
    "notes_scrubber",
    "error",
)
_LOAD_COUNT_FIELDS = ("inserted", "updated", "unchanged", "deleted", "duplicates_dropped")


class ReportValidationError(ValueError):
    """A report document does not match ``run_report.schema.json``: nothing was written."""


def build_run_report(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    summary: Mapping[str, Any] | None = None,
    *,
    catalogue: Sequence[Check] | None = None,
    catalogue_path: Path = CATALOGUE_PATH,
) -> dict:
    """Assemble the report document of one run from the warehouse's audit tables.

    Call it once the run is finished in ``audit.runs`` (and after ``record_table_counts``), on
    the writer's connection or a read-only one. Audit tables that are missing (an older
    warehouse, a run that failed early) give empty sections.

    Args:
        con: a warehouse connection (read-only suffices).
        run_id: the run to report.
        summary: the flow's ``RunSummary`` as a dict, when there is one: its counts (files,
            resources by type, rows inserted/updated per table, leak scans) join the report.
        catalogue: the checks of the run, when already loaded (default: read from
            ``catalogue_path``). Results of checks it lacks are still listed.
        catalogue_path: the catalogue file the checks come from; the report records its
            SHA-256.

    Returns:
        The report document (JSON-ready: str, int, float, bool, None, lists and dicts).

    Raises:
        LookupError: the run is neither in ``audit.runs`` nor described by ``summary``.
    """
    checks = load_catalogue(catalogue_path) if catalogue is None else list(catalogue)
    catalogue_sha256 = _sha256(Path(catalogue_path).read_bytes())
    row = run_history.run_row(con, run_id)
    if row is None and summary is None:
        raise LookupError(f"run {run_id!r} is not recorded in audit.runs")
    summary_section = _summary_section(summary)
    evidence = run_history.deid_evidence(con, run_id)
    run = _run_section(run_id, row or {}, summary or {}, evidence["date_shift"])

    by_id = {check.id: check for check in checks}
    position = {check_id: index for index, check_id in enumerate(by_id)}
    # catalogue order (as DATA_QUALITY.md lists them); results of dropped checks last
    results = sorted(
        run_history.check_results(con, run_id),
        key=lambda r: (position.get(r["check_id"], len(position)), r["check_id"]),
    )
    check_rows = [_check_row(result, by_id.get(result["check_id"])) for result in results]
    recorded = {result["check_id"] for result in results}
    not_run = [check.id for check in checks if check.id not in recorded]

    previous_id = run_history.previous_run_id(con, run_id)
    previous_row = run_history.run_row(con, previous_id) if previous_id else None
    previous_results = run_history.check_results(con, previous_id)

    files = run_history.files_manifest(con, run_id)
    quarantine = run_history.quarantine_summary(con, run_id)
    leak_rows = run_history.leak_scan_rows(con, run_id)
    return {
        "report_version": REPORT_VERSION,
        "generated_at": _iso(utc_now()),
        "run": run,
        "verdict": _verdict(run, check_rows, not_run),
        "versions": _versions(),
        "hashes": {
            "config_hash": run["config_hash"],
            "catalogue_sha256": catalogue_sha256,
            "checks_sql_sha256": _folder_sha256(CHECKS_DIR, "**/*.sql"),
            "views_sha256": _folder_sha256(VIEWS_DIR, "*.json"),
            "csv_maps_sha256": {
                path.stem: _sha256(path.read_bytes()) for path in sorted(MAPS_DIR.glob("*.yaml"))
            },
        },
        "overview": _overview(check_rows),
        "checks_summary": _checks_summary(check_rows, not_run),
        "checks": check_rows,
        "comparison": {
            "previous_run_id": previous_id,
            "previous_status": previous_row["status"] if previous_row else None,
            "previous_started_at": _iso(previous_row["started_at"]) if previous_row else None,
            # the first run with results has nothing to compare with: every list stays empty
            **_compare_checks(check_rows if previous_id else [], previous_results),
            "tables": _compare_tables(
                run_history.table_counts(con, run_id),
                run_history.table_counts(con, previous_id),
                has_previous=previous_id is not None,
            ),
        },
        "inputs": {
            "files": files,
            "resource_types": run_history.resource_type_counts(con, run_id),
            "totals": {
                "files": len(files),
                "bytes": sum(f["size_bytes"] for f in files),
                "resources_read": sum(f["resources_read"] for f in files),
                "resources_loaded": sum(f["resources_loaded"] for f in files),
                "resources_quarantined": sum(f["resources_quarantined"] for f in files),
            },
        },
        "quarantine": {"total": sum(g["count"] for g in quarantine), "groups": quarantine},
        "deidentification": _deid_section(run, evidence, con, run_id, leak_rows),
        "summary": summary_section,
        "links": {"json": "report.json", "gx_data_docs": None, "study_report": None},
    }


def validate_report(report: Mapping[str, Any]) -> None:
    """Check a report document against ``run_report.schema.json``.

    Args:
        report: a document from ``build_run_report``.

    Raises:
        ReportValidationError: the first violations, by JSON path (the document holds no data
            values, so the message may quote it).
    """
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(report), key=lambda error: list(error.absolute_path))
    if errors:
        details = "; ".join(f"{error.json_path}: {error.message[:200]}" for error in errors[:5])
        raise ReportValidationError(f"the run report does not match its schema: {details}")


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: inline CSS, no script, nothing fetched.

    Every text goes through Jinja2's autoescaping; a Content-Security-Policy forbids loading
    anything, so even a mistake in the template cannot reach the network.

    Args:
        report: a document from ``build_run_report``.
    """
    return _environment().get_template("run_report.html.j2").render(report=report)


def write_run_report(folder: Path, report: Mapping[str, Any]) -> dict[str, Path]:
    """Validate the report, then write ``report.json`` (sorted keys) and ``report.html``.

    When ``folder/gx/index.html`` exists (Great Expectations Data Docs), the report links to it;
    so it does to ``folder/study_report.html`` (the study as published) when that exists.

    Args:
        folder: the run's report folder (``<reports>/<run_id>``), created when missing.
        report: a document from ``build_run_report``.

    Returns:
        ``{"json": path, "html": path}``.

    Raises:
        ReportValidationError: the document does not match the schema; nothing is written.
    """
    folder = Path(folder)
    gx_docs = folder / "gx" / "index.html"
    document = {
        **report,
        "links": {
            **report.get("links", {}),
            "json": "report.json",
            "gx_data_docs": "gx/index.html" if gx_docs.is_file() else None,
            "study_report": (
                "study_report.html" if (folder / "study_report.html").is_file() else None
            ),
        },
    }
    validate_report(document)
    html = render_html(document)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json", "html": folder / "report.html"}
    paths["json"].write_text(
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    paths["html"].write_text(html, encoding="utf-8")
    return paths


def markdown_summary(report: Mapping[str, Any], report_path: Path | str | None = None) -> str:
    """A short Markdown summary for a Prefect artifact: status, counts, failing checks, path.

    Args:
        report: a document from ``build_run_report``.
        report_path: where ``report.html`` was written, shown as the link to the full report.
    """
    run, verdict, counts = report["run"], report["verdict"], report["checks_summary"]
    lines = [
        f"# chartetl run {run['run_id']}: {run['status']}",
        "",
        f"**{verdict['headline']}**",
        "",
        f"Profile {run['profile']}, pseudonyms {run['pseudonym_mode']}, key fingerprint "
        f"`{run['key_fingerprint']}`, config `{run['config_hash']}`.",
        "",
        f"Checks: {counts['total']} run: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} in error, {counts['not_applicable']} not applicable "
        f"({counts['fatal_failures']} fatal and {counts['warning_failures']} warning failures"
        + (f"; {len(counts['not_run'])} catalogue checks not run" if counts["not_run"] else "")
        + ").",
    ]
    failing = [row for row in report["checks"] if row["status"] in FAILING]
    if failing:
        lines += ["", "| check | severity | status | violating | % | threshold % |"]
        lines.append("|---|---|---|---|---|---|")
        lines += [
            f"| `{row['check_id']}` | {row['severity']} | {row['status']} | "
            f"{_count_text(row['rows_violating'])} of {_count_text(row['rows_checked'])} | "
            f"{_pct_text(row['pct'])} | {_pct_text(row['threshold_pct'])} |"
            for row in _failures_first(failing)
        ]
    comparison = report["comparison"]
    if comparison["previous_run_id"]:
        lines += [
            "",
            f"Since run {comparison['previous_run_id']}: "
            f"{len(comparison['new_failures'])} new, "
            f"{len(comparison['resolved_failures'])} resolved, "
            f"{len(comparison['persisting_failures'])} persisting failures.",
        ]
    inputs = report["inputs"]["totals"]
    lines += [
        "",
        f"Inputs: {inputs['files']} files, {inputs['resources_read']} resources read, "
        f"{report['quarantine']['total']} quarantined.",
    ]
    if report_path is not None:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- sections


def _run_section(
    run_id: str, row: Mapping[str, Any], summary: Mapping[str, Any], date_shift: Mapping | None
) -> dict:
    started, finished = row.get("started_at"), row.get("finished_at")
    if started is not None and finished is not None:
        duration = round((finished - started).total_seconds(), 3)
    else:
        duration = summary.get("seconds")
    error = row.get("error_summary", summary.get("error"))
    return {
        "run_id": run_id,
        "status": row.get("status", summary.get("status", "running")),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": None if duration is None else float(duration),
        "profile": row.get("profile", summary.get("profile")),
        "pseudonym_mode": row.get("pseudonym_mode", summary.get("pseudonym_mode")),
        "full_refresh": row.get("full_refresh", summary.get("full_refresh")),
        "key_fingerprint": row.get("key_fingerprint", summary.get("key_fingerprint")),
        "new_key_epoch": None if date_shift is None else bool(date_shift["new_key_epoch"]),
        "config_hash": row.get("config_hash", summary.get("config_hash")),
        "error_class": error,
        "files_seen": row.get("files_seen"),
        "files_loaded": row.get("files_loaded"),
        "files_skipped": row.get("files_skipped"),
        "resources_read": row.get("resources_read"),
        "resources_loaded": row.get("resources_loaded"),
        "resources_quarantined": row.get("resources_quarantined"),
    }


def _check_row(result: Mapping[str, Any], check: Any | None) -> dict:
    kind = getattr(check, "kind", None)
    sql = denominator = None
    if check is not None and kind == "sql" and getattr(check, "sql", None):
        try:
            sql = check.violation_query()
            denominator = check.denominator_query()
        except (OSError, TypeError):  # the file is gone, or the check changed kind since
            sql = denominator = None
    kwargs = getattr(check, "kwargs", None)
    return {
        "check_id": result["check_id"],
        "in_catalogue": check is not None,
        "table": getattr(check, "table", None),
        "column": getattr(check, "column", None),
        "description": getattr(check, "description", None),
        "rationale": getattr(check, "rationale", None),
        "kahn_context": getattr(check, "kahn_context", None),
        "category": getattr(check, "category", None),
        "subcategory": getattr(check, "subcategory", None),
        "kind": kind,
        "severity": result["severity"],
        "threshold_pct": float(result["threshold_pct"]),
        "rows_checked": result["rows_checked"],
        "rows_violating": result["rows_violating"],
        "pct": None if result["pct"] is None else float(result["pct"]),
        "status": result["status"],
        "error_class": result["error_class"],
        "sql": sql,
        "denominator_sql": denominator,
        "expectation": getattr(check, "expectation", None),
        # expectation arguments are configuration; JSON round trip makes tuples lists
        "kwargs": None if kwargs is None else json.loads(json.dumps(kwargs, default=str)),
        "documentation": f"{DATA_QUALITY_DOC}#{result['check_id']}",
    }


def _empty_counts() -> dict[str, int]:
    return {status: 0 for status in (*STATUSES, TOTAL)}


def _overview(check_rows: Sequence[Mapping[str, Any]]) -> dict:
    """The Kahn grid: per context and category (and their totals) counts by status."""
    grid = {
        context: {category: _empty_counts() for category in (*CATEGORIES, TOTAL)}
        for context in (*KAHN_CONTEXTS, TOTAL)
    }
    unclassified = _empty_counts()
    for row in check_rows:
        context, category = row["kahn_context"], row["category"]
        if context in KAHN_CONTEXTS and category in CATEGORIES:
            cells = [(context, category), (context, TOTAL), (TOTAL, category), (TOTAL, TOTAL)]
        else:  # a result whose check left the catalogue: counted in the grand total only
            cells = [(TOTAL, TOTAL)]
            unclassified[row["status"]] += 1
            unclassified[TOTAL] += 1
        for cell_context, cell_category in cells:
            grid[cell_context][cell_category][row["status"]] += 1
            grid[cell_context][cell_category][TOTAL] += 1
    return {
        "contexts": list(KAHN_CONTEXTS),
        "categories": list(CATEGORIES),
        "statuses": list(STATUSES),
        "grid": grid,
        "unclassified": unclassified,
    }


def _checks_summary(check_rows: Sequence[Mapping[str, Any]], not_run: list[str]) -> dict:
    counts = {status: sum(row["status"] == status for row in check_rows) for status in STATUSES}
    return {
        "total": len(check_rows),
        **counts,
        "fatal_failures": sum(
            row["severity"] == "fatal" and row["status"] in FAILING for row in check_rows
        ),
        "warning_failures": sum(
            row["severity"] == "warning" and row["status"] in FAILING for row in check_rows
        ),
        "not_run": not_run,
    }


def _verdict(run: Mapping[str, Any], check_rows: Sequence[Mapping], not_run: list[str]) -> dict:
    fatal = [r["check_id"] for r in _failures_first(check_rows) if _fails(r, "fatal")]
    warning = [r["check_id"] for r in check_rows if _fails(r, "warning")]
    status = run["status"]
    if status == "failed":
        level = "failed"
        if fatal:
            headline = (
                f"Run failed: the publish was stopped by {len(fatal)} fatal "
                f"check{'s' if len(fatal) != 1 else ''}; analysts keep the previous tables."
            )
        else:
            headline = (
                f"Run failed ({run['error_class'] or 'no error class recorded'}); "
                "nothing was published."
            )
    elif status == "running":
        level = "running"
        headline = "Run not finished: still running, or stopped before it could record its end."
    elif fatal:
        level = "failed"
        headline = f"{len(fatal)} fatal check{'s' if len(fatal) != 1 else ''} failed."
    elif not check_rows:
        level = "warning"
        headline = "Run succeeded, but no data-quality check result was recorded for it."
    elif warning:
        level = "warning"
        headline = (
            f"Run succeeded with {len(warning)} warning check{'s' if len(warning) != 1 else ''} "
            "failing."
        )
    else:
        level = "ok"
        headline = "Run succeeded: every data-quality check passed or had nothing to check."
    return {
        "level": level,
        "headline": headline,
        "fatal_failures": fatal,
        "warning_failures": warning,
        "checks_not_run": len(not_run),
    }


def _compare_checks(
    current: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> dict:
    now = {row["check_id"]: row for row in current}
    before = {row["check_id"]: row for row in previous}

    def entry(check_id: str) -> dict:
        this, that = now.get(check_id), before.get(check_id)
        return {
            "check_id": check_id,
            "severity": (this or that)["severity"],
            "status": this["status"] if this else None,
            "previous_status": that["status"] if that else None,
            "rows_violating": this["rows_violating"] if this else None,
            "previous_rows_violating": that["rows_violating"] if that else None,
        }

    failing_now = {i for i, row in now.items() if row["status"] in FAILING}
    failing_before = {i for i, row in before.items() if row["status"] in FAILING}
    return {
        "new_failures": [entry(i) for i in sorted(failing_now - failing_before)],
        "resolved_failures": [entry(i) for i in sorted((failing_before - failing_now) & set(now))],
        "persisting_failures": [entry(i) for i in sorted(failing_now & failing_before)],
        # failing last time and not run this time: neither resolved nor still failing
        "no_longer_checked": [entry(i) for i in sorted(failing_before - set(now))],
    }


def _compare_tables(
    current: Mapping[str, int], previous: Mapping[str, int], *, has_previous: bool
) -> list[dict]:
    rows = []
    for name in sorted(set(current) | set(previous)):
        this, that = current.get(name), previous.get(name)
        rows.append(
            {
                "table": name,
                "rows": this,
                "previous_rows": that,
                "change": this - that if this is not None and that is not None else None,
                "status": (
                    "new"
                    if has_previous and that is None
                    else "gone"
                    if this is None
                    else "unchanged"
                    if this == that
                    else "changed"
                    if has_previous
                    else "no_previous"
                ),
            }
        )
    return rows


def _deid_section(
    run: Mapping[str, Any],
    evidence: Mapping[str, Any],
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    leak_rows: list[dict],
) -> dict:
    by_letter: dict[str, list[Mapping]] = {}
    for row in evidence["safe_harbor"]:
        by_letter.setdefault(row["category"], []).append(row)
    categories = [
        {
            "category": letter,
            "name": name,
            "elements": len(by_letter.get(letter, [])),
            "count": sum(row["count"] for row in by_letter[letter])
            if letter in by_letter
            else None,
        }
        for letter, name in SAFE_HARBOR.items()
    ]
    return {
        "profile": run["profile"],
        "pseudonym_mode": run["pseudonym_mode"],
        "key_fingerprint": run["key_fingerprint"],
        "new_key_epoch": run["new_key_epoch"],
        "safe_harbor_categories": categories,
        "safe_harbor": evidence["safe_harbor"],
        "tables": evidence["tables"],
        "date_shift": evidence["date_shift"],
        "extensions": evidence["extensions"],
        "csv_columns": evidence["csv_columns"],
        "notes_scrubber": evidence["notes_scrubber"],
        "risk": run_history.risk_rows(con, run_id),
        "leak_scan": _leak_scan_section(leak_rows),
    }


def _leak_scan_section(rows: list[dict]) -> dict:
    scanned = [
        r for r in rows if r["location"] != "control" and not r["location"].startswith("total:")
    ]
    control = [r for r in rows if r["location"] == "control"]
    return {
        "scanned": bool(rows),
        "clean": None if not rows else not any(r["hits"] for r in scanned),
        "control_found": bool(control[0]["hits"]) if control else None,
        "locations_scanned": len(scanned),
        "leaking_locations": [
            {
                "location": r["location"],
                "hits": r["hits"],
                "hits_by_category": r["hits_by_category"],
            }
            for r in scanned
            if r["hits"]
        ],
        "totals": [r for r in rows if r["location"].startswith("total:")],
        "locations": rows,
    }


def _summary_section(summary: Mapping[str, Any] | None) -> dict | None:
    if summary is None:
        return None
    section: dict[str, Any] = {}
    for name in _SUMMARY_FIELDS:
        value = summary.get(name)
        if name == "rows_by_table":
            value = {
                table: {field: int(counts.get(field, 0)) for field in _LOAD_COUNT_FIELDS}
                for table, counts in sorted((value or {}).items())
            }
        elif name in ("files_ignored", "read_by_type", "quarantined_by_type"):
            value = {key: int(count) for key, count in sorted((value or {}).items())}
        elif name in ("leak_scan", "notes_scrubber"):
            value = json.loads(json.dumps(value or {}, default=str))
        elif name == "seconds":
            value = None if value is None else float(value)
        elif name == "error":
            value = None if value is None else str(value)
        else:
            value = None if value is None else int(value)
        section[name] = value
    return section


# ----------------------------------------------------------------------------------- helpers


def _fails(row: Mapping[str, Any], severity: str) -> bool:
    return row["severity"] == severity and row["status"] in FAILING


def _failures_first(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Fatal before warning, then the larger violating share first."""
    return sorted(
        rows,
        key=lambda r: (
            r["severity"] != "fatal",
            r["status"] not in FAILING,
            -(r["pct"] if r["pct"] is not None else 101.0),
            r["check_id"],
        ),
    )


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, distribution in VERSIONED.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = None
    return versions


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder_sha256(folder: Path, pattern: str) -> str:
    """One hash over the folder's matching files: relative path and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _iso(value: object) -> str | None:
    """A warehouse timestamp (naive UTC) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    return str(value)


def _count_text(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}"


def _pct_text(value: float | None) -> str:
    if value is None:
        return NO_VALUE
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _environment() -> jinja2.Environment:
    environment = template_environment()
    environment.filters["num"] = _count_text
    environment.filters["pct"] = _pct_text
    environment.filters["signed"] = lambda v: NO_VALUE if v is None else f"{v:+,}" if v else "0"
    environment.globals["failures_first"] = _failures_first
    environment.globals["safe_harbor"] = SAFE_HARBOR
    return environment
