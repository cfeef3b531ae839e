"""Errors from running views name elements and classes, never the resource values that failed."""

from __future__ import annotations

import traceback

import pytest

from transforms.sql_on_fhir import ViewExecutionError, load_resources, parse_view, run_view

CANARY = "Qzcanary Vexlerow-engine"
CANARY_MRN = "CNRY-engine-7F3A"


@pytest.fixture
def canary_table(con):
    load_resources(
        con,
        [
            {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [{"system": "urn:mrn", "value": CANARY_MRN}],
                "name": [{"family": CANARY}, {"family": f"{CANARY}-second"}],
                "birthDate": "not-a-date " + CANARY,
            }
        ],
        "canaries",
    )
    return "canaries"


def assert_clean(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    assert CANARY not in text and CANARY_MRN not in text
    assert exc.__cause__ is None and exc.__suppress_context__


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"name": "family", "path": "name.family"}, "more than one value"),
        ({"name": "mrn", "path": "identifier.value.first()", "type": "integer"}, "withheld"),
        ({"name": "family", "path": "name.family.first()", "type": "decimal"}, "withheld"),
        ({"name": "born", "path": "birthDate + 1"}, "withheld"),
    ],
)
def test_runtime_errors_carry_no_values(con, canary_table, column, message):
    view = parse_view({"resource": "Patient", "select": [{"column": [column]}]})
    with pytest.raises(ViewExecutionError) as info:
        run_view(con, view, canary_table)
    assert message in str(info.value)
    assert_clean(info.value)


def test_where_that_is_not_boolean_fails_without_values(con, canary_table):
    view = parse_view(
        {
            "resource": "Patient",
            "where": [{"path": "name.family.first()"}],
            "select": [{"column": [{"name": "id", "path": "id"}]}],
        }
    )
    with pytest.raises(ViewExecutionError, match=r"where\[0\]\.path") as info:
        run_view(con, view, canary_table)
    assert_clean(info.value)
