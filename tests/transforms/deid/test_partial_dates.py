"""Partial dates become NULL with a per-row flag, in every profile."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.transforms.deid.helpers import keys_for, run_deid
from transforms.deid.apply import DeidContext
from transforms.sql_on_fhir import compile_view
from transforms.views import load_views

VIEWS = {"conditions": compile_view(load_views()["conditions"])}


@pytest.mark.parametrize("profile", ["ED", "LDS", "SH"])
def test_a_partial_date_is_nulled_and_flagged(profile):
    context = DeidContext(keys=keys_for(), run_date=dt.date(2026, 1, 1), profile=profile)
    resources = [
        {"resourceType": "Patient", "id": "p1"},
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient/p1"},
            "onsetDateTime": "2021-05",
            "recordedDate": "2021-06-07",
        },
        {
            "resourceType": "Condition",
            "id": "c2",
            "subject": {"reference": "Patient/p1"},
            "recordedDate": "2021-06-07",
        },
    ]
    tables, counts, _ = run_deid(context, resources, VIEWS)
    rows = tables["conditions"].to_pylist()
    assert sorted(r["dates_nulled"] for r in rows) == ([0, 0] if profile == "SH" else [0, 1])
    # c1, the one with an onset: under SH its year shows, elsewhere its flag is set
    (partial,) = [r for r in rows if r["onset_date"] is not None or r["dates_nulled"]]
    if profile == "SH":  # a year-month keeps its year under Safe Harbor: nothing is nulled
        assert partial["onset_date"] == 2021
    else:
        assert partial["onset_date"] is None and partial["recorded_date"] is not None
    if profile == "LDS":
        assert partial["recorded_date"] == dt.date(2021, 6, 7)
    assert counts["conditions"].dates_nulled == (0 if profile == "SH" else 1)


def test_an_age_of_90_or_more_years_is_emptied():
    views = {"observations": compile_view(load_views()["observations"])}
    context = DeidContext(keys=keys_for(), run_date=dt.date(2026, 1, 1))

    def age(observation_id: str, years: float, unit: str = "a") -> dict:
        return {
            "resourceType": "Observation",
            "id": observation_id,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "30525-0"}]},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {
                "value": years,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }

    resources = [
        {"resourceType": "Patient", "id": "p1"},
        age("o1", 89),
        age("o2", 93),
        age("o3", 120, "mm[Hg]"),
    ]
    tables, counts, _ = run_deid(context, resources, views)
    assert sorted(
        r["value_num"] for r in tables["observations"].to_pylist() if r["value_num"] is not None
    ) == [89, 120]
    assert counts["observations"].ages_over_89_emptied == 1
