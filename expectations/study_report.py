"""The study report: study.summary, study.tests and three figures, as study_report.json and offline HTML.

The report holds aggregates and pseudonymous values only, and never a key: no patient, visit,
order or response pseudonym reaches the document. Per-patient values (the paired lines of the
COMPASS-31 figure, the dose pairs) carry an index of their own figure, numbered in the order of
the plotted values, so that the indices of two figures cannot be joined.

The figures are drawn with matplotlib (Agg-free: a bare ``Figure`` rendered by the SVG backend,
text kept as text) and embedded inline; next to each one, a ``<script type="application/json"
id="figure-<name>-data">`` block holds the exact data it plots. The page fetches nothing: inline
CSS and SVG only, under a Content-Security-Policy of ``default-src 'none'``.

The nightly flow writes it beside the run report, once ``finish_run`` has recorded the run
(``report_task``), and before the report files are leak-scanned::

    try:
        write_study_report(con, Path(summary.report_dir))
    except StudyReportError:  # no study tables yet: the first load failed
        ...

Without ``run_id`` the report names the latest succeeded run that loaded files: the run that
built the study tables, also when the current run loaded nothing or failed its gate.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import markupsafe
from matplotlib import rc_context
from matplotlib.figure import Figure

from transforms.compass31 import DOMAINS, SCORER_VERSION
from warehouse.sqltools import utc_now
from warehouse.study import COMPARISONS, SCORES

from .html import NO_VALUE, template_environment

STUDY_REPORT_VERSION = 1
HTML_NAME = "study_report.html"
JSON_NAME = "study_report.json"
TIMEPOINTS = ("initial", "prescription", "follow_up")
TIMEPOINT_LABELS = {
    "initial": "initial",
    "prescription": "prescription",
    "follow_up": "follow-up",
}
SCORE_LABELS = {
    "total": "total",
    **{domain.code.lower(): domain.name.replace("_", " ") for domain in DOMAINS},
}
SCORE_MAXIMA = {"total": 100, **{domain.code.lower(): domain.weighted_max for domain in DOMAINS}}
FIGURES = ("compass31_total", "compass31_domains", "ldn_dose")
"""The figures in page order; each is ``<figure data-figure=name>`` with ``figure-<name>-data``."""

# Summary sections shown as "the published table" (study-ldn.md); every other section but
# COMPASS-31 goes to the cohort description, and the COMPASS-31 rows form a score x timepoint
# matrix.
PUBLISHED_SECTIONS = ("cohort", "reason", "pain", "dose", "side_effects")
COMPASS31_SECTION = "compass31"

_RC = {
    "svg.fonttype": "none",  # text stays text: no glyph outlines, no font file
    "svg.hashsalt": "chartetl-study-report",  # deterministic element ids
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
}
_PATIENT_LINE = "#5b6475"
_CHANGE_COLOURS = {"increased": "#2f5ea8", "unchanged": "#8c95a6", "decreased": "#b3261e"}
_BOX_FACE = "#dfe7f5"
_BOX_EDGE = "#2f5ea8"
_MEAN_MARK = "#b3261e"
_XML_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')
_SVG_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_SVG_SIZE = re.compile(r'<svg\b([^>]*?) width="[^"]*" height="[^"]*"')


class StudyReportError(LookupError):
    """The warehouse holds no study tables (build_study has not run): nothing to report."""


def build_study_report(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None) -> dict:
    """Assemble the study report document from the study tables of the warehouse.

    Args:
        con: a connection to the warehouse or its snapshot (read-only suffices).
        run_id: the run whose load built the study tables (the nightly flow passes its own).
            None: the latest succeeded run of ``audit.runs`` that loaded files, else the latest
            ``_run_id`` of the core rows.

    Returns:
        The document (JSON-ready): ``source``, ``study``, ``summary`` (study.summary rows),
        ``tests`` (study.tests rows), ``figures`` (the data each figure plots) and ``notes``.

    Raises:
        StudyReportError: study.summary, study.tests or a table the figures read is missing.
    """
    _require_study_tables(con)
    parameters = dict(con.execute("SELECT name, value FROM study.config_parameters").fetchall())
    scorer_versions = [
        version
        for (version,) in con.execute(
            "SELECT DISTINCT scorer_version FROM study.compass31_scores ORDER BY 1"
        ).fetchall()
    ]
    summary = _rows(con, "SELECT * FROM study.summary ORDER BY measure_number")
    tests = _rows(
        con,
        """
        SELECT tests.* FROM study.tests AS tests
        ORDER BY list_position($comparisons, tests.comparison), list_position($scores, tests.score)
        """,
        {"comparisons": [name for name, _, _ in COMPARISONS], "scores": list(SCORES)},
    )
    source = _source(con, run_id)
    return {
        "report_version": STUDY_REPORT_VERSION,
        "generated_at": utc_now().isoformat(timespec="seconds") + "Z",
        "source": source,
        "study": {
            "study": parameters.get("study"),
            "title": parameters.get("title"),
            "config_version": parameters.get("config_version"),
            "config_source": parameters.get("config_source"),
            "config_sha256": parameters.get("config_sha256"),
            "scorer_versions": scorer_versions,
            "scorer_version_code": SCORER_VERSION,
            "parameters": {
                name: value
                for name, value in sorted(parameters.items())
                if name
                not in ("study", "title", "config_version", "config_source", "config_sha256")
            },
        },
        "summary": summary,
        "tests": tests,
        "figures": {
            "compass31_total": _total_figure_data(con),
            "compass31_domains": _domain_figure_data(con),
            "ldn_dose": _dose_figure_data(con),
        },
        "notes": {
            "dates": _date_note(source["profile"]),
            "privacy": (
                "Aggregates and de-identified values only: no patient, visit, order or "
                "response pseudonym is shown. Per-patient values carry an index of their own "
                "figure, numbered in the order of the values, which links to nothing else."
            ),
        },
    }


def render_study_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, nothing fetched.

    Args:
        report: a document from ``build_study_report``.
    """
    figures = report["figures"]
    sections = _sections(report["summary"])
    svgs = {
        "compass31_total": _total_figure_svg(figures["compass31_total"]),
        "compass31_domains": _domain_figure_svg(figures["compass31_domains"]),
        "ldn_dose": _dose_figure_svg(figures["ldn_dose"]),
    }
    return (
        _environment()
        .get_template("study_report.html.j2")
        .render(
            report=report,
            svgs={name: markupsafe.Markup(svg) for name, svg in svgs.items()},
            sections=sections,
            cohort_sections=[
                name
                for name in sections
                if name not in PUBLISHED_SECTIONS and name != COMPASS31_SECTION
            ],
            compass31=_compass31_matrix(report["summary"]),
            test_groups=_test_groups(report["tests"]),
        )
    )


def write_study_report(
    con: duckdb.DuckDBPyConnection, folder: Path, *, run_id: str | None = None
) -> dict[str, Path]:
    """Build the study report and write ``study_report.html`` and ``study_report.json``.

    Call it after the load that built the study has committed (the study tables are then
    current), with the writer's connection or a read-only one to the warehouse or its snapshot.

    Args:
        con: a connection to a warehouse with study tables.
        folder: the run's report folder (``<reports>/<run_id>``), created when missing.
        run_id: the run that built the study tables (see ``build_study_report``).

    Returns:
        ``{"html": path, "json": path}``.

    Raises:
        StudyReportError: the warehouse holds no study tables; nothing is written.
    """
    report = build_study_report(con, run_id=run_id)
    html = render_study_html(report)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"html": folder / HTML_NAME, "json": folder / JSON_NAME}
    paths["json"].write_text(
        json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    paths["html"].write_text(html, encoding="utf-8")
    return paths


# ------------------------------------------------------------------------------------ data


_REQUIRED_TABLES = (
    "config_parameters",
    "compass31_scores",
    "compass31_by_timepoint",
    "cohort",
    "ldn_exposure",
    "summary",
    "tests",
)


def _require_study_tables(con: duckdb.DuckDBPyConnection) -> None:
    present = {
        name
        for (name,) in con.execute(
            """
            SELECT table_name FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = 'study'
            """
        ).fetchall()
    }
    if missing := [name for name in _REQUIRED_TABLES if name not in present]:
        raise StudyReportError(
            "the warehouse has no study tables to report ("
            + ", ".join(f"study.{name}" for name in missing)
            + " missing): build_study runs inside each load that brings new files"
        )


def _rows(
    con: duckdb.DuckDBPyConnection, query: str, parameters: Mapping[str, Any] | None = None
) -> list[dict]:
    cursor = con.execute(query, parameters or {})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """A JSON-ready value: NaN and infinities become None, lists and dates become plain."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dt.datetime):  # warehouse timestamps are naive UTC
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _source(con: duckdb.DuckDBPyConnection, run_id: str | None) -> dict:
    database = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    path = database[0][0] if database and database[0][0] else None
    runs_exist = con.execute(
        """
        SELECT count(*) FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name = 'audit'
          AND table_name = 'runs'
        """
    ).fetchall()[0][0]
    run: dict[str, Any] = {}
    if runs_exist:
        if run_id is None:
            found = con.execute(
                """
                SELECT run_id FROM audit.runs
                WHERE status = 'succeeded' AND coalesce(files_loaded, 0) > 0
                ORDER BY started_at DESC, run_id DESC LIMIT 1
                """
            ).fetchall()
            run_id = found[0][0] if found else None
        if run_id is not None:
            found_rows = _rows(
                con,
                """
                SELECT run_id, status, profile, started_at, finished_at
                FROM audit.runs WHERE run_id = $run_id
                """,
                {"run_id": run_id},
            )
            run = found_rows[0] if found_rows else {}
    if run_id is None:
        # a warehouse loaded without the flow's ledger (tests, benchmarks): the core rows still
        # name the run that last changed them
        found = con.execute(
            "SELECT _run_id FROM core.patients ORDER BY _loaded_at DESC, _run_id DESC LIMIT 1"
        ).fetchall()
        run_id = found[0][0] if found else None
    return {
        "database_file": Path(path).name if path else ":memory:",
        "run_id": run_id,
        "run_status": run.get("status"),
        "run_started_at": run.get("started_at"),
        "run_finished_at": run.get("finished_at"),
        "profile": run.get("profile"),
    }


def _date_note(profile: str | None) -> str:
    if profile == "LDS":
        return (
            "Profile LDS (Limited Data Set): dates are real dates. This report shows no date; "
            "timepoints are defined by day counts between visits."
        )
    shifted = (
        "Dates in the warehouse are shifted: every date of a patient moves by that patient's "
        "own offset (profile ED), so day counts within a patient are exact and calendar dates "
        "are not real. This report shows no date; timepoints are defined by day counts."
    )
    if profile is None:
        return shifted + " (The run's profile is not recorded in audit.runs.)"
    return shifted


def _by_timepoint(con: duckdb.DuckDBPyConnection) -> list[dict[str, dict[str, float | None]]]:
    """Per cohort patient: timepoint -> score -> value (None when missing). No patient id."""
    rows = con.execute(
        f"""
        SELECT cohort.patient_id, scores.timepoint, {", ".join(f"scores.{s}" for s in SCORES)}
        FROM study.cohort AS cohort
        LEFT JOIN study.compass31_by_timepoint AS scores USING (patient_id)
        ORDER BY cohort.patient_id, scores.timepoint_number
        """
    ).fetchall()
    patients: dict[str, dict[str, dict[str, float | None]]] = {}
    for patient_id, timepoint, *values in rows:
        by_timepoint = patients.setdefault(patient_id, {})
        if timepoint is not None:
            by_timepoint[timepoint] = dict(zip(SCORES, map(_plain, values), strict=True))
    return list(patients.values())


def _box_stats(values: Sequence[float]) -> dict:
    """n, mean, SD (n - 1), median and quartiles as matplotlib's box plot computes them."""
    from matplotlib.cbook import boxplot_stats

    if not values:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    stats = boxplot_stats(list(values))[0]
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "median": float(stats["med"]),
        "q1": float(stats["q1"]),
        "q3": float(stats["q3"]),
        "whisker_low": float(stats["whislo"]),
        "whisker_high": float(stats["whishi"]),
    }


def _total_figure_data(con: duckdb.DuckDBPyConnection) -> dict:
    patients = [
        [by_timepoint.get(timepoint, {}).get("total") for timepoint in TIMEPOINTS]
        for by_timepoint in _by_timepoint(con)
    ]
    # indices follow the values, never the pseudonyms: sorted by initial, then later values
    patients.sort(key=lambda values: [(v is None, v or 0.0) for v in values])
    rows = []
    for index, values in enumerate(patients, start=1):
        segments = [
            [position, position + 1]
            for position in range(len(TIMEPOINTS) - 1)
            if values[position] is not None and values[position + 1] is not None
        ]
        rows.append({"index": index, "values": values, "segments": segments})
    return {
        "score": "total",
        "timepoints": list(TIMEPOINTS),
        "maximum": SCORE_MAXIMA["total"],
        "patients": rows,
        "lines": [row["index"] for row in rows if row["segments"]],
        "boxes": [
            {
                "timepoint": timepoint,
                **_box_stats([row["values"][i] for row in rows if row["values"][i] is not None]),
            }
            for i, timepoint in enumerate(TIMEPOINTS)
        ],
    }


def _domain_figure_data(con: duckdb.DuckDBPyConnection) -> dict:
    patients = _by_timepoint(con)
    domains = []
    for domain in DOMAINS:
        score = domain.code.lower()
        timepoints = []
        for timepoint in TIMEPOINTS:
            values = sorted(
                value
                for by_timepoint in patients
                if (value := by_timepoint.get(timepoint, {}).get(score)) is not None
            )
            timepoints.append({"timepoint": timepoint, "values": values, **_box_stats(values)})
        domains.append(
            {
                "score": score,
                "label": SCORE_LABELS[score],
                "maximum": domain.weighted_max,
                "timepoints": timepoints,
            }
        )
    return {"timepoints": list(TIMEPOINTS), "domains": domains}


def _dose_figure_data(con: duckdb.DuckDBPyConnection) -> dict:
    pairs = con.execute(
        """
        SELECT cohort.patient_id, exposure.initial_daily_dose_mg, exposure.final_daily_dose_mg
        FROM study.cohort AS cohort
        LEFT JOIN study.ldn_exposure AS exposure USING (patient_id)
        """
    ).fetchall()
    plotted = sorted(
        (float(initial), float(final))
        for _, initial, final in pairs
        if initial is not None and final is not None
    )
    patients = [
        {
            "index": index,
            "initial_mg": initial,
            "final_mg": final,
            "change": _change(initial, final),
        }
        for index, (initial, final) in enumerate(plotted, start=1)
    ]
    transitions: dict[tuple[float, float], int] = {}
    for initial, final in plotted:
        transitions[(initial, final)] = transitions.get((initial, final), 0) + 1
    maximum = con.execute(
        "SELECT max(value) FILTER (WHERE name = 'ldn_max_daily_dose_mg') FROM study.config_parameters"
    ).fetchall()[0][0]
    return {
        "patients": patients,
        "not_plotted": len(pairs) - len(plotted),
        "increased": sum(row["change"] == "increased" for row in patients),
        "unchanged": sum(row["change"] == "unchanged" for row in patients),
        "decreased": sum(row["change"] == "decreased" for row in patients),
        "transitions": [
            {
                "initial_mg": initial,
                "final_mg": final,
                "patients": count,
                "change": _change(initial, final),
            }
            for (initial, final), count in sorted(transitions.items())
        ],
        "maximum_mg": float(maximum) if maximum is not None else None,
    }


def _change(initial: float, final: float) -> str:
    return "increased" if final > initial else "decreased" if final < initial else "unchanged"


def _sections(summary: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for row in summary:
        sections.setdefault(row["section"], []).append(row)
    return sections


def _test_groups(tests: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """study.tests rows by comparison, in the order of the rows."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in tests:
        groups.setdefault(row["comparison"], []).append(row)
    return list(groups.items())


def _compass31_matrix(summary: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Score rows x timepoint cells of the COMPASS-31 summary rows (scores in SCORES order)."""
    cells = {
        (row["score"], row["timepoint"]): row
        for row in summary
        if row["section"] == COMPASS31_SECTION
    }
    return [
        {
            "score": score,
            "label": SCORE_LABELS[score],
            "maximum": SCORE_MAXIMA[score],
            "cells": [cells.get((score, timepoint)) for timepoint in TIMEPOINTS],
        }
        for score in SCORES
        if any((score, timepoint) in cells for timepoint in TIMEPOINTS)
    ]


# --------------------------------------------------------------------------------- figures


def _total_figure_svg(data: Mapping[str, Any]) -> str:
    with rc_context(_RC):
        figure = Figure(figsize=(6.4, 4.6))
        axes = figure.add_subplot()
        positions = list(range(1, len(TIMEPOINTS) + 1))
        _boxes(axes, [_values_at(data, i) for i in range(len(TIMEPOINTS))], positions, "total")
        for row in data["patients"]:
            if not row["segments"]:
                continue
            xs: list[float] = []
            ys: list[float] = []
            for start, end in row["segments"]:
                if xs and xs[-1] == positions[start]:
                    xs.append(positions[end])
                    ys.append(row["values"][end])
                else:
                    if xs:  # a gap in the patient's timepoints: lift the pen
                        xs.append(math.nan)
                        ys.append(math.nan)
                    xs += [positions[start], positions[end]]
                    ys += [row["values"][start], row["values"][end]]
            (line,) = axes.plot(
                xs,
                ys,
                color=_PATIENT_LINE,
                alpha=0.45,
                linewidth=0.9,
                marker="o",
                markersize=2.6,
                zorder=3,
            )
            line.set_gid(f"patient-{row['index']}")
        axes.set_xticks(
            positions,
            [f"{TIMEPOINT_LABELS[box['timepoint']]}\n(n = {box['n']})" for box in data["boxes"]],
        )
        axes.set_xlim(0.5, len(TIMEPOINTS) + 0.5)
        axes.set_ylim(0, data["maximum"])
        axes.set_ylabel("COMPASS-31 total (0-100)")
        axes.set_title("COMPASS-31 total by timepoint")
        axes.grid(axis="y", color="#e6e9ef", linewidth=0.6, zorder=0)
        figure.tight_layout()
        return _svg(figure, "fig-total", "COMPASS-31 total by timepoint, one line per patient")


def _domain_figure_svg(data: Mapping[str, Any]) -> str:
    with rc_context(_RC):
        figure = Figure(figsize=(9.6, 5.8))
        grid = figure.subplots(2, 3)
        positions = list(range(1, len(TIMEPOINTS) + 1))
        for axes, domain in zip(grid.flat, data["domains"], strict=True):
            _boxes(
                axes,
                [timepoint["values"] for timepoint in domain["timepoints"]],
                positions,
                domain["score"],
            )
            axes.set_xticks(
                positions,
                [
                    f"{TIMEPOINT_LABELS[t['timepoint']]}\n(n = {t['n']})"
                    for t in domain["timepoints"]
                ],
                fontsize=8,
            )
            axes.set_xlim(0.5, len(TIMEPOINTS) + 0.5)
            axes.set_ylim(0, domain["maximum"] * 1.04)
            axes.set_title(f"{domain['label']} (0-{domain['maximum']})")
            axes.grid(axis="y", color="#e6e9ef", linewidth=0.6, zorder=0)
        figure.tight_layout()
        return _svg(figure, "fig-domains", "COMPASS-31 domain scores by timepoint")


def _dose_figure_svg(data: Mapping[str, Any]) -> str:
    with rc_context(_RC):
        figure = Figure(figsize=(7.2, 4.6))
        axes = figure.add_subplot()
        for row in data["patients"]:
            (line,) = axes.plot(
                [0, 1],
                [row["initial_mg"], row["final_mg"]],
                color=_CHANGE_COLOURS[row["change"]],
                alpha=0.35,
                linewidth=2.2,
                marker="o",
                markersize=4,
                solid_capstyle="round",
                zorder=3,
            )
            line.set_gid(f"patient-{row['index']}")
        # identical pairs draw over each other: beside each final dose, how many patients
        # came to it from which initial dose
        by_final: dict[float, list[Mapping[str, Any]]] = {}
        for transition in data["transitions"]:
            by_final.setdefault(transition["final_mg"], []).append(transition)
        for final, transitions in by_final.items():
            axes.text(
                1.05,
                final,
                "; ".join(f"{t['patients']} from {t['initial_mg']:g} mg" for t in transitions),
                fontsize=7.5,
                color=_PATIENT_LINE,
                va="center",
            )
        labels = ("increased", "unchanged", "decreased")
        for label in labels:
            axes.plot(
                [],
                [],
                color=_CHANGE_COLOURS[label],
                linewidth=2.2,
                label=f"{label} ({data[label]})",
            )
        axes.legend(loc="upper left", frameon=False, fontsize=8.5)
        axes.set_xticks([0, 1], ["initial dose", "final dose\n(by the follow-up visit)"])
        axes.set_xlim(-0.2, 1.75)
        top = max(
            [data["maximum_mg"] or 0]
            + [max(row["initial_mg"], row["final_mg"]) for row in data["patients"]]
        )
        axes.set_ylim(0, top * 1.08 if top else 1)
        axes.set_ylabel("LDN daily dose (mg)")
        axes.set_title(f"LDN dose, initial to final ({len(data['patients'])} patients)")
        axes.grid(axis="y", color="#e6e9ef", linewidth=0.6, zorder=0)
        figure.tight_layout()
        return _svg(figure, "fig-dose", "LDN daily dose, initial to final, one line per patient")


def _values_at(data: Mapping[str, Any], position: int) -> list[float]:
    return [
        row["values"][position] for row in data["patients"] if row["values"][position] is not None
    ]


def _boxes(axes, values: list[list[float]], positions: list[int], score: str) -> None:
    """Box plots (no outlier marks: the points are the data) with the mean as a diamond."""
    shown = [(p, v, t) for p, v, t in zip(positions, values, TIMEPOINTS, strict=True) if v]
    if not shown:
        return
    parts = axes.boxplot(
        [v for _, v, _ in shown],
        positions=[p for p, _, _ in shown],
        widths=0.5,
        patch_artist=True,
        showfliers=False,
        showmeans=True,
        meanprops={
            "marker": "D",
            "markerfacecolor": _MEAN_MARK,
            "markeredgecolor": "none",
            "markersize": 4,
        },
        medianprops={"color": _BOX_EDGE, "linewidth": 1.6},
        boxprops={"facecolor": _BOX_FACE, "edgecolor": _BOX_EDGE, "linewidth": 0.9},
        whiskerprops={"color": _BOX_EDGE, "linewidth": 0.9},
        capprops={"color": _BOX_EDGE, "linewidth": 0.9},
        zorder=2,
    )
    for box, (_, _, timepoint) in zip(parts["boxes"], shown, strict=True):
        box.set_gid(f"box-{score}-{timepoint}")


def _svg(figure: Figure, prefix: str, label: str) -> str:
    """The figure as inline SVG markup: no XML prologue or metadata, ids prefixed, scalable."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)
    svg = _SVG_METADATA.sub("", svg, count=1)
    # three SVGs share one HTML document: every id (matplotlib's and our gids) and every
    # reference to one gets the figure's prefix, so no two elements share an id
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}-{m[1]}"', svg)
    svg = _SVG_REFERENCE.sub(lambda m: f"{m[1]}{prefix}-{m[2]}", svg)
    label = markupsafe.escape(label)
    return _SVG_SIZE.sub(
        lambda m: f'<svg{m[1]} class="chart" role="img" aria-label="{label}"', svg, count=1
    )


# ---------------------------------------------------------------------------------- template


def _number(value: float | None, places: int = 2) -> str:
    return NO_VALUE if value is None else f"{value:.{places}f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return NO_VALUE
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _environment() -> jinja2.Environment:
    environment = template_environment()
    environment.filters["number"] = _number
    environment.filters["p_value"] = _p_value
    environment.globals["timepoints"] = TIMEPOINTS
    environment.globals["timepoint_labels"] = TIMEPOINT_LABELS
    environment.globals["score_labels"] = SCORE_LABELS
    environment.globals["no_value"] = NO_VALUE
    environment.globals["published_sections"] = PUBLISHED_SECTIONS
    return environment
