"""The de-identification classes of view columns and the warehouse columns each one produces."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.sql_on_fhir import CompiledView
from transforms.sql_on_fhir.fhirpath import Expression, FunctionCall, Member
from transforms.validation import is_resource_type

DEID_TAG = "deid"
DEID_CLASSES = ("pseudonym", "shift", "birth_year", "zip3", "code", "value", "term", "text")
# pseudonym   resource ids and references -> keyed HMAC pseudonym, separated by resource type
# shift       dates -> shifted per patient (ED), the year (SH), unchanged (LDS)
# birth_year  birthDate -> year; NULL and age_group '90+' for anyone 90 or older
# zip3        postal code -> 3 digits, restricted prefixes '000'
# code        codes, systems, displays of allow-listed terminologies (allowlist.yaml)
# value       clinical numbers and booleans (never a string)
# term        a short string a person chose (the clinician's wording of a diagnosis): kept only
#             when, normalised (lower case, whitespace collapsed, stripped), it is on the reviewed
#             term list terms.yaml, and then as that list's canonical spelling; else NULL and
#             counted (terms.py). The same under notes mode.
# text        free text: dropped; scrubbed only in the opt-in notes mode
# ED: dates shifted per patient; SH: year only (Safe Harbor); LDS: real dates (Limited Data Set)
PROFILES = ("ED", "SH", "LDS")
PSEUDONYM_MODES = ("hmac", "random_crosswalk")
DATES_NULLED_COLUMN = "dates_nulled"


class DeidConfigurationError(ValueError):
    """A view column without a valid de-identification class: the run refuses to start."""


@dataclass(frozen=True)
class OutputColumn:
    """A warehouse column produced from a view column."""

    name: str
    sql_type: str
    source: str  # the view column it comes from
    deid_class: str
    description: str | None = None


def column_class(view_name: str, column) -> str:
    """The one ``deid`` class of a compiled column; raises DeidConfigurationError otherwise."""
    classes = [t.value for t in column.tags if t.name == DEID_TAG]
    if len(classes) != 1 or classes[0] not in DEID_CLASSES:
        raise DeidConfigurationError(
            f"view {view_name!r} column {column.name!r} ({column.column.element}) needs exactly one "
            f"'{DEID_TAG}' tag with a value in {', '.join(DEID_CLASSES)}"
        )
    return classes[0]


def pseudonym_resource_type(view_name: str, compiled: CompiledView, column) -> str:
    """The resource type a pseudonym column identifies (domain separation of its HMAC).

    ``getResourceKey()`` identifies the view's own resource; ``x.getReferenceKey(Type)`` the type
    named. Anything else cannot be pseudonymised safely and is a configuration error.
    """

    def find(expression: Expression | None) -> str | None:
        while isinstance(expression, (FunctionCall, Member)):
            if isinstance(expression, FunctionCall) and expression.name == "getResourceKey":
                return compiled.view.resource
            if isinstance(expression, FunctionCall) and expression.name == "getReferenceKey":
                if len(expression.args) == 1 and isinstance(expression.args[0], Member):
                    return expression.args[0].name
                return None
            expression = expression.target
        return None

    resource_type = find(column.column.expression)
    if resource_type is not None and not is_resource_type(resource_type):
        raise DeidConfigurationError(
            f"view {view_name!r} column {column.name!r}: getReferenceKey() must name an R4 "
            "resource type"
        )
    if resource_type is None:
        raise DeidConfigurationError(
            f"view {view_name!r} column {column.name!r}: a pseudonym column must be getResourceKey() "
            "or getReferenceKey(Type)[.first()]"
        )
    return resource_type


def output_columns(
    view_name: str, compiled: CompiledView, profile: str = "ED", notes_mode: bool = False
) -> list[OutputColumn]:
    """The de-identified columns a view yields in the warehouse under ``profile``.

    pseudonym -> VARCHAR (32 hex); shift -> DATE (ED shifted, LDS real), INTEGER year (SH);
    birth_year -> INTEGER ``birth_year`` plus VARCHAR ``age_group``; zip3 -> VARCHAR;
    code/value -> the view's type; term -> VARCHAR (a listed term or NULL); text -> dropped, or
    in notes mode the scrubbed text plus ``scrubber_version``.
    """
    if profile not in PROFILES:
        raise DeidConfigurationError(f"profile must be one of {', '.join(PROFILES)}")
    out: list[OutputColumn] = []
    has_dates = False
    for column in compiled.columns:
        deid_class = column_class(view_name, column)
        description = column.description
        if deid_class == "text":
            if notes_mode:
                out.append(
                    OutputColumn(column.name, "VARCHAR", column.name, deid_class, description)
                )
                out.append(
                    OutputColumn(
                        "scrubber_version",
                        "VARCHAR",
                        column.name,
                        deid_class,
                        "Version of the notes scrubber.",
                    )
                )
            continue
        if deid_class == "pseudonym":
            pseudonym_resource_type(view_name, compiled, column)
            out.append(OutputColumn(column.name, "VARCHAR", column.name, deid_class, description))
        elif deid_class == "shift" and profile == "SH":
            has_dates = True
            year_only = f"{description or ''} Profile SH: the year only.".strip()
            out.append(OutputColumn(column.name, "INTEGER", column.name, deid_class, year_only))
        elif deid_class == "shift":
            has_dates = True
            out.append(OutputColumn(column.name, "DATE", column.name, deid_class, description))
        elif deid_class == "birth_year":
            out.append(OutputColumn(column.name, "INTEGER", column.name, deid_class, description))
            out.append(
                OutputColumn(
                    "age_group",
                    "VARCHAR",
                    column.name,
                    deid_class,
                    "'90+' for anyone 90 or older, else NULL.",
                )
            )
        elif deid_class == "zip3":
            out.append(OutputColumn(column.name, "VARCHAR", column.name, deid_class, description))
        elif deid_class == "term":
            if column.sql_type != "VARCHAR":
                raise DeidConfigurationError(
                    f"view {view_name!r} column {column.name!r}: class 'term' is for single "
                    "strings (one value per row)"
                )
            out.append(OutputColumn(column.name, "VARCHAR", column.name, deid_class, description))
        else:
            if deid_class == "value" and column.sql_type.startswith("VARCHAR"):
                # 'value' passes numbers and booleans through unchanged; a string tagged
                # 'value' could carry free text or an identifier out
                raise DeidConfigurationError(
                    f"view {view_name!r} column {column.name!r}: class 'value' is for numbers and "
                    "booleans; strings are 'code' (coded values) or 'text' (dropped)"
                )
            out.append(
                OutputColumn(column.name, column.sql_type, column.name, deid_class, description)
            )
    if has_dates:
        # the flag deid.md section 4 asks for: a partial date (YYYY, YYYY-MM) or an unparseable
        # one is NULL in its column, and this says how many of the row's dates were nulled
        out.append(
            OutputColumn(
                DATES_NULLED_COLUMN,
                "INTEGER",
                DATES_NULLED_COLUMN,
                "shift",
                "How many of this row's dates were partial (year or year-month) or unparseable, "
                "and so left empty.",
            )
        )
    return out
