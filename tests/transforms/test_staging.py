"""Staging one file: counts per type, quarantine of invalid resources and unknown modifierExtensions."""

from __future__ import annotations

import json

from transforms.sources.discover import discover
from transforms.staging import stage_file


def hasher(resource_type: str, raw_id: str) -> str:
    return f"hash-of-{resource_type}"


def test_unknown_modifier_extension_drops_the_resource(tmp_path):
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}  # fmt: skip
    negated = dict(
        encounter,
        id="e2",
        modifierExtension=[{"url": "http://example.org/not-done", "valueBoolean": True}],
    )
    nested = dict(
        encounter,
        id="e3",
        participant=[
            {"modifierExtension": [{"url": "http://example.org/x", "valueBoolean": True}]}
        ],
    )
    (tmp_path / "Encounter.ndjson").write_text(
        "\n".join(json.dumps(r) for r in (encounter, negated, nested)) + "\n"
    )
    (found,) = discover(tmp_path).files
    staged = stage_file(found, hasher)
    assert staged.resources.column("_source_line").to_pylist() == [1]
    assert staged.read_by_type == {"Encounter": 3} and staged.quarantined_by_type == {
        "Encounter": 2
    }
    rows = [(q["line"], q["error_class"], q["element"]) for q in staged.quarantine]
    assert rows == [
        (2, "UnknownModifierExtension", "Encounter.modifierExtension"),
        (3, "UnknownModifierExtension", "Encounter.participant[0].modifierExtension"),
    ]
    assert all(q["id_hash"] == "hash-of-Encounter" for q in staged.quarantine)
