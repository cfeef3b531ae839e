"""Great Expectations suites on the staged, de-identified batch: one suite per core table.

The catalogue's ``kind: gx`` entries are column-level rules (required columns, FHIR required
bindings, in-batch key uniqueness, numeric ranges). They judge each run's new rows before
anything is loaded; table-wide rules (keys and foreign keys against the warehouse) stay SQL.

Value-free by construction:

- GX validates pandas DataFrames (its SQL datasource cannot read DuckDB), each holding only the
  columns the table's checks name: lineage (``_source_file_hash``, ``_source_line``) and every
  other column are dropped before GX sees the batch.
- Results use ``BASIC`` with ``partial_unexpected_count: 0``: counts, no sample of failing values
  (``SUMMARY``/``COMPLETE`` would copy them). Only row-level (map) expectations are allowed,
  because aggregate ones report an ``observed_value``, which is data.
- GX writes an expectation's exception message and traceback into its result and renders both
  in Data Docs; messages can quote data (e.g. a failed conversion shows the text). They are
  replaced by the exception class before results are kept or rendered, and a result's counts
  are kept by an allow-list. The batch's ``pandas_data_fingerprint`` (an MD5 of the data) is
  dropped as well.
- The context is ephemeral (in memory), with analytics off in the environment and the config.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from .checks import Check, CheckResult, load_catalogue

GX_RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
DATA_DOCS_SITE = "chartetl_batch"
DATASOURCE = "staged_batch"
# What a row-level result may keep: counts and shares only.
_COUNT_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "missing_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)
_EXCEPTION_CLASS = re.compile(r"([A-Za-z_][\w.]*)")
_WITHHELD_TRACEBACK = "(withheld by chartetl: tracebacks and messages can quote the data)"

logger = logging.getLogger(__name__)


def import_great_expectations() -> ModuleType:
    """Import GX (about 3 s, once per process) with its usage analytics off.

    GX 1.24 ships no analytics client, but the switch is set anyway (before the import, for any
    version that reads it then), and contexts are built with ``analytics_enabled: False``.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations

    return great_expectations


def run_gx_checks(
    tables: Mapping[str, pa.Table],
    *,
    checks: Sequence[Check] | None = None,
    data_docs_dir: Path | None = None,
) -> list[CheckResult]:
    """Validate the staged batch with one GX suite per table, built from the catalogue's gx checks.

    Outcomes match the SQL checks' (``record_results`` stores both): ``rows_checked`` is the
    number of rows the expectation judged (rows of the batch, less the rows GX skips because
    the column is NULL: ``element_count - missing_count``), ``rows_violating`` is GX's
    ``unexpected_count``, and ``pct`` their ratio times 100. The status is ``passed`` when
    ``pct`` is within the threshold, ``failed`` otherwise, ``not_applicable`` when the table is
    absent or empty or no row was judged (rows_checked 0), and ``error`` when the expectation
    raised: then only the exception class is kept. ``violating_keys`` stays empty: naming the
    rows would need GX's ``COMPLETE`` format, which copies values too.

    Uniqueness expectations count every row that shares its key (both copies of a duplicated
    key), where the SQL key checks count the surplus rows.

    Data Docs, when asked for, are a secondary view for engineers: the auditors' report is our
    own offline HTML, which links to them. GX's pages load Bootstrap, jQuery, Font Awesome and
    Vega from public CDNs and GX's logo from its S3 bucket (with the build time in the URL)
    when opened in a browser; they hold no batch value (tests plant a canary to prove it).

    Args:
        tables: the de-identified batch by core table name (view columns plus lineage).
        checks: the checks to run (default: the catalogue's gx checks; sql checks are skipped).
        data_docs_dir: a folder for GX Data Docs (``index.html`` and pages), created if needed;
            None builds none. A failed build is logged (exception class only) and the results
            are returned anyway.

    Returns:
        One result per gx check, in the order of ``checks``.
    """
    checks = [c for c in (load_catalogue() if checks is None else checks) if c.kind == "gx"]
    if not checks:
        return []
    gx = import_great_expectations()
    context = _ephemeral_context(gx, data_docs_dir)
    datasource = context.data_sources.add_pandas(DATASOURCE)
    by_table: dict[str, list[Check]] = {}
    for check in checks:
        by_table.setdefault(check.table, []).append(check)
    outcomes: dict[str, CheckResult] = {}
    for table, table_checks in by_table.items():
        batch = tables.get(table)
        if batch is None or batch.num_rows == 0:
            outcomes.update({check.id: _not_applicable(check, 0) for check in table_checks})
            continue
        try:
            validation = _validate_table(gx, context, datasource, table, table_checks, batch)
        except Exception as exc:  # the suite could not run: every check of the table errs
            outcomes.update({check.id: _error(check, type(exc).__name__) for check in table_checks})
            continue
        by_check = {result.expectation_config.meta.get("check_id"): result for result in validation}
        for check in table_checks:
            result = by_check.get(check.id)
            outcomes[check.id] = (
                _error(check, "MissingResult") if result is None else _outcome(check, result)
            )
    if data_docs_dir is not None:
        _build_data_docs(context, Path(data_docs_dir))
    return [outcomes[check.id] for check in checks]


def _ephemeral_context(gx: ModuleType, data_docs_dir: Path | None) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if data_docs_dir is not None:
        Path(data_docs_dir).mkdir(parents=True, exist_ok=True)
        sites[DATA_DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(data_docs_dir).resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        analytics_enabled=False,
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate_table(
    gx: ModuleType,
    context: Any,
    datasource: Any,
    table: str,
    checks: list[Check],
    batch: pa.Table,
) -> list[Any]:
    """Run the table's suite on the columns its checks name; the results, scrubbed."""
    named = {column for check in checks for column in check.columns}
    # A column missing from the batch is left to GX, which fails that expectation alone.
    frame = batch.select([c for c in batch.column_names if c in named]).to_pandas()
    batch_definition = datasource.add_dataframe_asset(table).add_batch_definition_whole_dataframe(
        table
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"chartetl.{table}"))
    for check in checks:
        expectation_class = getattr(gx.expectations, check.expectation)
        suite.add_expectation(
            expectation_class(
                **(check.kwargs or {}),
                meta={"check_id": check.id},
                notes=(
                    f"chartetl check `{check.id}` ({check.severity}, threshold "
                    f"{check.threshold_pct:g} %): {check.description}"
                ),
            )
        )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"chartetl.{table}", data=batch_definition, suite=suite)
    )
    validation = definition.run(
        batch_parameters={"dataframe": frame}, result_format=GX_RESULT_FORMAT
    )
    scrub_validation(validation)
    return list(validation.results)


def scrub_validation(validation: Any) -> None:
    """Strip what could quote the batch from a suite's validation result, in place.

    Keeps each result's counts (allow-list), replaces an exception's message by its class and
    its traceback by a notice, and drops the batch's data fingerprint. Idempotent.

    Args:
        validation: a GX ``ExpectationSuiteValidationResult``.
    """
    for result in validation.results:
        result.result = {k: v for k, v in (result.result or {}).items() if k in _COUNT_KEYS}
        error_class = _exception_class(result.exception_info or {})
        # The class stands in for the message, which can quote data, and so does the traceback.
        # Data Docs need a traceback string to render the page of a result that raised.
        result.exception_info = {
            "raised_exception": error_class is not None,
            "exception_message": error_class,
            "exception_traceback": None if error_class is None else _WITHHELD_TRACEBACK,
        }
    markers = validation.meta.get("batch_markers")
    if isinstance(markers, dict):
        markers.pop("pandas_data_fingerprint", None)


def _exception_class(info: Mapping[str, Any]) -> str | None:
    """The class of the exception an expectation raised, or None; never the message.

    GX 1.x keeps either one record or one per failed metric, with the message and the formatted
    traceback; the class is read from the traceback and only its identifier is kept.
    """
    records = [info] if "raised_exception" in info else list(info.values())
    for record in records:
        if isinstance(record, Mapping) and record.get("raised_exception"):
            if record.get("exception_traceback") == _WITHHELD_TRACEBACK:  # scrubbed already
                return record.get("exception_message") or "GXException"
            return _class_in_traceback(record.get("exception_traceback") or "")
    return None


def _class_in_traceback(traceback_text: str) -> str:
    """The class of the last exception of a formatted traceback, or GXException.

    The class is on the first unindented line after the last frame (``  File ...``, then its
    indented source lines), before the colon; the message may continue on further lines, so the
    traceback's last line is no safe place to look.
    """
    lines = traceback_text.splitlines()
    frames = [number for number, line in enumerate(lines) if line.startswith('  File "')]
    if not frames:
        return "GXException"
    for line in lines[frames[-1] + 1 :]:
        if not line.startswith(" "):
            match = _EXCEPTION_CLASS.fullmatch(line.split(": ", 1)[0].rstrip(":"))
            return match.group(1).rsplit(".", 1)[-1] if match else "GXException"
    return "GXException"


def _outcome(check: Check, result: Any) -> CheckResult:
    if result.exception_info.get("raised_exception"):  # scrubbed: the message is the class
        return _error(check, result.exception_info.get("exception_message") or "GXException")
    counts = result.result or {}
    element_count, unexpected = counts.get("element_count"), counts.get("unexpected_count")
    if element_count is None or unexpected is None:
        return _error(check, "MissingCount")
    rows_checked = int(element_count) - int(counts.get("missing_count") or 0)
    rows_violating = int(unexpected)
    if rows_checked == 0 and rows_violating == 0:
        return _not_applicable(check, 0)
    pct = 100.0 * rows_violating / rows_checked if rows_checked else 100.0
    return CheckResult(
        check.id,
        "passed" if pct <= check.threshold_pct else "failed",
        check.severity,
        rows_checked,
        rows_violating,
        pct,
        check.threshold_pct,
    )


def _not_applicable(check: Check, rows_checked: int) -> CheckResult:
    return CheckResult(
        check.id, "not_applicable", check.severity, rows_checked, 0, None, check.threshold_pct
    )


def _error(check: Check, error_class: str) -> CheckResult:
    return CheckResult(
        check.id,
        "error",
        check.severity,
        None,
        None,
        None,
        check.threshold_pct,
        error_class=error_class,
    )


def _build_data_docs(context: Any, folder: Path) -> None:
    # Results are scrubbed as they are produced; the store is scrubbed again in case GX kept
    # its own copy before that.
    store = context.validation_results_store
    try:
        for key in store.list_keys():
            validation = store.get(key)
            scrub_validation(validation)
            store.set(key, validation)
        context.build_data_docs(site_names=[DATA_DOCS_SITE])
    except Exception as exc:  # secondary output: the checks' verdict stands without it
        logger.warning("GX Data Docs were not built in %s (%s)", folder, type(exc).__name__)
