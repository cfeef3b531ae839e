"""Canaries in every PHI slot, every input format and a file name: none reaches the research zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.canaries import FILE_NAME_CANARY, canary_tokens, write_canary_inbox
from tests.flows.conftest import Workspace
from tests.flows.test_nightly import leak_hits

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def research_zone_text(workspace: Workspace) -> str:
    """Everything a person reads besides the warehouse: reports and the snapshot's name."""
    return "\n".join(
        p.read_text(errors="replace") for p in workspace.reports.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("profile", ["ED", "SH", "LDS"])
def test_no_canary_leaves_the_phi_zone(tmp_path, profile, caplog, capfd):
    caplog.set_level("DEBUG")
    workspace = Workspace(tmp_path / profile)
    write_canary_inbox(workspace.inbox)
    summary = workspace.run(profile=profile, unknown_columns="drop")
    assert summary["status"] == "succeeded"
    tokens = canary_tokens()

    # the canaries reached the pipeline: patients from all three formats were loaded
    assert workspace.query("SELECT count(*) FROM core.patients") == [(3,)]
    assert summary["quarantined_by_type"]  # the malformed line with canaries was quarantined

    assert leak_hits(workspace.warehouse, tokens) == {}
    assert leak_hits(Path(summary["snapshot"]), tokens) == {}
    text = research_zone_text(workspace)
    assert [t for t in tokens if t in text] == []
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert [t for t in tokens if t in logs] == []
    # the file whose name carries a canary was loaded and is known by its hashes only
    (files,) = workspace.query("SELECT count(*) FROM audit.files")[0]
    assert files == 11
    # 90+: born 1930, so no birth year, in every profile
    assert workspace.query(
        "SELECT birth_year, age_group FROM core.patients WHERE age_group IS NOT NULL"
    ) == [(None, "90+")]
    assert FILE_NAME_CANARY not in repr(summary)
    # the unknown CSV header was dropped on request, and audited by name
    audited = workspace.query("SELECT header, action FROM audit.csv_columns ORDER BY 1, 2")
    assert ("canary_unknown_notes", "dropped_unknown") in audited
    assert ("value", "free_text_dropped") in audited


def test_notes_mode_keeps_scrubbed_text_and_no_canary(tmp_path):
    workspace = Workspace(tmp_path / "notes")
    write_canary_inbox(workspace.inbox)
    summary = workspace.run(notes="scrub", unknown_columns="drop")
    assert summary["status"] == "succeeded" and summary["leak_scan"]["warehouse"]["clean"]
    notes = workspace.query(
        "SELECT content_type, note_text, scrubber_version FROM core.notes ORDER BY content_index"
    )
    assert [n[0] for n in notes] == ["text/plain", "text/html"]
    plain, html = notes[0][1], notes[1][1]
    assert "Naltrexone 1 mg daily" in plain  # clinical content kept
    assert "2024-03-01" not in plain  # the date moved with the patient's offset...
    (visit_date,) = workspace.query("SELECT start_date FROM core.visits")[0]
    assert f"Seen on {visit_date.isoformat()}." in plain  # ...the same offset as the visit's
    assert "[NAME]" in plain and "[NAME]" in html and notes[0][2].startswith("notes-scrub/")
    assert leak_hits(workspace.warehouse, canary_tokens()) == {}
    counts = summary["deid_by_table"]["notes"]
    assert counts["notes_scrubbed"] == 2 and counts["note_replacements"] >= 8
    # the scrubber's recall, measured on a labelled corpus, is in the audit of this very run
    recall = dict(
        workspace.query("SELECT category, recall FROM audit.notes_scrubber WHERE kind = 'overall'")
    )
    assert recall["own"] >= 0.99 and recall["pattern"] >= 0.95


def test_unknown_csv_column_stops_the_run_naming_only_the_header(tmp_path):
    from transforms.sources.records import UnknownColumnError

    workspace = Workspace(tmp_path / "strict")
    write_canary_inbox(workspace.inbox)
    with pytest.raises(UnknownColumnError) as info:
        workspace.run()
    assert "canary_unknown_notes" in str(info.value)
    assert [t for t in canary_tokens() if t in str(info.value)] == []
    assert workspace.query("SELECT status, error_summary FROM audit.runs") == [
        ("failed", "UnknownColumnError")
    ]
