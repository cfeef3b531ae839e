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
    rows = config.code_rows()
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
            lambda d: d["code_lists"].__setitem__(
                "comorbidity_gout", {"description": "x", "codes": []}
            ),
            "code_lists.comorbidity_gout",
            "unknown key",
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
