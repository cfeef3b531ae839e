"""The study report on the paper warehouse: offline in Chromium, figures equal to the study tables.

The warehouse is the NDJSON paper warehouse of tests/warehouse/study/conftest.py (built once per
worker). Numbers are read back from the HTML the way a reader sees them (the data-field cells and
the JSON block beside each figure) and compared with the study tables queried directly.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pytest

from expectations.study_report import (
    FIGURES,
    HTML_NAME,
    JSON_NAME,
    TIMEPOINTS,
    StudyReportError,
    build_study_report,
    render_study_html,
    write_study_report,
)
from tests.warehouse.study.conftest import (  # noqa: F401 - fixtures used by name
    paper_export,
    paper_keys,
    paper_warehouse_factory,
)
from warehouse import open_warehouse
from warehouse.study import SCORES

from .browser import browser, open_report  # noqa: F401 - the fixture is used by name

DOMAINS = SCORES[1:]
_DATA_BLOCK = re.compile(
    r'<script type="application/json" id="(figure-[a-z0-9-]+-data)">(.*?)</script>', re.DOTALL
)


@pytest.fixture(scope="module")
def paper_path(paper_warehouse_factory) -> Path:  # noqa: F811 - the imported fixture
    """The NDJSON paper warehouse (study built in the load, run id paper-ndjson)."""
    return paper_warehouse_factory("ndjson").path


@pytest.fixture(scope="module")
def paper(paper_path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the paper warehouse."""
    con = duckdb.connect(str(paper_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def written(tmp_path_factory, paper) -> tuple[Path, str, dict]:
    """The report written from the paper warehouse: (folder, html text, json document)."""
    folder = tmp_path_factory.mktemp("study-report") / "reports" / "paper-ndjson"
    paths = write_study_report(paper, folder)
    assert paths == {"html": folder / HTML_NAME, "json": folder / JSON_NAME}
    return folder, paths["html"].read_text("utf-8"), json.loads(paths["json"].read_text("utf-8"))


@pytest.fixture(scope="module")
def figure_data(written) -> dict[str, dict]:
    """The JSON block beside each figure in the HTML, by figure name."""
    _, html, _ = written
    blocks = {name: json.loads(text) for name, text in _DATA_BLOCK.findall(html)}
    return {name: blocks[f"figure-{name.replace('_', '-')}-data"] for name in FIGURES}


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list[dict]:
    cursor = con.execute(query)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class _FieldCells(HTMLParser):
    """Text of every [data-field] inside each element carrying ``record_attribute``."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr", "col", "source", "wbr"})

    def __init__(self, record_attributes: tuple[str, ...]) -> None:
        super().__init__()
        self.record_attributes = record_attributes
        self.records: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self._stack: list[tuple[str, str | None, bool]] = []  # tag, field, opens a record

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        attributes = dict(attrs)
        opens = all(name in attributes for name in self.record_attributes)
        if opens:
            key = tuple(attributes[name] for name in self.record_attributes)
            self.records.append((key, {}))
        field = attributes.get("data-field") if self.records else None
        if field is not None:
            self.records[-1][1][field] = ""
        self._stack.append((tag, field, opens))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self._stack:
            open_tag, _, _ = self._stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        fields = [field for _, field, _ in self._stack if field is not None]
        if fields and self.records:
            self.records[-1][1][fields[-1]] += data


def _cells(html: str, *attributes: str) -> dict[tuple[str, ...], dict[str, str]]:
    parser = _FieldCells(attributes)
    parser.feed(html)
    return {
        key: {field: text.strip() for field, text in fields.items()}
        for key, fields in parser.records
    }


def _shown(value: float | None, places: int = 2) -> str:
    return "\u2013" if value is None else f"{value:.{places}f}"


def _p_shown(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


# ------------------------------------------------------------------------------ in a browser


def test_report_renders_offline_in_chromium_with_three_figures(browser, written, tmp_path):  # noqa: F811
    folder, _, document = written
    html_path = folder / HTML_NAME
    page, record = open_report(browser, html_path, tmp_path / "screenshot.png")
    requests = record.requests
    figures = page.eval_on_selector_all(
        "figure[data-figure]",
        """figures => figures.map(f => {
            const svg = f.querySelector('svg');
            const box = svg.getBoundingClientRect();
            return [f.dataset.figure, f.querySelectorAll('svg').length, box.width, box.height];
        })""",
    )
    embedded = page.eval_on_selector_all(
        "script[type='application/json']", "blocks => blocks.map(b => [b.id, b.textContent])"
    )
    total_paths = page.eval_on_selector_all(
        "g[id^='fig-total-patient-']",
        "groups => groups.map(g => [g.id, [...g.querySelectorAll('path:not([id])')].map(p => p.getAttribute('d'))])",
    )
    dose_paths = page.eval_on_selector_all(
        "g[id^='fig-dose-patient-']",
        "groups => groups.map(g => [...g.querySelectorAll('path:not([id])')].map(p => p.getAttribute('d')))",
    )
    boxes = page.eval_on_selector_all(
        "g[id^='fig-domains-box-']", "groups => groups.map(g => g.id)"
    )
    total_boxes = page.eval_on_selector_all(
        "g[id^='fig-total-box-']", "groups => groups.map(g => g.id)"
    )
    page.close()

    assert record.page_errors == []
    assert record.console_problems == []
    assert requests == [html_path.as_uri()], "the report fetched something besides itself"
    for url in requests:
        assert urlparse(url).scheme == "file" and Path(unquote(urlparse(url).path)) == html_path
    screenshot = tmp_path / "screenshot.png"
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000

    assert [name for name, *_ in figures] == list(FIGURES)
    for name, svg_count, width, height in figures:
        assert svg_count == 1, name
        assert width > 400 and height > 250, name
    assert {block_id: json.loads(text) for block_id, text in embedded} == {
        f"figure-{name.replace('_', '-')}-data": document["figures"][name] for name in FIGURES
    }

    total = document["figures"]["compass31_total"]
    segments = {f"fig-total-patient-{row['index']}": row["segments"] for row in total["patients"]}
    assert sorted(group_id for group_id, _ in total_paths) == sorted(
        f"fig-total-patient-{index}" for index in total["lines"]
    )
    for group_id, paths in total_paths:
        assert len(paths) == 1, group_id  # one line path (the markers are <use> elements)
        vertices = len(re.findall(r"[ML] ", paths[0]))
        assert vertices == len(segments[group_id]) + 1, group_id  # consecutive timepoints
    assert len(dose_paths) == len(document["figures"]["ldn_dose"]["patients"])
    assert all(len(paths) == 1 and len(re.findall(r"[ML] ", paths[0])) == 2 for paths in dose_paths)
    assert sorted(boxes) == sorted(
        f"fig-domains-box-{score}-{timepoint}" for score in DOMAINS for timepoint in TIMEPOINTS
    )
    assert sorted(total_boxes) == sorted(f"fig-total-box-total-{t}" for t in TIMEPOINTS)


# ------------------------------------------------------------------ figures against the tables


def test_total_figure_has_one_line_per_patient_with_the_compass31_totals(figure_data, paper):
    data = figure_data["compass31_total"]
    assert data["timepoints"] == list(TIMEPOINTS) == ["initial", "prescription", "follow_up"]
    expected = Counter(
        tuple(row)
        for row in paper.execute(
            """
            SELECT list(total ORDER BY timepoint_number)
            FROM study.cohort LEFT JOIN study.compass31_by_timepoint USING (patient_id)
            GROUP BY patient_id
            """
        ).fetchall()
        for row in row
    )
    cohort = paper.execute("SELECT count(*) FROM study.cohort").fetchall()[0][0]
    assert cohort == 29
    assert len(data["patients"]) == cohort
    assert Counter(tuple(row["values"]) for row in data["patients"]) == expected
    assert [row["index"] for row in data["patients"]] == list(range(1, cohort + 1))
    with_both = [
        row
        for row in data["patients"]
        if any(
            a is not None and b is not None
            for a, b in zip(row["values"], row["values"][1:], strict=False)
        )
    ]
    assert data["lines"] == [row["index"] for row in with_both]
    assert len(data["lines"]) == 29  # every paper patient has all three totals
    assert all(row["segments"] == [[0, 1], [1, 2]] for row in data["patients"])

    summary = {
        row["timepoint"]: row
        for row in _rows(paper, "SELECT * FROM study.summary WHERE measure = 'compass31_total'")
    }
    assert [box["timepoint"] for box in data["boxes"]] == list(TIMEPOINTS)
    for box in data["boxes"]:
        assert box["n"] == summary[box["timepoint"]]["n"]
        assert round(box["mean"], 4) == summary[box["timepoint"]]["mean"]
        assert round(box["sd"], 4) == summary[box["timepoint"]]["sd"]


def test_domain_figure_has_six_domains_by_three_timepoints(figure_data, paper):
    data = figure_data["compass31_domains"]
    assert [domain["score"] for domain in data["domains"]] == list(DOMAINS)
    assert len(data["domains"]) == 6
    summary = {
        (row["score"], row["timepoint"]): row
        for row in _rows(paper, "SELECT * FROM study.summary WHERE section = 'compass31'")
    }
    for domain in data["domains"]:
        score = domain["score"]
        assert [t["timepoint"] for t in domain["timepoints"]] == list(TIMEPOINTS)
        for timepoint in domain["timepoints"]:
            values = [
                value
                for (value,) in paper.execute(
                    f"""
                    SELECT {score} FROM study.compass31_by_timepoint
                    WHERE timepoint = $timepoint AND {score} IS NOT NULL
                    """,
                    {"timepoint": timepoint["timepoint"]},
                ).fetchall()
            ]
            assert timepoint["values"] == sorted(values)
            row = summary[(score, timepoint["timepoint"])]
            assert timepoint["n"] == row["n"] == 29
            assert round(timepoint["mean"], 4) == row["mean"]
            assert round(timepoint["sd"], 4) == row["sd"]
            assert timepoint["q1"] <= timepoint["median"] <= timepoint["q3"]


def test_dose_figure_has_one_pair_per_patient_and_the_summary_increases(figure_data, paper):
    data = figure_data["ldn_dose"]
    exposure = paper.execute(
        """
        SELECT initial_daily_dose_mg, final_daily_dose_mg, dose_increased
        FROM study.cohort JOIN study.ldn_exposure USING (patient_id)
        """
    ).fetchall()
    assert len(data["patients"]) == len(exposure) == 29
    assert data["not_plotted"] == 0
    assert Counter((row["initial_mg"], row["final_mg"]) for row in data["patients"]) == Counter(
        (initial, final) for initial, final, _ in exposure
    )
    increased = paper.execute(
        "SELECT n FROM study.summary WHERE measure = 'dose_increased'"
    ).fetchall()[0][0]
    assert increased == 11  # the published number
    assert data["increased"] == increased == sum(flag for *_, flag in exposure)
    assert sum(row["change"] == "increased" for row in data["patients"]) == increased
    assert data["increased"] + data["unchanged"] + data["decreased"] == 29
    assert sum(t["patients"] for t in data["transitions"]) == 29


def test_figures_in_the_json_equal_the_blocks_in_the_html(written, figure_data):
    _, _, document = written
    assert document["figures"] == figure_data


# ------------------------------------------------------------------------- tables in the page


def test_summary_numbers_in_the_html_equal_study_summary(written, paper):
    _, html, _ = written
    shown = _cells(html, "data-measure-number")
    summary = _rows(paper, "SELECT * FROM study.summary ORDER BY measure_number")
    assert len(summary) == 51  # the published measures and two data-quality rows
    assert sorted(int(key[0]) for key in shown) == [row["measure_number"] for row in summary]
    for row in summary:
        cells = shown[(str(row["measure_number"]),)]
        assert cells["n"] == str(row["n"]), row["measure"]
        if row["mean"] is not None:
            assert cells["mean"] == _shown(row["mean"]), row["measure"]
            assert cells["sd"] == _shown(row["sd"]), row["measure"]
        else:
            assert cells["denominator"] == (
                "\u2013" if row["denominator"] is None else str(row["denominator"])
            )
            assert cells["percent"] == _shown(row["percent"]), row["measure"]
    # the published numbers, as the page shows them
    by_measure = {key: cells for key, cells in _cells(html, "data-measure").items()}
    assert by_measure[("patients",)]["n"] == "29"
    assert by_measure[("reason_pain_fibromyalgia",)] == {
        "n": "11",
        "denominator": "18",
        "percent": "61.11",
    }
    assert by_measure[("reason_orthostatic_intolerance",)]["percent"] == "27.78"
    assert by_measure[("pain_improved",)]["percent"] == "24.14"
    assert by_measure[("initial_dose_standard",)]["percent"] == "86.21"
    assert by_measure[("dose_increased",)]["n"] == "11"
    assert by_measure[("side_effects_mild",)]["n"] == "5"


def test_tests_table_in_the_html_equals_study_tests(written, paper):
    _, html, document = written
    shown = _cells(html, "data-comparison", "data-score")
    tests = _rows(paper, "SELECT * FROM study.tests")
    assert len(tests) == 14 and len(document["tests"]) == 14
    assert {(row["comparison"], row["score"]) for row in tests} == {
        key for key in shown if len(key) == 2
    }
    for row in tests:
        cells = shown[(row["comparison"], row["score"])]
        assert cells["n"] == str(row["n"])
        assert cells["n_a"] == str(row["n_a"]) and cells["n_b"] == str(row["n_b"])
        for field in ("mean_a", "sd_a", "mean_b", "sd_b", "mean_difference"):
            assert cells[field] == _shown(row[field]), field
        for field in ("p_student", "p_paired", "p_wilcoxon"):
            assert cells[field] == _p_shown(row[field]), field
        assert row["p_student"] > 0.05  # "no significant difference", as published


def test_header_states_config_hash_scorer_run_and_shifted_dates(written, paper):
    _, html, document = written
    sha256 = paper.execute(
        "SELECT value FROM study.config_parameters WHERE name = 'config_sha256'"
    ).fetchall()[0][0]
    scorer = paper.execute("SELECT DISTINCT scorer_version FROM study.compass31_scores").fetchall()
    assert len(sha256) == 64 and f'data-role="config-sha256">{sha256}<' in html
    assert f'data-role="scorer-version">{scorer[0][0]}<' in html
    assert 'data-role="run-id">paper-ndjson<' in html
    assert 'data-role="database-file">warehouse.duckdb<' in html
    assert "Dates are shifted." in html
    assert document["study"]["config_sha256"] == sha256
    assert document["source"]["run_id"] == "paper-ndjson"
    assert html.count("<svg") == 3
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )


def test_no_pseudonym_reaches_the_report(written, paper):
    _, html, document = written
    text = html + json.dumps(document)
    keys = {
        value
        for (value,) in paper.execute(
            """
            SELECT patient_id FROM study.screening
            UNION SELECT visit_id FROM study.timepoints WHERE visit_id IS NOT NULL
            UNION SELECT response_id FROM study.compass31_scores
            UNION SELECT med_id FROM study.naltrexone_orders
            """
        ).fetchall()
    }
    assert len(keys) > 100
    assert [key for key in keys if key in text] == []


def test_report_document_is_json_ready_and_deterministic_but_for_the_time(paper, written):
    _, html, document = written
    again = build_study_report(paper)
    assert {**again, "generated_at": None} == {**document, "generated_at": None}
    assert render_study_html({**again, "generated_at": document["generated_at"]}) == html


def test_a_warehouse_without_study_tables_gets_no_report(tmp_path):
    with (
        open_warehouse(tmp_path / "w.duckdb") as con,
        pytest.raises(StudyReportError, match=r"study\.summary"),
    ):
        write_study_report(con, tmp_path / "reports" / "r1")
    assert not (tmp_path / "reports").exists()


def test_run_id_comes_from_the_ledger_when_runs_are_recorded(paper_path, tmp_path):
    path = tmp_path / "w.duckdb"
    path.write_bytes(paper_path.read_bytes())
    with open_warehouse(path) as con:
        con.execute(
            """
            INSERT INTO audit.runs (run_id, started_at, finished_at, status, profile,
                                    pseudonym_mode, full_refresh, key_fingerprint, config_hash,
                                    files_loaded)
            VALUES ('r-loaded', TIMESTAMP '2025-01-01 02:00', TIMESTAMP '2025-01-01 02:05',
                    'succeeded', 'ED', 'hmac', false, 'fp', 'cfg', 3),
                   ('r-nothing-new', TIMESTAMP '2025-01-02 02:00', TIMESTAMP '2025-01-02 02:01',
                    'succeeded', 'ED', 'hmac', false, 'fp', 'cfg', 0)
            """
        )
        report = build_study_report(con)
        explicit = build_study_report(con, run_id="r-nothing-new")
    assert report["source"]["run_id"] == "r-loaded"  # the last run that loaded built the study
    assert report["source"]["profile"] == "ED"
    assert report["source"]["run_finished_at"] == "2025-01-01T02:05:00Z"
    assert "(The run's profile is not recorded" not in report["notes"]["dates"]
    assert explicit["source"]["run_id"] == "r-nothing-new"
