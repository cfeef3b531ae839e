"""ViewDefinition validation: each rule breaks with an error naming the element path."""

from __future__ import annotations

import json

import pytest

from transforms.sql_on_fhir import ViewDefinitionError, load_view, parse_view


def view(**changes):
    base = {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("document", "element", "words"),
    [
        ({}, "resource", "required"),
        (view(resource="patient record"), "resource", "resource type"),
        (view(select=[]), "select", "non-empty"),
        (
            view(select=[{"forEach": 1, "column": [{"name": "a", "path": "id"}]}]),
            "select[0].forEach",
            "FHIRPath string",
        ),
        (
            view(select=[{"forEach": "@@", "column": [{"name": "a", "path": "id"}]}]),
            "select[0].forEach",
            "character 0",
        ),
        (
            view(select=[{"column": [{"name": "1bad", "path": "id"}]}]),
            "select[0].column[0].name",
            "letters",
        ),
        (view(select=[{"column": [{"name": "a"}]}]), "select[0].column[0].path", "required"),
        (
            view(select=[{"column": [{"name": "a", "path": "id", "collection": "yes"}]}]),
            "select[0].column[0].collection",
            "true or false",
        ),
        (
            view(select=[{"column": [{"name": "a", "path": "id"}, {"name": "A", "path": "id"}]}]),
            "select[0].column[1]",
            "already used",
        ),
        (
            view(
                select=[{"forEach": "a", "repeat": ["b"], "column": [{"name": "a", "path": "id"}]}]
            ),
            "select[0]",
            "only one of",
        ),
        (
            view(select=[{"repeat": [], "column": [{"name": "a", "path": "id"}]}]),
            "select[0].repeat",
            "non-empty",
        ),
        (view(select=[{"colum": []}]), "select[0]", "unknown element"),
        (
            view(
                select=[
                    {
                        "unionAll": [
                            {"column": [{"name": "a", "path": "id"}]},
                            {"column": [{"name": "b", "path": "id"}]},
                        ]
                    }
                ]
            ),
            "select[0].unionAll[1]",
            "differ",
        ),
        (view(constant=[{"name": "c"}]), "constant[0]", "exactly one value"),
        (
            view(select=[{"column": [{"name": "a", "path": "name.where(use = %missing)"}]}]),
            "select[0].column[0].path",
            "%missing",
        ),
        (
            view(where=[{"path": "name.family.first(", "description": "x"}]),
            "where[0].path",
            "expected",
        ),
    ],
)
def test_invalid_views_name_the_element(document, element, words):
    with pytest.raises(ViewDefinitionError) as info:
        parse_view(document)
    assert info.value.element == element
    assert str(info.value).startswith(f"{element}: ") or element == ""
    assert words in str(info.value)


def test_valid_view_keeps_tags_descriptions_and_order():
    parsed = parse_view(
        view(
            select=[
                {
                    "column": [
                        {
                            "name": "id",
                            "path": "id",
                            "tag": [{"name": "deid", "value": "pseudonym"}],
                            "description": "key",
                        }
                    ]
                },
                {
                    "forEach": "name",
                    "column": [{"name": "family", "path": "family", "type": "string"}],
                },
            ]
        )
    )
    assert [c.name for c in parsed.columns] == ["id", "family"]
    assert parsed.columns[0].tag("deid") == "pseudonym"
    assert parsed.columns[0].description == "key"
    assert parsed.columns[1].tag("deid") is None


def test_load_view_reports_bad_json_without_content(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"resource": "Patient", "select": [ Qzcanary')
    with pytest.raises(ViewDefinitionError) as info:
        load_view(path)
    assert "not valid JSON" in str(info.value)
    assert "Qzcanary" not in str(info.value)


def test_load_view_round_trip(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(view(name="patients_min")))
    assert load_view(path).name == "patients_min"
