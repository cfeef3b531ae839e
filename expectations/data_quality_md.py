"""Render expectations/DATA_QUALITY.md, the auditors' view of the check catalogue."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .checks import Check, load_catalogue

DATA_QUALITY_PATH = Path(__file__).resolve().parent / "DATA_QUALITY.md"

_INTRO = """\
# Data quality checks

<!-- Generated from expectations/catalogue.yaml by `python -m expectations.data_quality_md`.
     Do not edit by hand: tests/expectations fail when this file and the catalogue differ. -->

Every night, before the de-identified rows are published, chartetl runs the checks below, of two
kinds (column *Test*):

- **GX** checks judge the run's new rows column by column, staged and de-identified, before
  anything is loaded: required columns, FHIR required bindings, keys repeated within the batch,
  numeric ranges. Each is one Great Expectations row-level expectation (named with its arguments)
  in a suite per table, run in memory. Results keep counts only (`BASIC` format with no sample of
  failing values; exception messages replaced by their class), so no value leaves the check. The
  share of violating rows is GX's unexpected count divided by the rows judged (the batch's rows,
  less those where the column is empty when the expectation skips them), times 100; a repeated key
  counts every row that carries it.
- **SQL** checks judge whole tables (keys, foreign keys, study rules) on the merged warehouse. Each
  is one query under `warehouse/sql/checks/<id>.sql` that returns the pseudonymous keys of the
  offending rows, never clinical values or text. The share of violating rows is the number of rows
  returned divided by the rows checked (the check's denominator: a whole table or the rows in
  scope, such as naltrexone orders), times 100. The runner refuses a check that returns any column
  other than a pseudonymous id or a positional index (`answer_index`, `value_index`,
  `content_index`). For a failed check the first 100 keys are kept in `audit.check_violations`,
  so data engineers can find the rows; the run report shows counts only.

- **Severity.** A *fatal* check whose share exceeds its threshold (or that cannot run) stops the
  publish: the warehouse keeps the previous night's tables. A *warning* is reported in the run
  report and in `audit.check_results` without stopping the run.
- **Threshold.** The percentage of checked rows allowed to violate. 0 % means any violation
  counts.
- **Status.** `passed`, `failed`, `not_applicable` (no rows to check) or `error` (the check
  could not run; only the error class is recorded, because database and GX messages can quote
  data).
- **Classification.** Kahn MG et al., *A Harmonized Data Quality Assessment Terminology and
  Framework for the Secondary Use of Electronic Health Record Data*, eGEMs 2016;4(1):1244. The
  context is *verification* (agreement with the data's own constraints and definitions) or
  *validation* (agreement with external knowledge). Key checks, and checks that keys and patient
  references are present, are classed as relational conformance, as in the OHDSI Data Quality
  Dashboard; codes checked against a FHIR required binding are value conformance; a key repeated
  within one batch (one record delivered twice) is uniqueness plausibility.

Dates in the warehouse are shifted per patient (profile ED: up to 365 days either way), so
date checks allow one year of margin; intervals within one patient are exact.
"""

_COLUMNS = (
    "Check",
    "Table.column",
    "Kahn context / category / subcategory",
    "Severity",
    "Threshold",
    "Description",
    "Test",
    "Rationale",
)


def render(checks: Sequence[Check]) -> str:
    """The Markdown page for ``checks``: the introduction, then one table row per check.

    Args:
        checks: the catalogue entries, in catalogue order.
    """
    lines = [_INTRO, f"{len(checks)} checks.", ""]
    lines.append("| " + " | ".join(_COLUMNS) + " |")
    lines.append("|" + "---|" * len(_COLUMNS))
    for check in checks:
        target = check.table if check.column is None else f"{check.table}.{check.column}"
        kahn = " / ".join(
            part for part in (check.kahn_context, check.category, check.subcategory) if part
        )
        cells = (
            f"`{check.id}`",
            target,
            kahn,
            check.severity,
            f"{check.threshold_pct:g} %",
            check.description,
            implementation(check),
            check.rationale,
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def implementation(check: Check) -> str:
    """How the check is run: its GX expectation and arguments, or its SQL file and denominator.

    Args:
        check: a catalogue entry.
    """
    if check.kind == "gx":
        arguments = ", ".join(
            f"{name}={json.dumps(value, ensure_ascii=False)}"
            for name, value in (check.kwargs or {}).items()
        )
        return f"GX `{check.expectation}({arguments})`"
    return f"SQL `{check.sql}` over `{check.denominator}`"


def main(argv: Sequence[str] | None = None) -> int:
    """Write DATA_QUALITY.md from the catalogue (``python -m expectations.data_quality_md``).

    Args:
        argv: optional output path as the only argument (default: expectations/DATA_QUALITY.md).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else DATA_QUALITY_PATH
    path.write_text(render(load_catalogue()), encoding="utf-8")
    return 0


def _cell(text: str) -> str:
    # A pipe or a line break would end the Markdown table cell early.
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    raise SystemExit(main())
