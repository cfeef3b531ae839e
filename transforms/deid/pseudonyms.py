"""Keyed pseudonyms: patients by canonical key (MRN when present), everything else by type+id."""

from __future__ import annotations

import re

from .keys import DeidKeys, keyed_hex

SEPARATOR = "\x1f"
MRN_TYPE_CODE = "MR"  # HL7 v2-0203 identifier type "Medical Record Number"


def normalize_mrn(value: str) -> str:
    """MRNs compare without case, spaces or dashes (exports differ in formatting, not identity)."""
    return re.sub(r"[\s\-]", "", value).upper()


def canonical_patient_key(
    source: str, patient_id: str, mrn_system: str | None, mrn_value: str | None
) -> str:
    """The patient's linkage key: ``mrn|system|value`` when the record has an MRN, else ``id|source|id``.

    The same person exported as FHIR and as CSV carries the same MRN, so both link.
    """
    normalized = normalize_mrn(mrn_value or "")
    if normalized:  # a placeholder such as "-" normalises to nothing and must not link anyone
        return SEPARATOR.join(("mrn", (mrn_system or "").strip(), normalized))
    return SEPARATOR.join(("id", source, patient_id))


def patient_pseudonym(keys: DeidKeys, canonical_key: str) -> str:
    return keyed_hex(keys.pseudonym, f"Patient{SEPARATOR}{canonical_key}")


def resource_pseudonym(keys: DeidKeys, resource_type: str, source: str, raw_id: str) -> str:
    """Type is part of the input: equal raw ids of different types neither collide nor link."""
    return keyed_hex(keys.pseudonym, SEPARATOR.join((resource_type, source, raw_id)))


def canonical_key_hash(keys: DeidKeys, canonical_key: str) -> str:
    """Index key of a canonical patient key: links a patient across sources and exports."""
    return keyed_hex(keys.pseudonym, f"Canonical{SEPARATOR}{canonical_key}")


def patient_reference_hash(keys: DeidKeys, source: str, raw_patient_id: str) -> str:
    """Index key of a raw Patient id as referenced in ``source`` (kept in the vault, never raw)."""
    return keyed_hex(keys.pseudonym, SEPARATOR.join(("PatientRef", source, raw_patient_id)))
