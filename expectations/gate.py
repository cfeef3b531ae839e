"""The data-quality gate: fatal check failures stop the publish and roll the load back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from .checks import Check, CheckResult, evaluate_sql_checks, fatal_failures, load_catalogue


class QualityGateError(Exception):
    """Fatal data-quality checks failed: the load was rolled back and nothing was published.

    The message names the checks and their counts only, never a value or a key.

    Attributes:
        failures: the fatal results that stopped the publish.
    """

    def __init__(self, failures: Sequence[CheckResult], *, rolled_back: bool = True):
        self.failures = list(failures)
        described = ", ".join(_describe(result) for result in self.failures)
        outcome = (
            "the load was rolled back, the warehouse and the analysts' snapshot keep the previous "
            "good state"
            if rolled_back
            else "this run loaded nothing: the tables already published fail these checks "
            "(a changed check, or an edit outside chartetl); nothing was republished"
        )
        super().__init__(
            f"{len(self.failures)} fatal data-quality check(s) failed: {described}; {outcome}"
        )


@dataclass
class QualityGate:
    """A ``load_run(before_commit=...)`` step: the SQL checks on the merged tables, then the verdict.

    It runs inside the load transaction, after the MERGE and before the COMMIT, so the table-wide
    checks (keys, foreign keys) judge this run's rows together with every earlier row, exactly as
    the analysts would see them. Results of checks run earlier on the batch (the Great
    Expectations suites) join the verdict. A fatal failure raises ``QualityGateError``, which
    rolls the load back; the results stay available in ``results`` for the audit record either way.

    Two gates run in the load: one on the core tables before the study build (``scope="core"``,
    with the batch results) and one on the study tables after it (``scope="study"``).

    Attributes:
        batch_results: outcomes of the checks already run on the staged batch.
        scope: ``core`` (the core tables' SQL checks) or ``study`` (the study tables' checks).
        checks: the catalogue to take the scope's SQL checks from (default: loaded from the
            file; the flow passes the one it validated at start).
        run_date: the date the future-date checks compare with (default: today, UTC).
        results: every outcome, batch checks first; filled when the gate has run.
    """

    batch_results: list[CheckResult] = field(default_factory=list)
    scope: str = "core"
    checks: Sequence[Check] | None = None
    run_date: dt.date | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def step_name(self) -> str:
        """How the loader names this step in a LoadError."""
        return f"data-quality-gate-{self.scope}"

    def __call__(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run the scope's SQL checks and raise if any fatal check failed or errored."""
        if self.scope not in ("core", "study"):
            raise ValueError("a quality gate's scope is 'core' or 'study'")
        checks = [
            check
            for check in (load_catalogue() if self.checks is None else self.checks)
            if check.kind == "sql" and check.is_study_check == (self.scope == "study")
        ]
        self.results = list(self.batch_results) + evaluate_sql_checks(
            con, checks=checks, run_date=self.run_date
        )
        if failures := fatal_failures(self.results):
            raise QualityGateError(failures)


def _describe(result: CheckResult) -> str:
    if result.status == "error":
        return f"{result.check_id} (could not run: {result.error_class})"
    return f"{result.check_id} ({result.rows_violating} of {result.rows_checked} rows)"
