"""Value-free evidence of what de-identification did, by HIPAA Safe Harbor category (A-R).

Counted in the staging database (PHI zone) from the staged resources: how many elements of
each identifier category the input held, and what happened to them (dropped: no view selects
them; pseudonymized; shifted or reduced to a year; generalized). Only counts leave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from .apply import TableDeidCounts

# (category letter, category, FHIR element, SQL counting the element's occurrences per
# resource (``r`` is the resource JSON), method applied in the warehouse)
_PATIENT_ELEMENTS = [
    ("A", "names", "Patient.name", "json_array_length(r -> '$.name')", "dropped"),
    ("B", "geographic subdivisions", "Patient.address.line|city|district", "json_array_length(r -> '$.address')", "dropped (state kept)"),
    ("B", "geographic subdivisions", "Patient.address.postalCode", "len(json_extract(r, '$.address[*].postalCode'))", "generalized to ZIP3"),
    ("C", "dates", "Patient.birthDate", "CASE WHEN r ->> '$.birthDate' IS NOT NULL THEN 1 ELSE 0 END", "generalized to year (90+ grouped)"),
    ("D", "telephone numbers", "Patient.telecom[system=phone]", "len(list_filter(json_extract_string(r, '$.telecom[*].system'), lambda s: s = 'phone'))", "dropped"),
    ("E", "fax numbers", "Patient.telecom[system=fax]", "len(list_filter(json_extract_string(r, '$.telecom[*].system'), lambda s: s = 'fax'))", "dropped"),
    ("F", "email addresses", "Patient.telecom[system=email]", "len(list_filter(json_extract_string(r, '$.telecom[*].system'), lambda s: s = 'email'))", "dropped"),
    ("G", "social security numbers", "Patient.identifier[type=SS]", "len(list_filter(json_extract_string(r, '$.identifier[*].type.coding[0].code'), lambda c: c = 'SS'))", "dropped"),
    ("H", "medical record numbers", "Patient.identifier[type=MR]", "len(list_filter(json_extract_string(r, '$.identifier[*].type.coding[0].code'), lambda c: c = 'MR'))", "pseudonymized (keyed HMAC)"),
    ("K", "certificate/license numbers", "Patient.identifier[type=DL|PPN]", "len(list_filter(json_extract_string(r, '$.identifier[*].type.coding[0].code'), lambda c: c IN ('DL', 'PPN')))", "dropped"),
    ("N", "web URLs", "Patient.telecom[system=url]", "len(list_filter(json_extract_string(r, '$.telecom[*].system'), lambda s: s = 'url'))", "dropped"),
    ("Q", "full-face photographs", "Patient.photo", "json_array_length(r -> '$.photo')", "dropped"),
    ("R", "other unique identifiers", "Patient.identifier[other types]", "len(list_filter(json_extract_string(r, '$.identifier[*].type.coding[0].code'), lambda c: c IS NULL OR c NOT IN ('SS', 'MR', 'DL', 'PPN')))", "dropped"),
]  # fmt: skip

# The methods of a term-class column's two evidence rows (element '<table>.<column>')
TERM_DROPPED_METHOD = "not on the term list (transforms/deid/terms.yaml): dropped"
TERM_KEPT_METHOD = "on the term list: kept as the listed term"


@dataclass(frozen=True)
class EvidenceRow:
    category: str  # Safe Harbor letter
    name: str
    element: str
    method: str
    count: int


def safe_harbor_evidence(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    table_counts: dict[str, TableDeidCounts],
    profile: str,
) -> list[EvidenceRow]:
    """Counts per Safe Harbor category and method for one run.

    Args:
        con: the staging connection.
        staged: the staged resources table (``resource`` JSON, ``resource_type``).
        table_counts: per core table, what de-identification did (``flatten_and_deidentify``).
        profile: ED, SH or LDS (decides what "dates" means).
    """
    rows: list[EvidenceRow] = []
    sums = ", ".join(f"coalesce(sum({sql}), 0)" for _c, _n, _e, sql, _m in _PATIENT_ELEMENTS)
    counted = con.sql(
        f"SELECT {sums} FROM (SELECT resource AS r FROM {staged} WHERE resource_type = 'Patient')"
    ).fetchall()[0]
    for (category, name, element, _sql, method), count in zip(
        _PATIENT_ELEMENTS, counted, strict=True
    ):
        rows.append(EvidenceRow(category, name, element, method, int(count)))
    date_method = {
        "ED": "shifted per patient",
        "SH": "reduced to the year",
        "LDS": "kept (limited data set)",
    }[profile]
    rows.append(EvidenceRow("C", "dates", "dates of service, onset, authoring, death", date_method,
                            sum(c.dates_shifted for c in table_counts.values())))  # fmt: skip
    rows.append(EvidenceRow("C", "dates", "partial or unparseable dates", "set to NULL",
                            sum(c.dates_nulled for c in table_counts.values())))  # fmt: skip
    rows.append(EvidenceRow("C", "ages over 89", "Patient.birthDate", "birth year NULL, age_group 90+",
                            sum(c.birth_years_grouped_90_plus for c in table_counts.values())))  # fmt: skip
    rows.append(EvidenceRow("C", "ages over 89", "age quantities (Observation values in years)", "emptied",
                            sum(c.ages_over_89_emptied for c in table_counts.values())))  # fmt: skip
    rows.append(EvidenceRow("R", "other unique identifiers", "resource ids and references", "pseudonymized (keyed HMAC)",
                            sum(c.pseudonymized for c in table_counts.values())))  # fmt: skip
    rows.append(EvidenceRow("R", "other unique identifiers", "codes of local code systems", "dropped",
                            sum(c.codes_dropped for c in table_counts.values())))  # fmt: skip
    # term-class columns (free text in principle): per column, values on and off the term list
    for table, counts in sorted(table_counts.items()):
        for column, kept_dropped in sorted(counts.term_columns.items()):
            element = f"{table}.{column}"
            rows.append(EvidenceRow("R", "free text", element, TERM_DROPPED_METHOD,
                                    kept_dropped["dropped"]))  # fmt: skip
            rows.append(EvidenceRow("R", "free text", element, TERM_KEPT_METHOD,
                                    kept_dropped["kept"]))  # fmt: skip
    (notes,) = con.sql(
        f"SELECT count(*) FROM {staged} WHERE resource_type = 'DocumentReference'"
    ).fetchall()[0]
    rows.append(
        EvidenceRow(
            "R", "free text", "DocumentReference content (clinical notes)", "dropped", int(notes)
        )
    )
    return rows


def date_shift_sanity(index_table, max_days: int) -> dict:
    """Patients shifted, smallest and largest offset, zero offsets (must be 0), out of range."""
    offsets = [o for o in index_table.column("offset_days").to_pylist() if o is not None]
    return {
        "patients_shifted": len(offsets),
        "min_offset_days": min(offsets) if offsets else None,
        "max_offset_days": max(offsets) if offsets else None,
        "zero_offsets": sum(1 for o in offsets if o == 0),
        "out_of_range": sum(1 for o in offsets if abs(o) > max_days),
    }


@dataclass(frozen=True)
class ExtensionCount:
    url: str
    count: int
    kept: bool  # a view reads it (e.g. US Core race); every other extension is dropped


_EXTENSION_URL = re.compile(r"extension\('([^']+)'\)")


def known_extension_urls(views) -> set[str]:
    """Extension URLs the views read (``extension('<url>')`` in any column path)."""
    return {
        url
        for view in views
        for column in view.columns
        for url in _EXTENSION_URL.findall(column.column.path)
    }


def extension_counts(
    con: duckdb.DuckDBPyConnection, staged: str, known: set[str]
) -> list[ExtensionCount]:
    """How many extensions of each definition URL the input held, and whether any view keeps them.

    Only absolute URLs (definitions) are counted; the relative names of sub-extensions (e.g.
    ``ombCategory``) belong to their parent's definition.
    """
    rows = con.sql(
        f"""
        SELECT url, count(*) AS n
        FROM (
            SELECT unnest(flatten(list_transform(json_extract(resource, '$..extension'),
                                                 lambda e: json_extract_string(e, '$[*].url')))) AS url
            FROM {staged}
        )
        WHERE url LIKE '%://%' OR url LIKE 'urn:%'
        GROUP BY url ORDER BY url
        """
    ).fetchall()
    return [ExtensionCount(url, int(n), url in known) for url, n in rows]
