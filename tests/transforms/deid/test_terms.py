"""De-identification class `term`: a clinician's wording leaves only as a listed term (terms.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from transforms.deid.apply import DeidContext, build_patient_index, flatten_and_deidentify
from transforms.deid.classes import DEID_CLASSES, DeidConfigurationError, output_columns
from transforms.deid.evidence import TERM_DROPPED_METHOD, TERM_KEPT_METHOD, safe_harbor_evidence
from transforms.deid.terms import (
    TERMS_FILE,
    normalise_term,
    normalised_term_sql,
    term_list,
    term_sql,
)
from transforms.sql_on_fhir import compile_view, parse_view
from transforms.views import load_views

from .helpers import keys_for, leak_hits, run_deid, stage, staging_connection

CONTEXT = DeidContext(keys=keys_for(), run_date=dt.date(2026, 1, 1))
VIEWS = {"conditions": compile_view(load_views()["conditions"])}
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SMALL_FIBER = "Small fiber neuropathy"
POTS = "Postural orthostatic tachycardia syndrome (POTS)"
# identifier-like text in the wording slot (deid.md section 10 canaries)
CANARIES = (
    "Qzcanary Vexlerow-term",
    "CNRY-term-7F3A",
    "666-01-0042",
    "canary.term@example.invalid",
)


def condition(condition_id: str, code: str, text: str | None) -> dict:
    concept = {"coding": [{"system": ICD10, "code": code, "display": "Polyneuropathy"}]}
    if text is not None:
        concept["text"] = text
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": "Patient/p1"},
        "code": concept,
    }


WORDINGS = {
    # kept: on the list in any case and spacing, stored as the list spells it
    "c1": ("G62.9", "Small fiber neuropathy", SMALL_FIBER),
    "c2": ("G62.9", "  small   FIBER\tneuropathy\n", SMALL_FIBER),
    "c3": ("G60.9", "Small-fibre neuropathy", SMALL_FIBER),  # a variant: the canonical term
    "c4": ("I49.8", "postural orthostatic tachycardia syndrome (pots)", POTS),
    "c5": ("R00.0", "POTS", POTS),
    "c6": ("G62.9", "small\u00a0fiber neuropathy", SMALL_FIBER),  # a no-break space
    # dropped: anything else, even a listed term with more around it
    "c7": ("G62.9", "Small fiber neuropathy, per Dr Qzcanary Vexlerow-term", None),
    "c8": ("G62.9", "Small fiber neuropathy.", None),
    "c9": ("G62.9", "SFN", None),
    **{f"canary{n}": ("G62.9", text, None) for n, text in enumerate(CANARIES)},
    # no wording at all: NULL, not counted as dropped
    "none": ("G62.9", None, None),
}


@pytest.fixture(scope="module", params=[False, True], ids=["default", "notes_mode"])
def deidentified(request):
    context = dataclasses.replace(CONTEXT, notes_mode=request.param)
    resources = [{"resourceType": "Patient", "id": "p1"}]
    resources += [condition(cid, code, text) for cid, (code, text, _) in WORDINGS.items()]
    tables, counts, _index = run_deid(context, resources, VIEWS)
    return tables["conditions"], counts["conditions"]


def test_term_is_a_class_of_its_own():
    assert "term" in DEID_CLASSES
    columns = {c.name: c for c in output_columns("conditions", VIEWS["conditions"])}
    assert (columns["code_text"].deid_class, columns["code_text"].sql_type) == ("term", "VARCHAR")
    assert columns == {
        c.name: c for c in output_columns("conditions", VIEWS["conditions"], notes_mode=True)
    }


def test_listed_terms_are_kept_as_the_list_spells_them_in_any_case_or_spacing(deidentified):
    table, _ = deidentified
    assert len(table) == len(WORDINGS)
    stored = sorted(r["code_text"] for r in table.to_pylist() if r["code_text"] is not None)
    expected = sorted(kept for _code, _text, kept in WORDINGS.values() if kept is not None)
    assert stored == expected
    assert {r["code"] for r in table.to_pylist()} == {"G62.9", "G60.9", "I49.8", "R00.0"}


def test_anything_else_is_null_and_counted(deidentified):
    table, counts = deidentified
    kept = sum(1 for _c, _t, k in WORDINGS.values() if k is not None)
    present = sum(1 for _c, text, _k in WORDINGS.values() if text is not None)
    assert sum(1 for r in table.to_pylist() if r["code_text"] is None) == len(WORDINGS) - kept
    assert (counts.terms_kept, counts.terms_dropped) == (kept, present - kept)
    assert counts.term_columns == {"code_text": {"kept": kept, "dropped": present - kept}}
    assert counts.columns_dropped == 0  # code.text is no longer a dropped text column


def test_no_identifier_like_wording_is_ever_kept(deidentified):
    table, counts = deidentified
    assert (
        leak_hits({"conditions": table}, ["Qzcanary", "Vexlerow", "CNRY", "666-01", "canary."])
        == []
    )
    assert "Qzcanary" not in repr(counts)


def test_the_drop_is_evidence_per_column():
    con = staging_connection(CONTEXT)
    try:
        resources = [{"resourceType": "Patient", "id": "p1"}]
        resources += [condition(cid, code, text) for cid, (code, text, _) in WORDINGS.items()]
        stage(con, resources, "f" * 64)
        index = build_patient_index(con, "staged", CONTEXT)
        _tables, counts = flatten_and_deidentify(con, "staged", VIEWS, index, CONTEXT)
        rows = safe_harbor_evidence(con, "staged", counts, "ED")
    finally:
        con.close()
    term_rows = {
        (r.element, r.method): r.count for r in rows if r.element == "conditions.code_text"
    }
    kept = counts["conditions"].terms_kept
    dropped = counts["conditions"].terms_dropped
    assert term_rows == {
        ("conditions.code_text", TERM_DROPPED_METHOD): dropped,
        ("conditions.code_text", TERM_KEPT_METHOD): kept,
    }
    assert dropped == 7 and kept == 6


def test_python_and_sql_normalise_alike():
    samples = [
        "  Small\u00a0FIBER\tneuropathy \n",
        "POTS",
        "a\r\nb\u2003c",
        "Small-Fibre  Neuropathy",
        "\u00c9tat",
    ]
    with duckdb.connect() as con:
        for text in samples:
            (sql,) = con.execute(f"SELECT {normalised_term_sql('$1::VARCHAR')}", [text]).fetchone()
            assert sql == normalise_term(text), repr(text)


def test_every_listed_spelling_maps_to_its_canonical_term():
    terms = term_list()
    assert terms[normalise_term(SMALL_FIBER)] == SMALL_FIBER
    assert terms["small fibre neuropathy"] == SMALL_FIBER
    assert terms["pots"] == POTS
    assert terms["orthostatic intolerance"] == "Orthostatic intolerance"
    assert all(key == normalise_term(key) for key in terms)
    with duckdb.connect() as con:
        for key, canonical in terms.items():
            assert con.execute(f"SELECT {term_sql('$1::VARCHAR')}", [key.upper()]).fetchone() == (
                canonical,
            )


def _term_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "terms.yaml"
    path.write_text("version: 1\nterms:\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - {term: Small fiber neuropathy}\n", "'why'"),
        ("  - {term: 'MRN 12345678', why: x}\n", "digits"),
        ("  - {term: 'mail me@example.org', why: x}\n", "letters"),
        ("  - {term: ' POTS', why: x}\n", "letters"),
        ("  - {term: POTS, why: x, extra: 1}\n", "only the keys"),
        ("  - {term: POTS, why: x}\n  - {term: Pots syndrome, why: y, variants: [pots]}\n", "two terms"),
        ("  - {term: POTS, why: x, variants: pots}\n", "must be a list"),
    ],
)  # fmt: skip
def test_a_bad_term_list_refuses_to_start(tmp_path, body, message):
    with pytest.raises(DeidConfigurationError, match=message):
        term_list(_term_file(tmp_path, body))


def test_the_shipped_term_list_explains_every_entry():
    data = yaml.safe_load(TERMS_FILE.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert all(entry["why"].strip() for entry in data["terms"])
    assert term_list()  # loads without error


def test_term_on_a_non_string_column_is_a_configuration_error():
    view = parse_view(
        {
            "resourceType": "ViewDefinition",
            "name": "x",
            "resource": "Condition",
            "status": "active",
            "select": [
                {
                    "column": [
                        {
                            "name": "n",
                            "path": "code.coding.count()",
                            "type": "integer",
                            "tag": [{"name": "deid", "value": "term"}],
                        }
                    ]
                }
            ],
        }
    )
    with pytest.raises(DeidConfigurationError, match="'term' is for single strings"):
        output_columns("x", compile_view(view))


def test_the_config_hash_covers_the_term_list(tmp_path, monkeypatch):
    import flows.nightly as nightly

    before = nightly.config_hash()
    copy = tmp_path / "terms.yaml"
    copy.write_text(TERMS_FILE.read_text(encoding="utf-8") + "\n# reviewed again\n")
    (tmp_path / "allowlist.yaml").write_bytes(TERMS_FILE.with_name("allowlist.yaml").read_bytes())
    monkeypatch.setattr(nightly, "TERMS_FILE", copy)
    assert nightly.config_hash() != before
