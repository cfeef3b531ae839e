"""Input discovery: formats, hashes, type hints, skipped files, and hashed file names."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import unicodedata
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import SAMPLE_EXPORT
from transforms.sources import discover as discover_module
from transforms.sources.discover import discover, file_name_hash, resource_type_hint
from transforms.sources.records import SourceError

KEY = bytes(range(32))
CANARY = "Qzcanary Vexlerow-filename"

INBOX_FILES = {
    "Patient.000.ndjson": b'{"resourceType": "Patient", "id": "p"}\n',
    "Encounter.001.ndjson.gz": gzip.compress(b'{"resourceType": "Encounter"}\n', mtime=0),
    "b/transaction.json": b'{"resourceType": "Bundle", "type": "transaction"}',
    "b/Observation.json": b'{"resourceType": "Observation"}',
    "a/chart.csv": b"mrn,visit_date\n",
    "a/CAPS.NDJSON": b"",
    f"{CANARY}.ndjson": b"",  # a name that is not a resource type gives no hint
    "Quantity.000.ndjson": b"",  # a data type, not a resource type
    "log.ndjson": b'{"eventId": "kickoff"}\n',
    "deleted/Patient.000.ndjson": b'{"resourceType": "Bundle"}\n',
    "x/deleted/Encounter.000.ndjson": b"",
    ".hidden.ndjson": b"",
    ".cache/Patient.000.ndjson": b"",
    "README.md": b"notes",
    "b/export.json.gz": b"",
}


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    for relative, content in INBOX_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_discover_formats_hashes_hints_in_sorted_order(inbox):
    files, _ = discover(inbox)

    assert [(f.relative_path, f.format, f.resource_type) for f in files] == [
        ("Encounter.001.ndjson.gz", "ndjson", "Encounter"),
        ("Patient.000.ndjson", "ndjson", "Patient"),
        ("Quantity.000.ndjson", "ndjson", None),
        (f"{CANARY}.ndjson", "ndjson", None),
        ("a/CAPS.NDJSON", "ndjson", None),
        ("a/chart.csv", "csv", None),
        ("b/Observation.json", "bundle", "Observation"),
        ("b/transaction.json", "bundle", None),
    ]
    for input_file in files:
        content = INBOX_FILES[input_file.relative_path]
        assert input_file.path == inbox / input_file.relative_path
        assert input_file.sha256 == hashlib.sha256(content).hexdigest()
        assert input_file.size_bytes == len(content)


def test_discover_records_every_skipped_file_with_its_reason(inbox):
    result = discover(inbox)

    assert {(s.relative_path, s.reason) for s in result.skipped} == {
        ("log.ndjson", "export_log"),
        ("deleted/Patient.000.ndjson", "deleted"),
        ("x/deleted/Encounter.000.ndjson", "deleted"),
        (".hidden.ndjson", "hidden"),
        (".cache/Patient.000.ndjson", "hidden"),
        ("README.md", "unsupported_extension"),
        ("b/export.json.gz", "unsupported_extension"),
    }
    assert result.skipped_by_reason() == {
        "export_log": 1,
        "deleted": 2,
        "hidden": 2,
        "unsupported_extension": 2,
    }
    # Every file is either loaded or skipped.
    assert len(result.files) + len(result.skipped) == len(INBOX_FILES)


def test_hash_of_a_file_larger_than_the_read_chunk(tmp_path):
    content = bytes(range(256)) * 20_000  # 5 MB: several chunks
    (tmp_path / "Observation.000.ndjson").write_bytes(content)

    (input_file,) = discover(tmp_path).files

    assert input_file.sha256 == hashlib.sha256(content).hexdigest()
    assert input_file.size_bytes == len(content)


def test_discover_sample_export():
    result = discover(SAMPLE_EXPORT)

    assert len(result.files) == 13
    assert all(f.format == "ndjson" for f in result.files)
    assert [f.resource_type for f in result.files] == [
        f.relative_path.split(".")[0] for f in result.files
    ]
    assert result.skipped_by_reason() == {"export_log": 1, "unsupported_extension": 1}


def test_empty_inbox_and_missing_inbox(tmp_path):
    assert discover(tmp_path) == ([], [])
    with pytest.raises(NotADirectoryError):
        discover(tmp_path / "missing")


def test_unreadable_file_error_does_not_name_the_file(tmp_path, monkeypatch):
    (tmp_path / f"{CANARY}.ndjson").write_bytes(b"")

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(discover_module, "_hash_file", refuse)

    with pytest.raises(SourceError) as raised:
        discover(tmp_path)
    assert "inbox file 1" in str(raised.value)
    assert CANARY not in str(raised.value)
    assert raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Patient.000.ndjson", "Patient"),
        ("MedicationRequest.ndjson.gz", "MedicationRequest"),
        ("Bundle.json", "Bundle"),
        ("patient.000.ndjson", None),
        ("Smith.ndjson", None),
        ("Element.ndjson", None),
        ("Patient-export.ndjson", None),
    ],
)
def test_resource_type_hint_only_names_resource_types(name, hint):
    assert resource_type_hint(name) == hint


def test_file_name_hash_is_a_keyed_hmac_of_the_relative_name():
    name = f"site-a/{CANARY}.ndjson"
    expected = hmac.new(KEY, name.encode(), hashlib.sha256).hexdigest()[:16]

    assert file_name_hash(name, KEY) == expected
    assert file_name_hash(PurePosixPath(name), KEY) == expected
    assert file_name_hash(name, bytes(reversed(KEY))) != expected
    assert file_name_hash("site-a/other.ndjson", KEY) != expected
    assert len(expected) == 16 and CANARY.lower() not in expected


def test_file_name_hash_is_the_same_for_nfc_and_nfd_names():
    name = "Ren\u00e9e.ndjson"

    assert file_name_hash(unicodedata.normalize("NFD", name), KEY) == file_name_hash(name, KEY)


@pytest.mark.parametrize("key", [b"short", "a string key of more than thirty-two chars"])
def test_file_name_hash_refuses_a_weak_or_text_key(key):
    with pytest.raises(ValueError, match="32 bytes"):
        file_name_hash(Path("x.ndjson"), key)
