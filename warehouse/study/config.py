"""The study config (a commented YAML file): validated into StudyConfig, flattened into rows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transforms.compass31 import MISSING_FOLLOW_UP_POLICIES

STUDY_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = STUDY_DIR / "ldn.yaml"

MATCH_KINDS = ("exact", "prefix", "regex")
"""How a code entry matches: equal, starts with, or a case-insensitive regular expression."""

REQUIRED_LISTS = (
    "dysautonomia_pots",
    "dysautonomia_stiff_person",
    "dysautonomia_general",
    "comorbidity_fibromyalgia",
    "comorbidity_small_fiber_neuropathy",
    "comorbidity_ehlers_danlos",
    "comorbidity_mast_cell_activation",
    "comorbidity_migraine",
    "comorbidity_chronic_pain",
    "excluded_condition_verification",
    "naltrexone_rxnorm",
    "naltrexone_drug_name",
    "naltrexone_excluded_drug_name",
    "ldn_dose_units",
    "ldn_dose_units_microgram",
    "excluded_order_statuses",
    "reason_pain_fibromyalgia",
    "reason_orthostatic_intolerance",
    "autonomic_service",
    "compass31_questionnaire",
    "compass31_statuses",
    "pain_score",
    "pain_improved_finding",
    "side_effect_severities",
    "side_effect_excluded_actualities",
)
"""Every list the SQL models read; a config must define each (some may be empty)."""

COMORBIDITY_LIST = re.compile(r"comorbidity_[a-z][a-z0-9_]*")
"""Further lists a config may add: each `comorbidity_<name>` counts in study.cohort.comorbidities
and in study.summary like the required ones (the flag columns are the required ones only)."""

# Lists without which the study cannot find anyone: they must hold at least one code.
_NON_EMPTY_LISTS = (
    "dysautonomia_pots",
    "dysautonomia_stiff_person",
    "dysautonomia_general",
    "naltrexone_rxnorm",
    "ldn_dose_units",
    "autonomic_service",
    "compass31_questionnaire",
    "compass31_statuses",
    "pain_score",
    "side_effect_severities",
)
# Flag columns of study.cohort, in column order: list comorbidity_<name> -> column <name>.
COMORBIDITIES = tuple(
    name.removeprefix("comorbidity_") for name in REQUIRED_LISTS if name.startswith("comorbidity_")
)


class StudyConfigError(ValueError):
    """A study config that cannot be used; `field` names the offending entry.

    Attributes:
        field: dotted path of the entry, e.g. ``parameters.follow_up_min_days`` or
            ``code_lists.dysautonomia_pots.codes[1].match``.
        source: the file (or "<mapping>") the config came from.
    """

    def __init__(self, field: str, message: str, source: str = "<mapping>") -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.field = field
        self.source = source


@dataclass(frozen=True)
class CodeEntry:
    """One code of a list: system URI (None: the source column has none), code, match kind."""

    system: str | None
    code: str
    match: str = "exact"
    display_pattern: str | None = None


@dataclass(frozen=True)
class CodeList:
    """A named list of codes, with the description analysts read and an optional short label
    (the words a report prints for it, e.g. in study.summary; None: the description)."""

    name: str
    description: str
    codes: tuple[CodeEntry, ...]
    label: str | None = None


@dataclass(frozen=True)
class StudyParameters:
    """The study's numeric and switch parameters (ldn.yaml, section `parameters`)."""

    ldn_max_daily_dose_mg: float = 5.0
    standard_initial_daily_dose_mg: float = 1.0
    assumed_frequency_per_day_when_missing: float | None = None
    follow_up_min_days: int = 90
    follow_up_max_days: int = 270
    follow_up_autonomic_only: bool = True
    questionnaire_match_window_days: int = 14
    pain_match_window_days: int = 0
    pain_improvement_points: float = 2.0
    pain_improved_finding_enabled: bool = False
    compass31_link_id_prefix: str = "q"
    compass31_missing_follow_up: str = "zero"
    compass31_reported_total_link_id: str | None = "total"
    age_band_edges: tuple[int, ...] = (18, 30, 40, 50, 60, 70, 80, 90)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config.

    Attributes:
        study: short name (``ldn``).
        title: the study's title.
        version: the config's own version number.
        code_lists: list name -> CodeList.
        parameters: the parameters.
        source: where it was read from.
        sha256: SHA-256 of the file's bytes (or of the mapping's YAML dump), for the audit trail.
    """

    study: str
    title: str
    version: int
    code_lists: Mapping[str, CodeList]
    parameters: StudyParameters = field(default_factory=StudyParameters)
    source: str = "<mapping>"
    sha256: str = ""

    @property
    def compass31_canonicals(self) -> tuple[str, ...]:
        """The COMPASS-31 Questionnaire canonical URLs (no version suffix)."""
        return tuple(entry.code for entry in self.code_lists["compass31_questionnaire"].codes)

    def code_rows(self) -> list[tuple[str, str | None, str, str, str | None, int]]:
        """Rows of study.config_codes: (list_name, system, code, match, display_pattern,
        position), position = the entry's place in its list (1, 2, ...) as written."""
        return [
            (code_list.name, entry.system, entry.code, entry.match, entry.display_pattern, number)
            for code_list in self.code_lists.values()
            for number, entry in enumerate(code_list.codes, start=1)
        ]

    def list_rows(self) -> list[tuple[str, int, str | None, str, int]]:
        """Rows of study.config_lists: (list_name, list_number, label, description, codes)."""
        return [
            (code_list.name, number, code_list.label, code_list.description, len(code_list.codes))
            for number, code_list in enumerate(self.code_lists.values(), start=1)
        ]

    def parameter_rows(self) -> list[tuple[str, str | None]]:
        """Rows of study.config_parameters: (name, value as text; lists comma-separated)."""
        rows: list[tuple[str, str | None]] = [
            ("study", self.study),
            ("title", self.title),
            ("config_version", str(self.version)),
            ("config_source", Path(self.source).name),
            ("config_sha256", self.sha256),
        ]
        for name in StudyParameters.__dataclass_fields__:
            value = getattr(self.parameters, name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, tuple):
                text = ",".join(str(item) for item in value)
            elif value is None:
                text = None
            else:
                text = str(value)
            rows.append((name, text))
        return rows


def load_study_config(path: Path | str | None = None) -> StudyConfig:
    """Read and validate a study config file.

    Args:
        path: the YAML file; None for the shipped ``warehouse/study/ldn.yaml``.

    Returns:
        The validated config.

    Raises:
        StudyConfigError: the file is not valid YAML or breaks a rule; the message names the
            field.
    """
    path = DEFAULT_CONFIG if path is None else Path(path)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise StudyConfigError("(file)", f"not valid YAML: {error}", str(path)) from None
    return study_config_from_mapping(data, source=str(path), sha256=hashlib.sha256(raw).hexdigest())


def study_config_from_mapping(
    data: object, *, source: str = "<mapping>", sha256: str | None = None
) -> StudyConfig:
    """Validate a parsed config (the YAML's top-level mapping).

    Args:
        data: the parsed YAML.
        source: where it came from, for messages.
        sha256: hash of the file bytes; None to hash the mapping's canonical YAML dump.

    Raises:
        StudyConfigError: naming the first field that breaks a rule.
    """
    reader = _Reader(source)
    top = reader.mapping(data, "(top level)")
    reader.only_keys(
        top, "(top level)", {"study", "title", "version", "systems", "code_lists", "parameters"}
    )
    study = reader.text(top.get("study"), "study")
    title = reader.text(top.get("title"), "title")
    version = top.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise reader.error("version", f"must be a whole number >= 1, got {version!r}")
    systems = _systems(reader, top.get("systems", {}))
    code_lists = _code_lists(reader, top.get("code_lists"), systems)
    parameters = _parameters(reader, top.get("parameters", {}))
    if parameters.pain_improved_finding_enabled and not code_lists["pain_improved_finding"].codes:
        raise reader.error(
            "parameters.pain_improved_finding_enabled",
            "is true but code_lists.pain_improved_finding has no code",
        )
    if sha256 is None:
        sha256 = hashlib.sha256(yaml.safe_dump(data, sort_keys=True).encode()).hexdigest()
    return StudyConfig(study, title, version, code_lists, parameters, source, sha256)


class _Reader:
    """Type checks that raise StudyConfigError with the field path and the source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, field_path: str, message: str) -> StudyConfigError:
        return StudyConfigError(field_path, message, self.source)

    def mapping(self, value: object, field_path: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(field_path, f"must be a mapping, got {type(value).__name__}")
        return value

    def only_keys(self, value: dict, field_path: str, allowed: set[str]) -> None:
        # Unknown keys are typos more often than not: a misspelt parameter would silently keep
        # its default.
        if unknown := sorted(str(key) for key in value if key not in allowed):
            prefix = "" if field_path == "(top level)" else f"{field_path}."
            raise self.error(
                f"{prefix}{unknown[0]}",
                f"unknown key; expected one of {', '.join(sorted(allowed))}",
            )

    def text(self, value: object, field_path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(field_path, f"must be a non-empty text, got {value!r}")
        return value.strip()

    def regex(self, value: object, field_path: str) -> str:
        pattern = self.text(value, field_path)
        try:
            re.compile(pattern)
        except re.error as error:
            raise self.error(field_path, f"is not a valid regular expression: {error}") from None
        return pattern


def _systems(reader: _Reader, value: object) -> dict[str, str]:
    systems = reader.mapping(value, "systems")
    result = {}
    for alias, uri in systems.items():
        text = reader.text(uri, f"systems.{alias}")
        if ":" not in text:
            raise reader.error(f"systems.{alias}", f"must be a URI, got {text!r}")
        result[str(alias)] = text
    return result


def _code_lists(reader: _Reader, value: object, systems: dict[str, str]) -> dict[str, CodeList]:
    lists = reader.mapping(value, "code_lists")
    if missing := [name for name in REQUIRED_LISTS if name not in lists]:
        raise reader.error(f"code_lists.{missing[0]}", "is missing (the study models read it)")
    extra_comorbidities = [
        name
        for name in lists
        if name not in REQUIRED_LISTS and COMORBIDITY_LIST.fullmatch(str(name))
    ]
    reader.only_keys(lists, "code_lists", {*REQUIRED_LISTS, *extra_comorbidities})
    result = {}
    # The required lists first, then further comorbidity lists in the file's order.
    for name in (*REQUIRED_LISTS, *extra_comorbidities):
        path = f"code_lists.{name}"
        body = reader.mapping(lists[name], path)
        reader.only_keys(body, path, {"description", "label", "codes"})
        description = reader.text(body.get("description"), f"{path}.description")
        label = body.get("label")
        if label is not None:
            label = reader.text(label, f"{path}.label")
        raw_codes = body.get("codes")
        if not isinstance(raw_codes, list):
            raise reader.error(f"{path}.codes", "must be a list (write [] for none)")
        if not raw_codes and name in _NON_EMPTY_LISTS:
            raise reader.error(f"{path}.codes", "must hold at least one code")
        entries = tuple(
            _code_entry(reader, entry, f"{path}.codes[{number}]", systems)
            for number, entry in enumerate(raw_codes)
        )
        if len(set(entries)) != len(entries):
            raise reader.error(f"{path}.codes", "lists the same entry twice")
        result[name] = CodeList(name, description, entries, label)
    return result


def _code_entry(reader: _Reader, value: object, path: str, systems: dict[str, str]) -> CodeEntry:
    entry = reader.mapping(value, path)
    reader.only_keys(entry, path, {"system", "code", "match", "display_pattern"})
    code = entry.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)  # an unquoted numeric code (RxNorm, SNOMED CT) reads as an integer
    elif not isinstance(code, str):
        raise reader.error(f"{path}.code", f"must be text (quote numeric codes), got {code!r}")
    match = entry.get("match", "exact")
    if match not in MATCH_KINDS:
        raise reader.error(
            f"{path}.match", f"must be one of {', '.join(MATCH_KINDS)}, got {match!r}"
        )
    code = (
        reader.regex(code, f"{path}.code")
        if match == "regex"
        else reader.text(code, f"{path}.code")
    )
    system = entry.get("system")
    if system is not None:
        system = reader.text(system, f"{path}.system")
        if system in systems:
            system = systems[system]
        elif ":" not in system:
            raise reader.error(
                f"{path}.system",
                f"{system!r} is neither a URI nor a name from `systems` ({', '.join(systems)})",
            )
    pattern = entry.get("display_pattern")
    if pattern is not None:
        pattern = reader.regex(pattern, f"{path}.display_pattern")
    return CodeEntry(system, code, match, pattern)


def _parameters(reader: _Reader, value: object) -> StudyParameters:
    given = reader.mapping(value, "parameters")
    defaults = StudyParameters()
    reader.only_keys(given, "parameters", set(StudyParameters.__dataclass_fields__))
    values: dict[str, Any] = {}
    for name in StudyParameters.__dataclass_fields__:
        path = f"parameters.{name}"
        default = getattr(defaults, name)
        if name not in given:
            values[name] = default
            continue
        raw = given[name]
        if isinstance(default, bool):
            if not isinstance(raw, bool):
                raise reader.error(path, f"must be true or false, got {raw!r}")
            values[name] = raw
        elif isinstance(default, int):
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
                raise reader.error(path, f"must be a whole number >= 0, got {raw!r}")
            values[name] = raw
        elif isinstance(default, float):
            if not isinstance(raw, int | float) or isinstance(raw, bool) or raw <= 0:
                raise reader.error(path, f"must be a number > 0, got {raw!r}")
            values[name] = float(raw)
        elif isinstance(default, tuple):
            if (
                not isinstance(raw, list)
                or not raw
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
                or sorted(set(raw)) != raw
            ):
                raise reader.error(path, f"must be a list of increasing whole numbers, got {raw!r}")
            values[name] = tuple(raw)
        elif name == "assumed_frequency_per_day_when_missing":
            # Empty (null): no frequency is assumed, an order without one has no daily dose.
            if raw is not None and (
                not isinstance(raw, int | float) or isinstance(raw, bool) or raw <= 0
            ):
                raise reader.error(path, f"must be a number > 0 or empty, got {raw!r}")
            values[name] = None if raw is None else float(raw)
        elif name == "compass31_reported_total_link_id" and raw is None:
            values[name] = None
        else:
            values[name] = reader.text(raw, path)
    parameters = StudyParameters(**values)
    if parameters.follow_up_min_days > parameters.follow_up_max_days:
        raise reader.error(
            "parameters.follow_up_min_days",
            f"({parameters.follow_up_min_days}) is after follow_up_max_days "
            f"({parameters.follow_up_max_days})",
        )
    if parameters.standard_initial_daily_dose_mg > parameters.ldn_max_daily_dose_mg:
        raise reader.error(
            "parameters.standard_initial_daily_dose_mg",
            f"({parameters.standard_initial_daily_dose_mg}) is above ldn_max_daily_dose_mg "
            f"({parameters.ldn_max_daily_dose_mg})",
        )
    if parameters.compass31_missing_follow_up not in MISSING_FOLLOW_UP_POLICIES:
        raise reader.error(
            "parameters.compass31_missing_follow_up",
            f"must be one of {', '.join(MISSING_FOLLOW_UP_POLICIES)}, "
            f"got {parameters.compass31_missing_follow_up!r}",
        )
    return parameters
