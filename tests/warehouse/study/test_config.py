"""The study config: the shipped ldn.yaml, its rows, and errors that name the field."""

from __future__ import annotations

import copy

import pytest
import yaml

from warehouse.study import (
    DEFAULT_CONFIG,
    REQUIRED_LISTS,
    StudyConfigError,
    load_study_config,
    study_config_from_mapping,
)


@pytest.fixture(scope="module")
def shipped() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def test_the_shipped_config_states_the_spec(shipped):
    config = load_study_config()
    assert set(config.code_lists) == set(REQUIRED_LISTS)
    parameters = config.parameters
    assert (parameters.follow_up_min_days, parameters.follow_up_max_days) == (90, 270)
    assert parameters.ldn_max_daily_dose_mg == 5
    assert parameters.questionnaire_match_window_days == 14
    assert parameters.pain_improvement_points == 2
    assert config.compass31_canonicals == ("http://example.org/fhir/Questionnaire/compass-31",)
    rows = [row[:5] for row in config.code_rows()]
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert ("dysautonomia_pots", icd, "G90.A", "exact", None) in rows
    assert ("comorbidity_migraine", icd, "G43", "prefix", None) in rows
    assert ("comorbidity_ehlers_danlos", icd, "Q79.6", "prefix", None) in rows
    assert (
        "naltrexone_rxnorm",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "7243",
        "exact",
        None,
    ) in rows
    assert ("pain_score", "http://loinc.org", "72514-3", "exact", None) in rows
    legacy = [row for row in rows if row[0] == "dysautonomia_pots" and row[2] in ("I49.8", "R00.0")]
    assert len(legacy) == 2 and all(row[4] for row in legacy)
    parameters = dict(config.parameter_rows())
    assert parameters["follow_up_max_days"] == "270"
    assert parameters["follow_up_autonomic_only"] == "true"
    assert parameters["age_band_edges"] == "18,30,40,50,60,70,80,90"
    assert parameters["config_source"] == "ldn.yaml" and len(parameters["config_sha256"]) == 64
    # No frequency is assumed for an order without one unless the study decides so.
    assert parameters["assumed_frequency_per_day_when_missing"] is None
    assert config.parameters.assumed_frequency_per_day_when_missing is None


def test_severities_are_listed_from_least_to_most_severe():
    rows = load_study_config().code_rows()
    positions = {row[2]: row[5] for row in rows if row[0] == "side_effect_severities"}
    assert positions == {"mild": 1, "moderate": 2, "severe": 3}


def test_comorbidity_labels_and_further_comorbidity_lists(shipped):
    config = load_study_config()
    lists = {row[0]: row[1:] for row in config.list_rows()}
    assert lists["comorbidity_small_fiber_neuropathy"][1] == "small fiber neuropathy"
    assert lists["comorbidity_ehlers_danlos"][1] == "Ehlers-Danlos syndrome"
    data = copy.deepcopy(shipped)
    data["code_lists"]["comorbidity_gout"] = {
        "description": "Gout (M10.x).",
        "codes": [{"system": "icd10cm", "code": "M10", "match": "prefix"}],
    }
    extended = study_config_from_mapping(data)
    assert list(extended.code_lists)[-1] == "comorbidity_gout"
    assert extended.code_lists["comorbidity_gout"].label is None
    assert ("comorbidity_gout", len(REQUIRED_LISTS) + 1, None, "Gout (M10.x).", 1) in (
        extended.list_rows()
    )


def test_an_assumed_frequency_is_a_positive_number_or_empty(shipped):
    data = copy.deepcopy(shipped)
    data["parameters"]["assumed_frequency_per_day_when_missing"] = 1
    config = study_config_from_mapping(data)
    assert config.parameters.assumed_frequency_per_day_when_missing == 1.0
    assert dict(config.parameter_rows())["assumed_frequency_per_day_when_missing"] == "1.0"


def test_codes_read_as_integers_become_text(shipped):
    data = copy.deepcopy(shipped)
    data["code_lists"]["naltrexone_rxnorm"]["codes"] = [{"system": "rxnorm", "code": 7243}]
    config = study_config_from_mapping(data)
    assert config.code_lists["naltrexone_rxnorm"].codes[0].code == "7243"


def _broken(shipped: dict, change) -> StudyConfigError:
    data = copy.deepcopy(shipped)
    change(data)
    with pytest.raises(StudyConfigError) as raised:
        study_config_from_mapping(data, source="ldn.yaml")
    return raised.value


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            lambda d: d["code_lists"].pop("dysautonomia_pots"),
            "code_lists.dysautonomia_pots",
            "missing",
        ),
        (
            lambda d: d["code_lists"].__setitem__("gout", {"description": "x", "codes": []}),
            "code_lists.gout",
            "unknown key",
        ),
        (
            lambda d: d["code_lists"].__setitem__(
                "comorbidity_Gout", {"description": "x", "codes": []}
            ),
            "code_lists.comorbidity_Gout",
            "unknown key",
        ),
        (
            lambda d: d["code_lists"]["comorbidity_migraine"].__setitem__("label", ""),
            "code_lists.comorbidity_migraine.label",
            "non-empty text",
        ),
        (
            lambda d: d["parameters"].__setitem__("assumed_frequency_per_day_when_missing", 0),
            "parameters.assumed_frequency_per_day_when_missing",
            "number > 0 or empty",
        ),
        (
            lambda d: d["parameters"].__setitem__("assumed_frequency_per_day_when_missing", "1"),
            "parameters.assumed_frequency_per_day_when_missing",
            "number > 0 or empty",
        ),
        (
            lambda d: d["code_lists"]["comorbidity_migraine"]["codes"][0].__setitem__(
                "match", "starts"
            ),
            "code_lists.comorbidity_migraine.codes[0].match",
            "exact, prefix, regex",
        ),
        (
            lambda d: d["code_lists"]["naltrexone_drug_name"]["codes"][0].__setitem__(
                "code", "nal(trex"
            ),
            "code_lists.naltrexone_drug_name.codes[0].code",
            "regular expression",
        ),
        (
            lambda d: d["code_lists"]["dysautonomia_pots"]["codes"][1].__setitem__(
                "display_pattern", "[POTS"
            ),
            "code_lists.dysautonomia_pots.codes[1].display_pattern",
            "regular expression",
        ),
        (
            lambda d: d["code_lists"]["dysautonomia_general"]["codes"][0].__setitem__("code", 90.9),
            "code_lists.dysautonomia_general.codes[0].code",
            "quote numeric codes",
        ),
        (
            lambda d: d["code_lists"]["dysautonomia_general"]["codes"][0].__setitem__(
                "system", "icd10"
            ),
            "code_lists.dysautonomia_general.codes[0].system",
            "neither a URI nor a name",
        ),
        (
            lambda d: d["code_lists"]["pain_score"].__setitem__("codes", []),
            "code_lists.pain_score.codes",
            "at least one code",
        ),
        (
            lambda d: d["code_lists"]["pain_score"].__setitem__("codes", None),
            "code_lists.pain_score.codes",
            "must be a list",
        ),
        (
            lambda d: d["code_lists"]["pain_score"]["codes"].append(
                {"system": "loinc", "code": "72514-3"}
            ),
            "code_lists.pain_score.codes",
            "twice",
        ),
        (
            lambda d: d["code_lists"]["pain_score"].pop("description"),
            "code_lists.pain_score.description",
            "non-empty text",
        ),
        (
            lambda d: d["parameters"].__setitem__("follow_up_max_dayz", 270),
            "parameters.follow_up_max_dayz",
            "unknown key",
        ),
        (
            lambda d: d["parameters"].__setitem__("follow_up_min_days", "90"),
            "parameters.follow_up_min_days",
            "whole number",
        ),
        (
            lambda d: d["parameters"].__setitem__("follow_up_min_days", 300),
            "parameters.follow_up_min_days",
            "after follow_up_max_days",
        ),
        (
            lambda d: d["parameters"].__setitem__("ldn_max_daily_dose_mg", 0),
            "parameters.ldn_max_daily_dose_mg",
            "number > 0",
        ),
        (
            lambda d: d["parameters"].__setitem__("standard_initial_daily_dose_mg", 6),
            "parameters.standard_initial_daily_dose_mg",
            "above ldn_max_daily_dose_mg",
        ),
        (
            lambda d: d["parameters"].__setitem__("follow_up_autonomic_only", "yes"),
            "parameters.follow_up_autonomic_only",
            "true or false",
        ),
        (
            lambda d: d["parameters"].__setitem__("compass31_missing_follow_up", "impute"),
            "parameters.compass31_missing_follow_up",
            "zero, null_domain",
        ),
        (
            lambda d: d["parameters"].__setitem__("age_band_edges", [18, 40, 30]),
            "parameters.age_band_edges",
            "increasing",
        ),
        (
            lambda d: d["parameters"].__setitem__("pain_improved_finding_enabled", True),
            "parameters.pain_improved_finding_enabled",
            "has no code",
        ),
        (lambda d: d.__setitem__("version", 0), "version", "whole number"),
        (lambda d: d.pop("study"), "study", "non-empty text"),
        (lambda d: d.__setitem__("sites", []), "sites", "unknown key"),
    ],
)
def test_errors_name_the_field(shipped, change, field, words):
    error = _broken(shipped, change)
    assert error.field == field
    assert words in str(error)
    assert str(error).startswith(f"ldn.yaml: {field}: ")


def test_a_file_that_is_no_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("code_lists: [unclosed\n")
    with pytest.raises(StudyConfigError, match="not valid YAML") as raised:
        load_study_config(path)
    assert raised.value.source == str(path)


def test_a_config_that_is_no_mapping():
    with pytest.raises(StudyConfigError, match="must be a mapping"):
        study_config_from_mapping(["study", "ldn"])
