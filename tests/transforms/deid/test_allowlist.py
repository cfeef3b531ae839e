"""The code-system allow-list: displays only from listed systems, local codes only when short."""

from __future__ import annotations

import datetime as dt

from tests.transforms.deid.helpers import keys_for, leak_hits, run_deid
from transforms.deid.apply import DeidContext, allowed_system_sql, code_system_allowlist
from transforms.sql_on_fhir import compile_view
from transforms.views import load_views

CONTEXT = DeidContext(keys=keys_for(), run_date=dt.date(2026, 1, 1))
VIEWS = {"conditions": compile_view(load_views()["conditions"])}
LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696871"  # an Epic-style local code system


def condition(condition_id: str, system: str, code: str, display: str) -> dict:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
    }


def test_listed_systems_keep_codes_and_displays_local_ones_do_not():
    tables, counts, _index = run_deid(
        CONTEXT,
        [
            {"resourceType": "Patient", "id": "p1"},
            condition("c1", "http://snomed.info/sct", "91302008", "Sepsis (disorder)"),
            condition("c2", LOCAL, "12345", "Qzcanary Vexlerow-allowlist follow-up"),
            condition("c3", LOCAL, "CNRY-allowlist-7F3A-LONG", "Local display"),
        ],
        VIEWS,
    )
    rows = {r["code"]: r for r in tables["conditions"].to_pylist() if r["code"]}
    assert rows["91302008"]["display"] == "Sepsis (disorder)"
    assert rows["12345"]["display"] is None  # a short local code stays, its display does not
    assert "CNRY-allowlist-7F3A-LONG" not in rows  # a long local code can be an identifier
    assert leak_hits(tables, ["Qzcanary", "CNRY-allowlist"]) == []
    assert counts["conditions"].displays_dropped == 2
    assert counts["conditions"].codes_dropped == 1


def test_allowlist_sql_matches_systems_and_prefixes(con):
    cases = {
        "http://loinc.org": True,
        "http://terminology.hl7.org/CodeSystem/v3-ActCode": True,
        "http://example.org/fhir/Questionnaire/compass-31": True,
        "http://loinc.org.evil.example": False,
        LOCAL: False,
    }
    con.execute("CREATE TABLE systems (system VARCHAR)")
    con.executemany("INSERT INTO systems VALUES (?)", [[s] for s in cases])
    got = dict(
        con.execute(f"SELECT system, {allowed_system_sql('system')} FROM systems").fetchall()
    )
    assert got == cases
    assert "http://snomed.info/sct" in code_system_allowlist()["systems"]
