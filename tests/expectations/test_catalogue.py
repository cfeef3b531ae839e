"""The check catalogue: its validation, and DATA_QUALITY.md generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from expectations.checks import CATALOGUE_PATH, CHECKS_DIR, CatalogueError, load_catalogue
from expectations.data_quality_md import DATA_QUALITY_PATH, main, render
from warehouse import core_tables


def _write_catalogue(tmp_path: Path, edit) -> Path:
    """A copy of the project's catalogue with ``edit`` applied to its list of entries."""
    entries = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))["checks"]
    edit(entries)
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"checks": entries}, sort_keys=False), encoding="utf-8")
    return path


def test_catalogue_covers_every_core_key(catalogue) -> None:
    ids = {check.id for check in catalogue}
    assert {f"pk_{table}" for table in core_tables()} <= ids
    assert len(ids) == len(catalogue)


def test_every_sql_file_belongs_to_a_check(catalogue) -> None:
    sql_checks = [check for check in catalogue if check.kind == "sql"]
    files = {path.name for path in CHECKS_DIR.glob("*.sql")}
    assert files == {check.sql for check in sql_checks}
    denominators = {f"denominators/{path.name}" for path in CHECKS_DIR.glob("denominators/*.sql")}
    assert denominators == {c.denominator for c in sql_checks if c.denominator.endswith(".sql")}


def test_keys_and_foreign_keys_are_fatal_at_zero(catalogue) -> None:
    for check in catalogue:
        if check.id.startswith(("pk_", "fk_")):
            assert (check.severity, check.threshold_pct) == ("fatal", 0.0), check.id


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.append(dict(e[0])), "duplicate id"),
        (lambda e: e[0].update(severity="blocker"), "severity 'blocker'"),
        (lambda e: e[0].update(kahn_context="audit"), "kahn_context"),
        (lambda e: e[0].update(category="accuracy"), "category"),
        (lambda e: e[0].update(subcategory="temporal"), "subcategory 'temporal'"),
        (lambda e: e[0].update(kind="python"), "kind"),
        (lambda e: e[0].update(threshold_pct=150), "threshold_pct"),
        (lambda e: e[0].update(threshold_pct="5"), "threshold_pct"),
        (lambda e: e[0].update(table="people"), "unknown table 'people'"),
        (lambda e: e[0].update(column="ssn"), "has no column"),
        (lambda e: e[0].update(sql="pk_visits.sql"), "sql must be pk_patients.sql"),
        (lambda e: e[0].update(id="pk_nowhere", sql="pk_nowhere.sql"), "no SQL file"),
        (lambda e: e[0].update(denominator="people"), "no core table"),
        (lambda e: e[0].update(denominator="denominators/none.sql"), "no denominator file"),
        (lambda e: e[0].update(owner="me"), "unknown fields ['owner']"),
        (lambda e: e[0].pop("rationale"), "missing fields ['rationale']"),
        (lambda e: e[0].update(rationale=" "), "rationale must be a non-empty string"),
        (lambda e: e[0].update(id="PK-Patients"), "lower_snake_case"),
    ],
)
def test_invalid_catalogue_is_refused(tmp_path, edit, message) -> None:
    path = _write_catalogue(tmp_path, edit)
    with pytest.raises(CatalogueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_catalogue(path)


def test_catalogue_without_checks_list_is_refused(tmp_path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("checks: none\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="'checks' list"):
        load_catalogue(path)


def test_data_quality_md_matches_the_catalogue(catalogue) -> None:
    # Regenerate with: python -m expectations.data_quality_md
    assert DATA_QUALITY_PATH.read_text(encoding="utf-8") == render(catalogue)


def test_data_quality_md_lists_every_check_once(catalogue, tmp_path) -> None:
    out = tmp_path / "DATA_QUALITY.md"
    assert main([str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(catalogue)
    for check, row in zip(catalogue, rows, strict=True):
        assert row.startswith(f"| `{check.id}` |")
        assert row.count(" | ") == 7  # eight cells: no stray pipe split a cell
