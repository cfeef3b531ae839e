"""The HTML run report in a real browser: offline, no console error, numbers equal report.json.

Drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) through Playwright;
Playwright's own browser download is never used. A missing browser fails the test: an auditor's
report that was never opened in a browser is not verified.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from expectations.run_report import build_run_report, write_run_report
from warehouse import open_read_only, open_warehouse

from .browser import browser, open_report  # noqa: F401 - the fixture is used by name
from .test_run_report import SECOND, build_two_runs


@pytest.fixture(scope="module")
def written_report(tmp_path_factory, clean_template) -> tuple[Path, dict]:
    """Run 2's report of the two-run warehouse, written to its own report folder."""
    root = tmp_path_factory.mktemp("browser")
    warehouse = root / "w.duckdb"
    shutil.copyfile(clean_template, warehouse)
    with open_warehouse(warehouse) as con:
        build_two_runs(con)
    with open_read_only(warehouse) as con:
        report = build_run_report(con, SECOND)
    folder = root / "reports" / SECOND
    paths = write_run_report(folder, report)
    return paths["html"], json.loads(paths["json"].read_text())


def test_report_opens_offline_without_errors_and_shows_the_json_numbers(
    browser,  # noqa: F811 - the imported fixture
    written_report,
    tmp_path,
):
    html_path, document = written_report
    folder = html_path.parent
    page, record = open_report(
        browser, html_path, tmp_path / "screenshot.png", folder / "screenshot.png"
    )
    requests = record.requests
    cells = page.eval_on_selector_all(
        "[data-role=overview] td[data-status]",
        """cells => cells.map(c => [c.dataset.context, c.dataset.category, c.dataset.status,
                                   c.textContent.trim()])""",
    )
    headline = page.inner_text("[data-role=headline]")
    check_rows = page.eval_on_selector_all(
        "[data-role=checks] tr[data-check-id]",
        "rows => rows.map(r => [r.dataset.checkId, r.dataset.status])",
    )
    page.close()

    assert record.page_errors == []
    assert record.console_problems == []
    assert requests, "the browser recorded no request at all"
    for url in requests:
        parsed = urlparse(url)
        assert parsed.scheme == "file", url
        assert Path(unquote(parsed.path)).parent == folder, url  # the report folder only
    assert requests[0] == html_path.as_uri()

    grid = document["overview"]["grid"]
    expected = {
        (context, category, status): count
        for context, row in grid.items()
        for category, counts in row.items()
        for status, count in counts.items()
    }
    shown = {(c, k, s): int(text.replace(",", "")) for c, k, s, text in cells}
    assert shown == expected
    assert len(cells) == 3 * 4 * 5  # contexts + total, categories + total, statuses + total
    assert headline == document["verdict"]["headline"]
    assert check_rows == [[row["check_id"], row["status"]] for row in document["checks"]]
    for screenshot in (tmp_path / "screenshot.png", folder / "screenshot.png"):
        assert screenshot.stat().st_size > 10_000
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
