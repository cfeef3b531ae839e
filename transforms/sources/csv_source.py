"""CSV chart exports to FHIR R4 resources through a declarative, versioned YAML column map.

CSV is not a second pipeline (architecture.md section 1): each data row becomes one FHIR R4
resource, and from there the CSV rows take the same path as NDJSON and Bundle input. The map says,
for every normalised header, its de-identification class (deid.md section 7) and the FHIR element
its value becomes. Direct identifiers are mapped into the Patient resource (they stay in the PHI
zone, where the views drop them and de-identification builds its per-patient identifier
dictionary from them); free text is never mapped, only counted.

Column map grammar (``grammar: 1``)::

    grammar: 1                  # the grammar version this loader understands
    name: synthea               # the map's name (errors, run report)
    version: 1                  # the map's own version (reported with its SHA-256)
    lookups:                    # named value tables, shared by every file of the map
      gender: {M: male, F: female}                      # exact, case-insensitive keys
      race: {white: {code: 2106-3, display: White}}     # an entry may be a record
      reason_system:                                    # ordered regexes, first full match wins
        - {match: '[0-9]{6,18}', value: http://snomed.info/sct}
    files:
      patients:                 # normalised CSV file stem
        resource: Patient       # the R4 resource type built from each row
        keys: [id]              # a row lacking one of these yields a MissingKey error record
        fixed: {active: true}   # elements every resource of the file gets (no placeholders)
        columns:
          birthdate:            # normalised header
            class: dob          # exactly one class of deid.md section 7
            parse: date         # string (default) | date | datetime | number | integer
            format: '%Y-%m-%d'  # strptime format: required for date and datetime (needs %z)
            pattern: '[0-9]+'   # values must match in full, else they count as unparseable
            lookup: gender      # values must be keys of this table, else unparseable
            split: ';'          # one cell holds several values (list elements only)
            when: {type: numeric}   # mapped only on rows whose TYPE cell is 'numeric' ...
            otherwise: free_text    # ... on other rows dropped and counted under this class
            element: birthDate  # where the value goes; without one the column is dropped
            value: '{value}'    # template placed at the element
            reference: Patient  # shorthand for value {reference: 'Patient/{value}'}
            also:               # further targets of the same value
              - {element: recordedDate}
        column_patterns:        # for headers without a literal entry, first full match wins
          - {match: 'q[0-9]+', class: clinical_code, element: 'item[linkId={header}].answer[]'}

Element paths are dot-separated FHIR element names, checked against the R4B models when the map
loads. A repeating element needs a selector: ``name[]`` appends a new item, ``name[0]`` is the
item at that index, ``name[use=home]`` the item whose fields have those values (created with
them). Values merge with what other columns placed at the same spot, so ``type[0].coding[0]``
from CODE and ``type[0].coding[0].display`` from DESCRIPTION make one Coding.

Templates are YAML values with placeholders: ``{value}`` (the parsed cell), ``{lookup}`` and
``{lookup.<field>}`` (the lookup entry), ``{row.<header>}`` (the parsed value of another mapped
clinical_code or clinical_value column of the same row) and ``{header}`` (the normalised header,
for column patterns; also allowed in element paths). A string that is exactly one placeholder
keeps the value's type (numbers stay numbers); a placeholder without a value removes the string,
and empty lists and objects are removed. The default template is ``{lookup}`` when the column has
a lookup, else ``{value}``.

Cell values are stripped; empty cells are absent. A value that fails to parse (date, number,
pattern, lookup) is left out of the resource and counted per header in ``CsvReadStats``; no value
ever appears in an exception, a record or the statistics.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml

from transforms.sql_on_fhir.schema import R4B

from .records import SourceError, SourceRecord, UnknownColumnError

__all__ = [
    "CSV_COLUMN_CLASSES",
    "GRAMMAR_VERSION",
    "MAPS_DIR",
    "ColumnMap",
    "ColumnMapError",
    "ColumnSpec",
    "CsvReadStats",
    "FileMap",
    "find_map_for",
    "load_column_map",
    "normalize_header",
    "read_csv",
    "shipped_map_names",
]

GRAMMAR_VERSION = 1
MAPS_DIR = Path(__file__).resolve().parent / "maps"

# deid.md section 7: every CSV header has exactly one of these.
CSV_COLUMN_CLASSES = (
    "patient_key",
    "encounter_key",
    "direct_identifier",
    "dob",
    "age",
    "zip",
    "state",
    "quasi_identifier",
    "patient_date",
    "clinical_code",
    "clinical_value",
    "provider",
    "facility",
    "free_text",
    # a clinician's chosen term (the wording of a diagnosis), for an element a view reads as
    # de-identification class `term` (e.g. Condition code.text): what leaves is decided there,
    # only terms of transforms/deid/terms.yaml. Never readable by another column.
    "term",
)
PARSE_KINDS = ("string", "date", "datetime", "number", "integer")
# Only these classes may be read by another column ({row.x}, when): copying an identifying value
# into a second element would hide it from the de-identification of the first.
_ROW_READABLE_CLASSES = frozenset({"clinical_code", "clinical_value"})

_TOP_KEYS = frozenset({"grammar", "name", "version", "description", "lookups", "files"})
_FILE_KEYS = frozenset({"resource", "keys", "fixed", "columns", "column_patterns"})
_TARGET_KEYS = frozenset({"element", "value", "reference"})
_COLUMN_KEYS = frozenset(
    {"class", "parse", "format", "pattern", "lookup", "split", "when", "otherwise", "also"}
    | _TARGET_KEYS
)

_PLACEHOLDER = re.compile(r"\{(value|lookup(?:\.[A-Za-z_][A-Za-z0-9_]*)?|row\.[a-z0-9_]+)\}")
_PATH_SPLIT = re.compile(r"\.(?![^\[]*\])")  # dots outside selectors
_SEGMENT = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*)(?:\[(?P<selector>[^\]]*)\])?")
_MATCH_PAIR = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9]*)=(?P<value>[^,=]+)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHITESPACE = re.compile(r"\s+")
# strptime costs about 14 us a value. These regexes admit only strings that fromisoformat reads
# exactly as strptime does with the format, at a tenth of the cost; anything else goes to strptime.
_ISO_FAST_PATHS = {
    "%Y-%m-%d": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "%Y-%m-%dT%H:%M:%S%z": re.compile(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:?[0-9]{2})"
    ),
}


class ColumnMapError(SourceError):
    """A column map that cannot be used: the message names the map, the file and the key."""


def normalize_header(text: str) -> str:
    """A header or file stem as maps name it: no BOM, trimmed, lower case, spaces to ``_``."""
    return _WHITESPACE.sub("_", text.replace("\ufeff", "").strip().lower())


def shipped_map_names() -> list[str]:
    """Names of the column maps shipped in ``transforms/sources/maps``."""
    return sorted(path.stem for path in MAPS_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class _Segment:
    """One step of an element path: a field, or an item of a repeating element."""

    name: str
    kind: str  # field | append | index | match
    index: int = 0
    match: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Target:
    """Where a column's value goes and in what shape."""

    element: str
    segments: tuple[_Segment, ...]
    template: Any
    render: _Renderer = field(compare=False, repr=False)


@dataclass(frozen=True)
class _Lookup:
    """A named value table: exact keys (case-insensitive) or ordered regular expressions."""

    name: str
    exact: Mapping[str, Any]
    patterns: tuple[tuple[re.Pattern[str], Any], ...]

    def find(self, value: str) -> Any | None:
        if self.patterns:
            return next((entry for regex, entry in self.patterns if regex.fullmatch(value)), None)
        return self.exact.get(value.lower())


@dataclass(frozen=True)
class ColumnSpec:
    """How one CSV column is classified, parsed and placed into the resource."""

    header: str
    column_class: str
    parse: str = "string"
    date_format: str | None = None
    pattern: re.Pattern[str] | None = None
    lookup: _Lookup | None = None
    split: str | None = None
    when: tuple[tuple[str, frozenset[str]], ...] = ()
    otherwise: str | None = None
    targets: tuple[_Target, ...] = ()

    def for_header(self, header: str) -> ColumnSpec:
        """This spec (from a column pattern) made concrete for one header."""

        def fill(template: Any) -> Any:
            if isinstance(template, dict):
                return {key: fill(value) for key, value in template.items()}
            if isinstance(template, list):
                return [fill(value) for value in template]
            return template.replace("{header}", header) if isinstance(template, str) else template

        targets = tuple(
            _Target(
                target.element.replace("{header}", header),
                _parse_path(target.element.replace("{header}", header)),
                fill(target.template),
                _compile_template(fill(target.template)),
            )
            for target in self.targets
        )
        return ColumnSpec(
            header,
            self.column_class,
            self.parse,
            self.date_format,
            self.pattern,
            self.lookup,
            self.split,
            self.when,
            self.otherwise,
            targets,
        )


@dataclass(frozen=True)
class FileMap:
    """The map of one CSV file: its resource type, key columns and columns."""

    stem: str
    resource_type: str
    keys: tuple[str, ...]
    fixed: Mapping[str, Any]
    columns: Mapping[str, ColumnSpec]
    column_patterns: tuple[tuple[re.Pattern[str], ColumnSpec], ...] = ()

    def spec_for(self, header: str) -> ColumnSpec | None:
        """The spec of a normalised header: its literal entry, else the first matching pattern."""
        if header in self.columns:
            return self.columns[header]
        for regex, spec in self.column_patterns:
            if regex.fullmatch(header):
                return spec.for_header(header)
        return None


@dataclass(frozen=True)
class ColumnMap:
    """A loaded, validated column map."""

    name: str
    version: str
    source: Path
    sha256: str  # of the map file's bytes: part of the run's configuration hash
    files: Mapping[str, FileMap]

    def file_for(self, csv_path: str | Path) -> FileMap | None:
        """The file map whose stem equals the CSV file's normalised stem."""
        return self.files.get(normalize_header(Path(csv_path).stem))


@dataclass
class CsvReadStats:
    """What ``read_csv`` read and left out, for the run report: header names and counts only.

    Attributes:
        rows_read: data rows read, error rows included.
        dropped_headers: headers the map does not know, dropped with ``drop_unknown=True``.
        unparseable: per header, values that failed to parse (date, number, pattern, lookup).
        free_text_dropped: per header, non-empty free-text values left out of the resources.
        unmapped_dropped: per header, non-empty values of classified columns the map does not
            place into any element (for example costs, or units of a text observation).
    """

    rows_read: int = 0
    dropped_headers: list[str] = field(default_factory=list)
    unparseable: Counter[str] = field(default_factory=Counter)
    free_text_dropped: Counter[str] = field(default_factory=Counter)
    unmapped_dropped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Cell:
    """One parsed value of a cell and its lookup entry."""

    value: Any
    lookup: Any = None


def _resolve(name: str, cell: _Cell, row: Mapping[str, Any]) -> Any:
    if name == "value":
        return cell.value
    if name == "lookup":
        return cell.lookup
    if name.startswith("lookup."):
        return cell.lookup.get(name[7:]) if isinstance(cell.lookup, dict) else None
    return row.get(name[4:])  # row.<header>


_Renderer = Callable[[_Cell, Mapping[str, Any]], Any]


def _compile_template(template: Any) -> _Renderer:
    """A function that fills the template in for one cell; None when nothing of it has a value.

    Templates are compiled once per map so that a row costs function calls, not template walks.
    """
    if isinstance(template, dict):
        fields = [(key, _compile_template(value)) for key, value in template.items()]

        def render_mapping(cell: _Cell, row: Mapping[str, Any]) -> Any:
            rendered = {}
            for key, render in fields:
                value = render(cell, row)
                if value is not None:
                    rendered[key] = value
            return rendered or None

        return render_mapping
    if isinstance(template, list):
        items = [_compile_template(item) for item in template]

        def render_list(cell: _Cell, row: Mapping[str, Any]) -> Any:
            rendered = [value for render in items if (value := render(cell, row)) is not None]
            return rendered or None

        return render_list
    if not isinstance(template, str) or not _PLACEHOLDER.search(template):
        return lambda cell, row: template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        name = whole[1]

        def render_value(cell: _Cell, row: Mapping[str, Any]) -> Any:
            value = _resolve(name, cell, row)
            return None if value == "" else value

        return render_value

    def render_text(cell: _Cell, row: Mapping[str, Any]) -> Any:
        missing = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal missing
            value = _resolve(match[1], cell, row)
            missing = missing or value is None or value == ""
            return "" if value is None else str(value)

        text = _PLACEHOLDER.sub(substitute, template)
        return None if missing or text == "" else text

    return render_text


# --- loading and validation ---------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged from an anchor may be overridden
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue  # unhashable keys are reported by the base constructor
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


class _Checker:
    """Raises ColumnMapError messages that name the map and where in it the problem is."""

    def __init__(self, label: str):
        self.label = label

    def fail(self, where: str, message: str) -> NoReturn:
        raise ColumnMapError(f"column map {self.label!r}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: frozenset[str] | None = None) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping")
        for key in value:
            if not isinstance(key, str):
                self.fail(where, f"key {key!r} must be a string (quote it in the YAML)")
            if allowed is not None and key not in allowed:
                self.fail(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def regex(self, value: Any, where: str) -> re.Pattern[str]:
        if not isinstance(value, str):
            self.fail(where, "must be a regular expression string")
        try:
            return re.compile(value)
        except re.error as exc:
            self.fail(where, f"invalid regular expression ({exc.msg})")


def _parse_path(element: str) -> tuple[_Segment, ...]:
    """Segments of an element path; raises ValueError with the offending segment."""
    segments = []
    for text in _PATH_SPLIT.split(element):
        match = _SEGMENT.fullmatch(text)
        if not match:
            raise ValueError(f"segment {text!r} is not name, name[], name[<n>] or name[k=v,...]")
        name, selector = match["name"], match["selector"]
        if selector is None:
            segments.append(_Segment(name, "field"))
        elif selector == "":
            segments.append(_Segment(name, "append"))
        elif selector.isdigit():
            segments.append(_Segment(name, "index", index=int(selector)))
        else:
            pairs = selector.split(",")
            matched = [_MATCH_PAIR.fullmatch(pair.strip()) for pair in pairs]
            if not all(matched):
                raise ValueError(f"selector [{selector}] must be [], [<n>] or [key=value,...]")
            pair_values = tuple((m["key"], m["value"].strip()) for m in matched if m)
            segments.append(_Segment(name, "match", match=pair_values))
    return tuple(segments)


def _check_template(
    checker: _Checker, type_name: str | None, template: Any, where: str, lookup: _Lookup | None
) -> None:
    """Check a template's shape against the R4B element type it is placed at."""
    if type_name is None:  # a primitive
        if isinstance(template, dict | list):
            checker.fail(where, "a primitive element takes a scalar value")
        if isinstance(template, str):
            _check_placeholders(checker, template, where, lookup)
        return
    if isinstance(template, str) and _PLACEHOLDER.fullmatch(template):
        checker.fail(where, f"{type_name} is a complex type: give its fields as a mapping")
    template = checker.mapping(template, where)
    for key, value in template.items():
        element = R4B.element(type_name, key)
        if element is None:
            checker.fail(f"{where}.{key}", f"{type_name} has no element {key!r}")
        if element.multiple:
            if not isinstance(value, list):
                checker.fail(f"{where}.{key}", "a repeating element takes a list")
            for position, item in enumerate(value):
                _check_template(
                    checker, element.type_name, item, f"{where}.{key}[{position}]", lookup
                )
        else:
            _check_template(checker, element.type_name, value, f"{where}.{key}", lookup)


def _check_placeholders(checker: _Checker, text: str, where: str, lookup: _Lookup | None) -> None:
    for placeholder in _PLACEHOLDER.findall(text):
        if placeholder.startswith("lookup"):
            if lookup is None:
                checker.fail(where, f"{{{placeholder}}} needs a 'lookup' on the column")
            entries = list(lookup.exact.values()) + [entry for _, entry in lookup.patterns]
            field_name = placeholder.partition(".")[2]
            if field_name and not all(
                isinstance(entry, dict) and field_name in entry for entry in entries
            ):
                checker.fail(where, f"not every entry of lookup {lookup.name!r} has {field_name!r}")
            if not field_name and any(isinstance(entry, dict) for entry in entries):
                checker.fail(where, f"lookup {lookup.name!r} holds records: use {{lookup.<field>}}")


def _check_target(
    checker: _Checker, resource_type: str, target: _Target, where: str, lookup: _Lookup | None
) -> None:
    """Check an element path and its template against the resource's R4B model."""
    type_name: str | None = resource_type
    for position, segment in enumerate(target.segments):
        if type_name is None:
            checker.fail(where, f"{segment.name!r} follows a primitive element")
        element = R4B.element(type_name, segment.name)
        if element is None:
            checker.fail(where, f"{type_name} has no element {segment.name!r}")
        if element.multiple != (segment.kind != "field"):
            need = "needs a selector ([], [0], [k=v])" if element.multiple else "does not repeat"
            checker.fail(where, f"{type_name}.{segment.name} {need}")
        for key, _ in segment.match:
            sub = R4B.element(element.type_name or "", key)
            if sub is None or sub.type_name is not None or sub.multiple:
                checker.fail(
                    where, f"selector key {key!r} is not a primitive of {element.type_name}"
                )
        last = position == len(target.segments) - 1
        if last and segment.kind == "match" and not isinstance(target.template, dict):
            checker.fail(where, "a [key=value] item takes a mapping value")
        type_name = element.type_name
    _check_template(checker, type_name, target.template, f"{where}.value", lookup)


def _targets(
    checker: _Checker, spec: dict, where: str, resource_type: str, lookup: _Lookup | None
) -> list[_Target]:
    """The column's element targets: its own ``element`` and each of ``also``."""
    entries = [(spec, where)] if "element" in spec else []
    also = spec.get("also", [])
    if not isinstance(also, list):
        checker.fail(f"{where}.also", "must be a list of {element, value | reference}")
    entries += [
        (checker.mapping(entry, f"{where}.also[{n}]", _TARGET_KEYS), f"{where}.also[{n}]")
        for n, entry in enumerate(also)
    ]
    targets = []
    for entry, entry_where in entries:
        element = entry.get("element")
        if not isinstance(element, str):
            checker.fail(entry_where, "'element' must be an element path string")
        if "value" in entry and "reference" in entry:
            checker.fail(entry_where, "give 'value' or 'reference', not both")
        if "reference" in entry:
            referenced = entry["reference"]
            if not isinstance(referenced, str) or not R4B.knows(referenced):
                checker.fail(f"{entry_where}.reference", "must be an R4 resource type")
            template: Any = {"reference": f"{referenced}/{{value}}"}
        else:
            template = entry.get("value", "{lookup}" if lookup else "{value}")
        try:
            segments = _parse_path(element.replace("{header}", "header"))
        except ValueError as exc:
            checker.fail(f"{entry_where}.element", str(exc))
        target = _Target(element, segments, template, _compile_template(template))
        _check_target(checker, resource_type, target, entry_where, lookup)
        targets.append(target)
    return targets


def _column(
    checker: _Checker,
    raw: Any,
    header: str,
    where: str,
    resource_type: str,
    lookups: Mapping[str, _Lookup],
) -> ColumnSpec:
    spec = checker.mapping(raw, where, _COLUMN_KEYS)
    column_class = spec.get("class")
    if not isinstance(column_class, str) or column_class not in CSV_COLUMN_CLASSES:
        checker.fail(f"{where}.class", f"needs exactly one of {', '.join(CSV_COLUMN_CLASSES)}")
    parse = spec.get("parse", "string")
    if parse not in PARSE_KINDS:
        checker.fail(f"{where}.parse", f"must be one of {', '.join(PARSE_KINDS)}")
    date_format = spec.get("format")
    if parse in ("date", "datetime") and not isinstance(date_format, str):
        checker.fail(f"{where}.format", f"parse {parse} needs an explicit strptime format")
    if parse == "datetime" and "%z" not in date_format:
        checker.fail(f"{where}.format", "a FHIR dateTime with a time needs a zone: include %z")
    if date_format is not None and parse not in ("date", "datetime"):
        checker.fail(f"{where}.format", "only date and datetime columns take a format")
    lookup = None
    if "lookup" in spec:
        lookup = lookups.get(spec["lookup"])
        if lookup is None:
            checker.fail(f"{where}.lookup", f"no lookup table {spec['lookup']!r} in 'lookups'")
    split = spec.get("split")
    if split is not None and (not isinstance(split, str) or not split):
        checker.fail(f"{where}.split", "must be a separator string")
    when = []
    for other, wanted in checker.mapping(spec.get("when", {}), f"{where}.when").items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if not all(isinstance(v, str) for v in values):
            checker.fail(f"{where}.when.{other}", "must be a string or a list of strings")
        when.append((normalize_header(other), frozenset(v.lower() for v in values)))
    otherwise = spec.get("otherwise")
    if otherwise is not None and (not when or otherwise not in CSV_COLUMN_CLASSES):
        checker.fail(f"{where}.otherwise", "needs 'when' and one of the column classes")
    targets = _targets(checker, spec, where, resource_type, lookup)
    if not targets and ({"value", "reference"} & spec.keys()):
        checker.fail(where, "'value' and 'reference' need an 'element'")
    if column_class == "free_text" and targets:
        checker.fail(where, "free_text columns are never mapped in grammar 1: remove 'element'")
    if split and any(t.segments[-1].kind != "append" for t in targets):
        checker.fail(f"{where}.split", "split values need list elements ending in []")
    return ColumnSpec(
        header=header,
        column_class=column_class,
        parse=parse,
        date_format=date_format,
        pattern=checker.regex(spec["pattern"], f"{where}.pattern") if "pattern" in spec else None,
        lookup=lookup,
        split=split,
        when=tuple(when),
        otherwise=otherwise,
        targets=tuple(targets),
    )


def _lookups(checker: _Checker, raw: Any) -> dict[str, _Lookup]:
    tables = {}
    for name, table in checker.mapping(raw, "lookups").items():
        where = f"lookups.{name}"
        if isinstance(table, list):
            patterns = []
            for n, entry in enumerate(table):
                entry = checker.mapping(entry, f"{where}[{n}]", frozenset({"match", "value"}))
                if "value" not in entry:
                    checker.fail(f"{where}[{n}]", "needs 'match' and 'value'")
                patterns.append(
                    (checker.regex(entry.get("match"), f"{where}[{n}].match"), entry["value"])
                )
            tables[name] = _Lookup(name, {}, tuple(patterns))
            continue
        exact = {}
        for key, entry in checker.mapping(table, where).items():
            if key.lower() in exact:
                checker.fail(f"{where}.{key}", "duplicate key (keys are compared without case)")
            if isinstance(entry, dict):
                checker.mapping(entry, f"{where}.{key}")
            exact[key.lower()] = entry
        tables[name] = _Lookup(name, exact, ())
    return tables


def _file(checker: _Checker, stem: str, raw: Any, lookups: Mapping[str, _Lookup]) -> FileMap:
    where = f"files.{stem}"
    spec = checker.mapping(raw, where, _FILE_KEYS)
    resource_type = spec.get("resource")
    if not isinstance(resource_type, str) or not R4B.knows(resource_type):
        checker.fail(f"{where}.resource", "must be an R4 resource type")
    fixed = checker.mapping(spec.get("fixed", {}), f"{where}.fixed")
    if {"resourceType", "id"} & fixed.keys() or _placeholders(fixed):
        checker.fail(f"{where}.fixed", "holds constants only (no id, resourceType or placeholder)")
    _check_template(checker, resource_type, fixed, f"{where}.fixed", None)
    columns: dict[str, ColumnSpec] = {}
    for header, column in checker.mapping(spec.get("columns"), f"{where}.columns").items():
        normalized = normalize_header(header)
        if normalized in columns:
            checker.fail(f"{where}.columns.{header}", "duplicate header after normalisation")
        columns[normalized] = _column(
            checker, column, normalized, f"{where}.columns.{header}", resource_type, lookups
        ).for_header(normalized)
    patterns = []
    raw_patterns = spec.get("column_patterns", [])
    if not isinstance(raw_patterns, list):
        checker.fail(f"{where}.column_patterns", "must be a list")
    for n, entry in enumerate(raw_patterns):
        entry_where = f"{where}.column_patterns[{n}]"
        entry = checker.mapping(entry, entry_where)
        regex = checker.regex(entry.get("match"), f"{entry_where}.match")
        body = {key: value for key, value in entry.items() if key != "match"}
        patterns.append((regex, _column(checker, body, "", entry_where, resource_type, lookups)))
    all_specs = [(f"{where}.columns.{h}", s) for h, s in columns.items()] + [
        (f"{where}.column_patterns[{n}]", s) for n, (_, s) in enumerate(patterns)
    ]
    for spec_where, column_spec in all_specs:
        _check_row_reads(checker, column_spec, columns, spec_where)
    keys = spec.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        checker.fail(f"{where}.keys", "must be a list of headers")
    for key in keys:
        if normalize_header(key) not in columns:
            checker.fail(f"{where}.keys", f"key {key!r} is not a column of the file")
    return FileMap(
        stem=stem,
        resource_type=resource_type,
        keys=tuple(normalize_header(k) for k in keys),
        fixed=fixed,
        columns=columns,
        column_patterns=tuple(patterns),
    )


def _placeholders(template: Any) -> list[str]:
    """Every placeholder name used anywhere in a template."""
    if isinstance(template, dict):
        return [p for value in template.values() for p in _placeholders(value)]
    if isinstance(template, list):
        return [p for value in template for p in _placeholders(value)]
    return _PLACEHOLDER.findall(template) if isinstance(template, str) else []


def _check_row_reads(
    checker: _Checker, spec: ColumnSpec, columns: Mapping[str, ColumnSpec], where: str
) -> None:
    """``{row.x}`` and ``when`` may read only non-identifying columns of the same file."""
    read = [(other, "when") for other, _ in spec.when]
    for target in spec.targets:
        read += [(p[4:], "{row.}") for p in _placeholders(target.template) if p.startswith("row.")]
    for other, how in read:
        column = columns.get(other)
        if column is None or column.column_class not in _ROW_READABLE_CLASSES:
            checker.fail(
                where, f"{how} reads {other!r}: must be a clinical_code or clinical_value column"
            )
        if how == "{row.}" and not column.targets:
            checker.fail(where, f"{{row.{other}}} reads a column that is not mapped")


def load_column_map(path_or_name: str | Path) -> ColumnMap:
    """Load and validate a column map.

    Args:
        path_or_name: a shipped map's name (``"synthea"``) or the path of a YAML map file.

    Returns:
        The validated map.

    Raises:
        ColumnMapError: the map is missing or invalid; the message names the map, file and key.
    """
    path = Path(path_or_name)
    if isinstance(path_or_name, str) and path.suffix == "" and len(path.parts) == 1:
        path = MAPS_DIR / f"{path_or_name}.yaml"
        if not path.is_file():
            shipped = ", ".join(shipped_map_names())
            raise ColumnMapError(f"no shipped column map {path_or_name!r} (shipped: {shipped})")
    checker = _Checker(path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ColumnMapError(
            f"column map {checker.label!r}: file: cannot be read ({type(exc).__name__})"
        ) from None
    yaml_problem = None
    try:
        raw = yaml.load(data, Loader=_UniqueKeyLoader)  # a SafeLoader: no object construction
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        yaml_problem = f"not valid YAML{line} ({getattr(exc, 'problem', None) or exc})"
    if yaml_problem is not None:
        checker.fail("file", yaml_problem)  # outside the handler: no chained YAML traceback
    top = checker.mapping(raw, "top level", _TOP_KEYS)
    if top.get("grammar") != GRAMMAR_VERSION:
        checker.fail("grammar", f"must be {GRAMMAR_VERSION} (the grammar this loader reads)")
    name = top.get("name")
    if not isinstance(name, str) or not name:
        checker.fail("name", "must be a non-empty string")
    checker.label = name
    if not isinstance(top.get("version"), str | int):
        checker.fail("version", "must be a string or an integer")
    lookups = _lookups(checker, top.get("lookups", {}))
    files = {}
    for stem, file_spec in checker.mapping(top.get("files"), "files").items():
        normalized = normalize_header(stem)
        if normalized in files:
            checker.fail(f"files.{stem}", "duplicate file stem after normalisation")
        files[normalized] = _file(checker, normalized, file_spec, lookups)
    if not files:
        checker.fail("files", "must map at least one CSV file")
    return ColumnMap(
        name=name,
        version=str(top["version"]),
        source=path,
        sha256=hashlib.sha256(data).hexdigest(),
        files=files,
    )


def find_map_for(csv_path: Path, maps: list[ColumnMap]) -> tuple[ColumnMap, FileMap] | None:
    """The first map (in list order) with an entry for the CSV file's normalised stem.

    Args:
        csv_path: the CSV file.
        maps: candidate maps, most specific first.

    Returns:
        The map and its file entry, or None when no map knows the file.
    """
    for column_map in maps:
        file_map = column_map.file_for(csv_path)
        if file_map is not None:
            return column_map, file_map
    return None


# --- reading ------------------------------------------------------------------------------------


class _Unparseable(ValueError):
    """A cell value that does not parse (carries no value on purpose)."""


def _strptime(text: str, date_format: str) -> datetime:
    """``datetime.strptime``, with a fast path for the ISO formats of the layout."""
    fast = _ISO_FAST_PATHS.get(date_format)
    if fast is not None and fast.fullmatch(text):
        return datetime.fromisoformat(text)
    return datetime.strptime(text, date_format)


def _parse_value(spec: ColumnSpec, text: str) -> _Cell:
    if spec.pattern is not None and not spec.pattern.fullmatch(text):
        raise _Unparseable
    try:
        if spec.parse == "date":
            value: Any = _strptime(text, spec.date_format).date().isoformat()
        elif spec.parse == "datetime":
            moment = _strptime(text, spec.date_format)
            value = moment.isoformat()
            if moment.utcoffset().total_seconds() == 0:
                value = value.removesuffix("+00:00") + "Z"  # as FHIR exports write UTC
        elif spec.parse == "integer":
            if not _INTEGER.fullmatch(text):
                raise _Unparseable
            value = int(text)
        elif spec.parse == "number":
            if not _DECIMAL.fullmatch(text):
                raise _Unparseable  # rejects nan, inf and 1_000, which float() accepts
            value = int(text) if _INTEGER.fullmatch(text) else float(text)
        else:
            value = text
    except ValueError:
        # strptime's message quotes the value: it must not travel
        raise _Unparseable from None
    if spec.lookup is None:
        return _Cell(value)
    entry = spec.lookup.find(str(value))
    if entry is None:
        raise _Unparseable
    return _Cell(value, entry)


def _merged(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merged(merged.get(key), value)
        return merged
    return new


def _place(resource: dict, segments: tuple[_Segment, ...], value: Any) -> None:
    """Put ``value`` at the element path, merging with what is already there."""
    node = resource
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment.kind == "field":
            if last:
                node[segment.name] = _merged(node.get(segment.name), value)
                return
            node = node.setdefault(segment.name, {})
            continue
        items = node.setdefault(segment.name, [])
        if segment.kind == "append":
            items.append(value if last else {})
            index = len(items) - 1
        elif segment.kind == "index":
            while len(items) <= segment.index:
                items.append({})
            index = segment.index
        else:
            wanted = dict(segment.match)
            index = next(
                (
                    n
                    for n, item in enumerate(items)
                    if all(item.get(k) == v for k, v in wanted.items())
                ),
                len(items),
            )
            if index == len(items):
                items.append(wanted)
        if last:
            if segment.kind != "append":
                items[index] = _merged(items[index], value)
            return
        node = items[index]


def _pruned(value: Any) -> Any:
    """Without empty objects and lists (padding of ``name[<n>]`` paths that got no value)."""
    if isinstance(value, dict):
        return {k: p for k, v in value.items() if (p := _pruned(v)) not in (None, {}, [])}
    if isinstance(value, list):
        return [p for v in value if (p := _pruned(v)) not in (None, {}, [])]
    return value


@dataclass(frozen=True)
class _Plan:
    """A file's columns matched to the CSV header."""

    width: int
    columns: tuple[tuple[int, ColumnSpec], ...]  # CSV position and concrete spec, CSV order
    positions: Mapping[str, int]  # normalised header -> CSV position
    keys: tuple[tuple[str, int], ...]
    pads: bool  # a name[<n>] path with n > 0 can leave empty padding items to remove


def _plan(
    header_row: list[str],
    column_map: ColumnMap,
    file_map: FileMap,
    drop_unknown: bool,
    stats: CsvReadStats,
) -> _Plan:
    headers = [normalize_header(h) for h in header_row]
    positions: dict[str, int] = {}
    columns = []
    for position, header in enumerate(headers):
        if header in positions:
            raise SourceError(
                f"CSV header {header!r} appears twice (after normalisation); "
                f"column map {column_map.name!r} cannot tell the columns apart"
            )
        positions[header] = position
        spec = file_map.spec_for(header)
        if spec is None:
            if not drop_unknown:
                raise UnknownColumnError(header, column_map.name)
            stats.dropped_headers.append(header)
            continue
        columns.append((position, spec))
    for key in file_map.keys:
        if key not in positions:
            raise SourceError(
                f"column map {column_map.name!r}, file {file_map.stem!r}: "
                f"key column {key!r} is not in the CSV header"
            )
    return _Plan(
        width=len(headers),
        columns=tuple(columns),
        positions=positions,
        keys=tuple((key, positions[key]) for key in file_map.keys),
        pads=any(
            segment.kind == "index" and segment.index > 0
            for _, spec in columns
            for target in spec.targets
            for segment in target.segments
        ),
    )


def _when_holds(spec: ColumnSpec, cells: list[str], plan: _Plan) -> bool:
    """True when every ``when`` column of the row has one of its wanted values (no case)."""
    return all(
        other in plan.positions and cells[plan.positions[other]].lower() in wanted
        for other, wanted in spec.when
    )


def _resource(cells: list[str], plan: _Plan, file_map: FileMap, stats: CsvReadStats) -> dict:
    parsed: list[tuple[ColumnSpec, list[_Cell]]] = []
    row: dict[str, Any] = {}
    for position, spec in plan.columns:
        text = cells[position]
        if not text:
            continue
        dropped_as = None
        if spec.when and not _when_holds(spec, cells, plan):
            dropped_as = spec.otherwise or spec.column_class
        elif not spec.targets:
            dropped_as = spec.column_class
        if dropped_as is not None:
            counter = (
                stats.free_text_dropped if dropped_as == "free_text" else stats.unmapped_dropped
            )
            counter[spec.header] += 1
            continue
        parts = [p.strip() for p in text.split(spec.split)] if spec.split else [text]
        values = []
        for part in filter(None, parts):
            try:
                values.append(_parse_value(spec, part))
            except _Unparseable:
                stats.unparseable[spec.header] += 1
        if values:
            parsed.append((spec, values))
            row[spec.header] = values[0].value
    resource: dict[str, Any] = {"resourceType": file_map.resource_type}
    resource.update(copy.deepcopy(dict(file_map.fixed)))
    for spec, values in parsed:
        for target in spec.targets:
            for cell in values:
                rendered = target.render(cell, row)
                if rendered is not None:
                    _place(resource, target.segments, rendered)
    return _pruned(resource) if plan.pads else resource


def read_csv(
    csv_path: Path,
    column_map: ColumnMap,
    drop_unknown: bool = False,
    stats: CsvReadStats | None = None,
) -> Iterator[SourceRecord]:
    """Stream a CSV export's rows as FHIR R4 resources.

    The header is checked on the first ``next()``, before any record: a header the map does not
    classify raises UnknownColumnError unless ``drop_unknown`` is set, in which case its name is
    added to ``stats.dropped_headers`` and its values are ignored.

    Args:
        csv_path: the CSV file (UTF-8, with or without BOM); its normalised stem picks the file
            entry of the map.
        column_map: the loaded column map.
        drop_unknown: drop unknown headers instead of stopping (the run report records them).
        stats: collects row counts, dropped headers and per-header drop and parse-failure counts;
            pass one per file (or one shared object to add several files up).

    Yields:
        One SourceRecord per data row (``line`` 1-based, the header is row 0): the resource, or
        an error record (``MissingKey`` naming the key header, ``FieldCountMismatch``).

    Raises:
        SourceError: no file entry for this file name, a duplicate or missing key header, or a
            file that is not UTF-8 CSV (messages carry no cell values).
        UnknownColumnError: an unclassified header without ``drop_unknown``.
    """
    file_map = column_map.file_for(csv_path)
    if file_map is None:
        raise SourceError(
            f"column map {column_map.name!r} has no file entry for this CSV file's name "
            f"(it maps: {', '.join(sorted(column_map.files))})"
        )
    stats = stats if stats is not None else CsvReadStats()
    return _records(Path(csv_path), column_map, file_map, drop_unknown, stats)


def _records(
    path: Path,
    column_map: ColumnMap,
    file_map: FileMap,
    drop_unknown: bool,
    stats: CsvReadStats,
) -> Iterator[SourceRecord]:
    line = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header_row = next(reader, None)
            if header_row is None:
                return
            plan = _plan(header_row, column_map, file_map, drop_unknown, stats)
            for raw_row in reader:
                if not raw_row:
                    continue  # a blank line is not a row
                line += 1
                stats.rows_read += 1
                if len(raw_row) != plan.width:
                    yield SourceRecord(line, None, error="FieldCountMismatch")
                    continue
                cells = [cell.strip() for cell in raw_row]
                missing = next((key for key, position in plan.keys if not cells[position]), None)
                if missing is not None:
                    yield SourceRecord(line, None, error="MissingKey", element=missing)
                    continue
                yield SourceRecord(line, _resource(cells, plan, file_map, stats))
        except UnicodeDecodeError:
            # text is decoded ahead of the parser: the bad bytes are at or after the next row
            raise SourceError(
                f"CSV file is not valid UTF-8 (at or after data row {line + 1})"
            ) from None
        except csv.Error:
            # csv's messages name limits, not values; still keep the wording our own
            raise SourceError(f"CSV file could not be parsed (at data row {line + 1})") from None
