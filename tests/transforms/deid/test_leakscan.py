"""Leak-scan tokens and index (deid.md sections 9-10): normalisation, precision, no raw values."""

from __future__ import annotations

import hashlib
import hmac
import io
import stat
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.deid.leakscan import (
    CATEGORIES,
    MIN_CHARACTERS,
    STOP_WORDS,
    Hit,
    TokenHasher,
    TokenIndex,
    candidate_tokens,
    keep_token,
    normalise_token,
    read_token_index,
    scan_texts,
    value_tokens,
    write_token_index,
)

from .helpers import MASTER_KEY, OTHER_MASTER_KEY, sub_key

KEY = sub_key(MASTER_KEY, "scan-index")
OTHER_KEY = sub_key(OTHER_MASTER_KEY, "scan-index")
NAME = "Qzcanary Vexlerow-scan"
MRN = "CNRY-scan-7F3A"
PHONE = "555-0142"
EMAIL = "canary.scan@example.invalid"
STREET = "12 Canaryplume Ln"
SSN = "666-41-7302"
CANARIES = [NAME, MRN, PHONE, EMAIL, STREET, SSN]
# pieces a raw value would show in a dump of the index, in the forms the index hashes
RAW_FORMS = ["qzcanary", "vexlerow", "cnryscan7f3a", "5550142", "canaryscan", "canaryplume"]


def canary_patient() -> dict:
    """A FHIR R4 Patient with a canary in every slot the index reads."""
    return {
        "resourceType": "Patient",
        "id": "qzcanary-patient-7f3a",
        "identifier": [
            {"system": "urn:oid:2.16.840.1.113883.3.7777.1", "value": MRN},
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN},
        ],
        "name": [{"family": "Vexlerow-scan", "given": ["Qzcanary", "Zoëlle"], "prefix": ["Ms."]}],
        "telecom": [
            {"system": "phone", "value": PHONE},
            {"system": "email", "value": EMAIL},
        ],
        "birthDate": "1931-07-04",
        "address": [
            {"line": [STREET], "city": "Canaryvale", "state": "MA", "postalCode": "02134-7302"}
        ],
        "contact": [
            {
                "name": {"family": "Kinplume", "given": ["Orrin"]},
                "telecom": [{"system": "phone", "value": "+1 (617) 555-0177"}],
            }
        ],
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                "valueString": "Maidenquill",
            }
        ],
    }


@pytest.fixture(scope="module")
def index() -> TokenIndex:
    built = TokenIndex(KEY)
    built.add_patient(canary_patient())
    return built


def found(index: TokenIndex, text: str) -> set[str]:
    """The categories of index tokens that ``text`` holds."""
    return {hit.category for hit in scan_texts([("text", text)], index, KEY)}


# ------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "text",
    [
        "ZOËLLE",
        "zoelle",
        unicodedata.normalize("NFD", "Zoëlle"),  # combining diaeresis
        "\uff3a\uff4f\uff45\uff4c\uff4c\uff45",  # full-width letters
    ],
)
def test_case_accents_and_compatibility_forms_are_one_token(text):
    assert candidate_tokens(text) == ["zoelle"]


def test_case_fold_is_full_not_just_lower():
    assert normalise_token("STRAẞE") == normalise_token("strasse") == "strasse"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Pt seen with Qzcanary today, stable.", "name"),  # a name inside a sentence
        ("vexlerow", "name"),
        ("https://emr.invalid/chart?mrn=cnry_scan_7f3a&tab=2", "identifier"),  # MRN in a URL
        ("MRN: CNRY scan 7F3A", "identifier"),
        ("call 555.0142 after 5pm", "phone"),  # phone with other punctuation
        ("call 555 0142", "phone"),
        ("tel:5550142", "phone"),
        ("guardian (617) 555-0177", "phone"),  # the contact's phone, national form
        ("ssn 666 41 7302", "ssn"),
        ("666417302", "ssn"),
        ("reply to CANARY.SCAN@EXAMPLE.INVALID please", "email"),
        ("canary.scan@other.invalid", "email"),  # the local part alone
        ("lives at 12 canaryplume ln.", "address"),
        ("Canaryplume Ln", "address"),  # the street without its number
        ("moved to canaryvale", "city"),
        ("zip 02134-7302", "postal_code"),
        ("born 1931-07-04", "birth_date"),
        ("born 07/04/1931", "birth_date"),
        ("mother: Maidenquill", "name"),
        ("next of kin Orrin Kinplume", "name"),
        ("patient qzcanary-patient-7f3a", "identifier"),  # the raw resource id
    ],
)
def test_an_identifier_is_found_inside_longer_text(index, text, category):
    assert category in found(index, text)


@pytest.mark.parametrize(
    "text",
    [
        "Qzcanaryx",  # a longer word is another word
        "55501421",  # the digits of a longer number are not the number
        "555-0142-9",
        "15550142",
        "617 555 0142",  # another local number with the indexed 7 digits inside
        "1931-07-05",
        "1931",
        "Ms.",  # the prefix is not indexed
        "02134",  # ZIP5: too short to tell from any five-digit number
    ],
)
def test_near_misses_are_not_hits(index, text):
    assert found(index, text) == set()


# -------------------------------------------------------------------------- precision rules


def test_minimum_lengths():
    assert not keep_token("abc") and keep_token("abcd")
    assert not keep_token("123456") and keep_token("1234567")
    assert keep_token("12ab")  # letters and digits: four characters suffice
    assert not keep_token("王") and keep_token("王小")  # ideographs count twice
    assert not keep_token("white") and not keep_token("parkinson")  # stop words


def test_stop_words_are_normalised_and_long_enough_to_matter():
    assert all(normalise_token(w) == w and len(w) >= MIN_CHARACTERS for w in STOP_WORDS)


# Data every core table holds: codes, displays, units, statuses, dates and numbers.
CLINICAL_TEXT = [
    "8302-2 Body height",
    "29463-7 Body weight",
    "85354-9 Blood pressure panel with all children optional",
    "http://loinc.org",
    "http://snomed.info/sct 44054006 Diabetes mellitus type 2 (disorder)",
    "38341003 Hypertension",
    "73211009 Stevens-Johnson syndrome",
    "http://hl7.org/fhir/sid/icd-10-cm E11.9 I10 Z00.00",
    "http://www.nlm.nih.gov/research/umls/rxnorm 314076 lisinopril 10 MG Oral Tablet",
    "748962 Camila 0.35 MG Oral Tablet",
    "Norwalk virus infection",
    "Wilson disease; Parkinson's disease; Graves disease",
    "White; Black or African American; Not Hispanic or Latino",
    "Massachusetts US 021",
    "2024-01-15 2023-12-31T23:59:59Z 01/15/2024 14:02:03.123",
    "120/80 mmHg 98.6 degF 1,234,567 0.35 12345.6",
    "active final completed entered-in-error amended",
    "ambulatory AMB EMER IMP urn:oid:2.16.840.1.113883.6.238 2106-3",
]


def test_no_false_positive_on_clinical_codes_dates_and_numbers():
    index = TokenIndex(KEY)
    # patients whose names, streets and cities are also words of clinical data
    for category, value in [
        ("name", "Grace White"),
        ("name", "Camila Johnson"),
        ("name", "Rose Parkinson"),
        ("name", "Heather Wilson"),
        ("name", "Virginia Stone"),
        ("address", "44 Body Weight Ln"),
        ("city", "Norwalk"),
        ("city", "Washington"),
        ("birth_date", "2024-01-14"),
        ("phone", "617-555-0101"),
        ("identifier", "E11.9-ZQ"),
    ]:
        index.add(category, value)
    assert len(index) > 0
    assert scan_texts([("clinical", text) for text in CLINICAL_TEXT], index, KEY) == []


def test_a_stop_worded_name_is_still_found_written_in_full():
    index = TokenIndex(KEY)
    index.add_patient({"name": [{"family": "White", "given": ["Grace"]}]})
    assert scan_texts([("note", "seen Grace White")], index, KEY) == [Hit("note", "name", 1)]
    assert scan_texts([("note", "WHITE, GRACE")], index, KEY) == [Hit("note", "name", 1)]
    assert scan_texts([("race", "White")], index, KEY) == []


# ----------------------------------------------------------------------------- the index


def test_value_tokens_per_category():
    assert value_tokens("name", NAME) == {"qzcanary", "vexlerow", "qzcanaryvexlerowscan"}
    assert value_tokens("identifier", MRN) == {"cnryscan7f3a"}
    assert value_tokens("phone", "+1 (617) 555-0142") == {"16175550142", "6175550142"}
    assert value_tokens("email", EMAIL) == {"canaryscanexampleinvalid", "canaryscan"}
    assert value_tokens("address", STREET) == {"12canaryplumeln", "canaryplumeln"}
    assert value_tokens("birth_date", "1931-07-04") == {"19310704", "07041931"}
    assert value_tokens("birth_date", "1931") == set()  # partial dates are not identifying


def test_the_index_holds_no_raw_value_and_no_key(index):
    table = index.table()
    assert table.schema.names == ["hash", "category"]
    assert set(table["category"].to_pylist()) <= set(CATEGORIES)
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in table["hash"].to_pylist())
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    dump = buffer.getvalue() + repr(index).encode() + repr(table.schema.metadata).encode()
    for needle in [*CANARIES, *RAW_FORMS, "Zoëlle", "zoelle", "Maidenquill", "1931"]:
        assert needle.encode() not in dump and needle.lower().encode() not in dump
    assert KEY not in dump and KEY.hex().encode() not in dump
    assert repr(index) == f"TokenIndex({len(index)} entries)"


def test_hashes_are_hmac_sha256_of_the_normalised_token():
    expected = hmac.new(KEY, b"leakscan/v1\x1fqzcanary", hashlib.sha256).hexdigest()[:32]
    assert TokenHasher(KEY).digest("qzcanary") == expected
    long_key = bytes(range(100))
    expected = hmac.new(long_key, "leakscan/v1\x1fzoë".encode(), hashlib.sha256).hexdigest()[:32]
    assert TokenHasher(long_key).digest("zoë") == expected
    raw = pa.array(["ZOËLLE", "the", None, "5550142"])
    hasher = TokenHasher(KEY)
    assert hasher.digest_raw(raw).to_pylist() == [
        hasher.digest("zoelle"),
        None,
        None,
        hasher.digest("5550142"),
    ]
    assert repr(hasher) == "TokenHasher()"


def test_unknown_category_is_refused_without_echoing_the_value():
    with pytest.raises(ValueError) as info:
        TokenIndex(KEY).add("nickname", NAME)
    assert "nickname" in str(info.value) and "Qzcanary" not in str(info.value)


def test_blank_values_add_nothing():
    index = TokenIndex(KEY)
    assert index.add("name", None) == index.add("name", "  ") == 0
    assert index.add_patient({"resourceType": "Patient"}) == 0
    assert len(index) == 0


def test_index_is_kept_in_the_vault_merged_and_tied_to_its_key(tmp_path, index):
    vault = tmp_path / "vault"
    vault.mkdir()
    assert read_token_index(vault, KEY) is None
    path = write_token_index(vault, index)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token_index(vault, OTHER_KEY) is None  # a new key epoch starts a new index
    loaded = read_token_index(vault, KEY)
    assert loaded.table().equals(index.table())
    tonight = TokenIndex(KEY)
    tonight.add("name", "Newpatientqz")
    loaded.merge(tonight)
    loaded.merge(index)  # merging twice changes nothing
    assert len(loaded) == len(index) + 1
    assert found(loaded, "Newpatientqz") == {"name"}
    with pytest.raises(ValueError, match="different keys"):
        loaded.merge(TokenIndex(OTHER_KEY))


# ------------------------------------------------------------------------------- text scans


def test_scan_texts_counts_texts_per_location_and_category_without_values(index):
    hits = scan_texts(
        [
            ("log:prefect", "INFO run started"),
            ("log:prefect", f"ERROR could not parse {MRN!r} for qzcanary"),
            ("log:prefect", f"retry {MRN}"),
            ("report:run.json", '{"status": "succeeded", "files": 3}'),
            ("exception", f"KeyError: '{PHONE}'"),
        ],
        index,
        KEY,
    )
    assert hits == [
        Hit("log:prefect", "identifier", 2),
        Hit("log:prefect", "name", 1),
        Hit("exception", "phone", 1),
    ]
    text = repr(hits)
    assert not [needle for needle in [*CANARIES, *RAW_FORMS] if needle in text]


def test_scan_texts_refuses_another_key(index):
    with pytest.raises(ValueError, match="not the key") as info:
        scan_texts([("log", NAME)], index, OTHER_KEY)
    assert KEY.hex() not in str(info.value) and "Qzcanary" not in str(info.value)
