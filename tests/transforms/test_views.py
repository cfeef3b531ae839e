"""The project's ViewDefinitions: every column classed for de-identification, all compile."""

from __future__ import annotations

import pytest

from transforms.sql_on_fhir import compile_view
from transforms.views import DEID_CLASSES, DEID_TAG, load_views

VIEWS = load_views()


def test_core_views_present():
    assert {"patients", "visits", "conditions", "meds"} <= set(VIEWS)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_column_has_exactly_one_deid_class(name):
    for column in VIEWS[name].columns:
        classes = [t.value for t in column.tags if t.name == DEID_TAG]
        assert len(classes) == 1, f"{name}.{column.name} needs one '{DEID_TAG}' tag"
        assert classes[0] in DEID_CLASSES, f"{name}.{column.name}: unknown class {classes[0]!r}"
        assert column.description, (
            f"{name}.{column.name} needs a description for the data dictionary"
        )


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_compile(name):
    assert compile_view(VIEWS[name]).columns
