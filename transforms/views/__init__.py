"""The project's ViewDefinitions: one JSON file per core table (the de-identification allow-list)."""

from __future__ import annotations

from pathlib import Path

from transforms.deid.classes import DEID_CLASSES, DEID_TAG
from transforms.sql_on_fhir import ViewDefinition, load_view

__all__ = ["DEID_CLASSES", "DEID_TAG", "REPLACE_BY_PARENT", "TABLE_KEYS", "VIEWS_DIR", "load_views"]

VIEWS_DIR = Path(__file__).resolve().parent

# Each view's key columns in the warehouse (the MERGE key), by view name.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "visits": ("visit_id",),
    "conditions": ("condition_id",),
    "meds": ("med_id",),
    "observations": ("observation_id", "value_index"),
    "questionnaire_responses": ("response_id",),
    "questionnaire_items": ("response_id", "link_id", "answer_index"),
    "adverse_events": ("event_id",),
    "notes": ("note_id", "content_index"),
}
# Child tables: a re-delivered parent replaces all its rows (its first key column is the parent).
REPLACE_BY_PARENT = {
    "observations": "observation_id",
    "questionnaire_items": "response_id",
    "notes": "note_id",
}


def load_views(folder: Path = VIEWS_DIR) -> dict[str, ViewDefinition]:
    """Every ``*.json`` ViewDefinition of ``folder`` by view name (file stem when unnamed)."""
    views = {}
    for path in sorted(folder.glob("*.json")):
        view = load_view(path)
        views[view.name or path.stem] = view
    return views
