"""Pseudonyms (deid.md section 3): keyed, deterministic, typed, and MRN-linked for patients."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.deid.pseudonyms import (
    SEPARATOR,
    canonical_patient_key,
    normalize_mrn,
    patient_pseudonym,
    patient_reference_hash,
    resource_pseudonym,
)

from .helpers import HEX32, MASTER_KEY, OTHER_MASTER_KEY, keyed, keys_for, sub_key

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.9999.1"
KEYS = keys_for()
OTHER_KEYS = keys_for(OTHER_MASTER_KEY)
ids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1
)


def test_patient_pseudonym_follows_the_spec_formula():
    canonical = canonical_patient_key("ehr", "p1", MRN_SYSTEM, "CNRY-1-7F3A")
    expected = keyed(sub_key(MASTER_KEY, "pseudonym"), "Patient\x1f" + canonical)[:32]
    assert patient_pseudonym(KEYS, canonical) == expected


def test_resource_pseudonym_follows_the_spec_formula():
    expected = keyed(sub_key(MASTER_KEY, "pseudonym"), "Encounter\x1fehr\x1fe1")[:32]
    assert resource_pseudonym(KEYS, "Encounter", "ehr", "e1") == expected


@given(resource_type=st.sampled_from(["Patient", "Encounter", "Condition"]), raw_id=ids)
def test_pseudonyms_are_32_hex_deterministic_and_keyed(resource_type, raw_id):
    first = resource_pseudonym(KEYS, resource_type, "ehr", raw_id)
    assert re.fullmatch(HEX32, first)
    assert resource_pseudonym(KEYS, resource_type, "ehr", raw_id) == first
    assert resource_pseudonym(OTHER_KEYS, resource_type, "ehr", raw_id) != first
    assert first != raw_id

    canonical = canonical_patient_key("ehr", raw_id, None, None)
    patient = patient_pseudonym(KEYS, canonical)
    assert re.fullmatch(HEX32, patient)
    assert patient_pseudonym(KEYS, canonical) == patient
    assert patient_pseudonym(OTHER_KEYS, canonical) != patient


@given(raw_id=ids)
def test_equal_raw_ids_of_different_types_differ(raw_id):
    pseudonyms = {
        resource_pseudonym(KEYS, resource_type, "ehr", raw_id)
        for resource_type in ("Patient", "Encounter", "Condition", "Observation")
    }
    pseudonyms.add(patient_pseudonym(KEYS, canonical_patient_key("ehr", raw_id, None, None)))
    pseudonyms.add(patient_reference_hash(KEYS, "ehr", raw_id))
    assert len(pseudonyms) == 6


def test_patient_123_and_encounter_123_differ():
    patient = patient_pseudonym(KEYS, canonical_patient_key("ehr", "123", None, None))
    assert patient != resource_pseudonym(KEYS, "Encounter", "ehr", "123")
    assert resource_pseudonym(KEYS, "Patient", "ehr", "123") != resource_pseudonym(
        KEYS, "Encounter", "ehr", "123"
    )


def test_source_is_part_of_non_patient_pseudonyms():
    assert resource_pseudonym(KEYS, "Encounter", "ehr", "e1") != resource_pseudonym(
        KEYS, "Encounter", "csv", "e1"
    )


@pytest.mark.parametrize(
    "formatted", ["cnry-1 7f3a", "CNRY-17F3A", " CNRY 1 7F3A ", "cnry\t17f3a", "CNRY--1-7F3A"]
)
def test_differently_formatted_mrns_link(formatted):
    reference = canonical_patient_key("fhir-export", "p1", MRN_SYSTEM, "CNRY-17F3A")
    other = canonical_patient_key("csv-export", "row-99", MRN_SYSTEM, formatted)
    assert other == reference
    assert patient_pseudonym(KEYS, other) == patient_pseudonym(KEYS, reference)


def test_normalize_mrn_drops_case_spaces_and_dashes_only():
    assert normalize_mrn("cnry-1 7f3a") == "CNRY17F3A"
    assert normalize_mrn("A.B/C") == "A.B/C"


def test_mrns_of_different_systems_do_not_link():
    first = canonical_patient_key("ehr", "p1", MRN_SYSTEM, "CNRY-1-7F3A")
    second = canonical_patient_key("ehr", "p1", "urn:oid:1.2.3.4", "CNRY-1-7F3A")
    assert patient_pseudonym(KEYS, first) != patient_pseudonym(KEYS, second)


def test_different_mrns_do_not_link():
    first = canonical_patient_key("ehr", "p1", MRN_SYSTEM, "CNRY-1-7F3A")
    second = canonical_patient_key("ehr", "p1", MRN_SYSTEM, "CNRY-2-7F3A")
    assert patient_pseudonym(KEYS, first) != patient_pseudonym(KEYS, second)


@pytest.mark.parametrize("mrn", [None, "", "   "])
def test_mrn_less_patients_use_source_and_id(mrn):
    key = canonical_patient_key("ehr", "p1", MRN_SYSTEM, mrn)
    assert key == SEPARATOR.join(("id", "ehr", "p1"))
    assert canonical_patient_key("ehr", "p2", MRN_SYSTEM, mrn) != key
    assert canonical_patient_key("other-ehr", "p1", MRN_SYSTEM, mrn) != key


def test_an_mrn_never_links_to_an_id_that_looks_the_same():
    by_mrn = canonical_patient_key("ehr", "p1", "", "X1")
    by_id = canonical_patient_key("", "X1", None, None)
    assert patient_pseudonym(KEYS, by_mrn) != patient_pseudonym(KEYS, by_id)


@pytest.mark.parametrize("placeholder", ["-", "--", " - "])
def test_placeholder_mrns_do_not_merge_patients(placeholder):
    first = canonical_patient_key("ehr", "p1", MRN_SYSTEM, placeholder)
    second = canonical_patient_key("ehr", "p2", MRN_SYSTEM, placeholder)
    assert patient_pseudonym(KEYS, first) != patient_pseudonym(KEYS, second)
