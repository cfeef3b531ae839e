"""The project's ViewDefinitions: one JSON file per core table (the de-identification allow-list)."""

from __future__ import annotations

from pathlib import Path

from transforms.sql_on_fhir import ViewDefinition, load_view

VIEWS_DIR = Path(__file__).resolve().parent

# The de-identification classes a column may carry (architecture.md section 3), as a tag
# {"name": "deid", "value": <class>} on every column of every view in this folder.
DEID_TAG = "deid"
DEID_CLASSES = ("pseudonym", "shift", "birth_year", "zip3", "code", "value", "text")


def load_views(folder: Path = VIEWS_DIR) -> dict[str, ViewDefinition]:
    """Every ``*.json`` ViewDefinition of ``folder`` by view name (file stem when unnamed)."""
    views = {}
    for path in sorted(folder.glob("*.json")):
        view = load_view(path)
        views[view.name or path.stem] = view
    return views
