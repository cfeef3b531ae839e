"""NDJSON adapter: true line numbers, gzip, malformed lines that never stop the file."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import SAMPLE_EXPORT
from transforms.sources import ndjson_source
from transforms.sources.ndjson_source import read_ndjson

CANARY = "Qzcanary Vexlerow-ndjson"


@pytest.fixture(params=["orjson", "json"])
def decoder(request, monkeypatch):
    """Run a test with orjson (the default) and with the standard-library fallback."""
    if request.param == "json":
        monkeypatch.setattr(ndjson_source, "json_loads", json.loads)
    return request.param


def resource_line(resource_id: str, resource_type: str = "Patient") -> bytes:
    return json.dumps({"resourceType": resource_type, "id": resource_id}).encode() + b"\n"


def write(path, data: bytes):
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


BLANKS = (
    resource_line("a")  # line 1
    + b"\n"  # 2: blank
    + b"   \t\n"  # 3: whitespace only
    + resource_line("b")  # 4
    + b'{"resourceType": "Patient", "id": "c"}\r\n'  # 5: CRLF
    + b"\r\n"  # 6: blank CRLF
    + b'{"resourceType": "Patient", "id": "d"}'  # 7: no final newline
)


@pytest.mark.parametrize("name", ["Patient.000.ndjson", "Patient.000.ndjson.gz"])
def test_line_numbers_are_true_file_lines_with_blank_lines(tmp_path, decoder, name):
    records = list(read_ndjson(write(tmp_path / name, BLANKS)))

    assert [(r.line, r.resource["id"]) for r in records] == [(1, "a"), (4, "b"), (5, "c"), (7, "d")]
    assert all(r.error is None and r.element is None for r in records)


MALFORMED = (
    resource_line("first")  # 1
    + b'{"resourceType": "Patient", "id": "'
    + CANARY.encode()
    + b'"\n'  # 2: truncated JSON
    + b'["'
    + CANARY.encode()
    + b'"]\n'  # 3: JSON, not an object
    + b'{"id": "'
    + CANARY.encode()
    + b'"}\n'  # 4: no resourceType
    + b'{"resourceType": 7, "id": "x"}\n'  # 5: resourceType not a string
    + b'{"resourceType": "", "id": "x"}\n'  # 6: empty resourceType
    + b"\xff\xfe"
    + CANARY.encode()
    + b"\n"  # 7: not UTF-8
    + b"\n"  # 8: blank
    + resource_line("after-1")  # 9
    + resource_line("after-2", "Encounter")  # 10
)


@pytest.mark.parametrize("name", ["x.ndjson", "x.ndjson.gz"])
def test_malformed_lines_give_error_records_and_the_rest_is_read(tmp_path, decoder, name):
    records = list(read_ndjson(write(tmp_path / name, MALFORMED)))

    assert [r.line for r in records] == [1, 2, 3, 4, 5, 6, 7, 9, 10]
    errors = {r.line: r.error for r in records if r.resource is None}
    utf8_error = "JSONDecodeError" if decoder == "orjson" else "UnicodeDecodeError"
    assert errors == {
        2: "JSONDecodeError",
        3: "NotAnObject",
        4: "MissingResourceType",
        5: "MissingResourceType",
        6: "MissingResourceType",
        7: utf8_error,
    }
    assert {r.element for r in records if r.resource is None} == {"line"}
    assert [r.resource["id"] for r in records if r.resource is not None] == [
        "first",
        "after-1",
        "after-2",
    ]
    # Error records carry the class and the element only, never the line's content.
    assert CANARY not in repr([r for r in records if r.resource is None])


def test_damaged_gzip_keeps_what_was_read_and_ends_with_a_file_error(tmp_path):
    lines = b"".join(resource_line(f"p{i}") for i in range(2000))
    path = tmp_path / "Patient.000.ndjson.gz"
    path.write_bytes(gzip.compress(lines)[:-200])

    records = list(read_ndjson(path))

    *resources, last = records
    assert resources, "the lines before the damage are returned"
    assert [r.line for r in resources] == list(range(1, len(resources) + 1))
    assert all(r.resource is not None for r in resources)
    assert (last.line, last.resource, last.error, last.element) == (
        len(resources) + 1,
        None,
        "EOFError",
        "file",
    )


def test_utf8_byte_order_mark_on_the_first_line_is_ignored(tmp_path):
    path = write(tmp_path / "x.ndjson", b"\xef\xbb\xbf" + resource_line("a") + resource_line("b"))

    assert [(r.line, r.resource["id"]) for r in read_ndjson(path)] == [(1, "a"), (2, "b")]


def test_reading_is_lazy(tmp_path):
    path = write(tmp_path / "x.ndjson", resource_line("a") + b"not json\n")
    records = read_ndjson(path)

    assert next(records).resource == {"resourceType": "Patient", "id": "a"}
    assert next(records).error == "JSONDecodeError"
    assert next(records, None) is None


def test_sample_export_every_line_is_a_resource_of_the_file_type():
    files = sorted(SAMPLE_EXPORT.glob("*.000.ndjson"))
    assert len(files) == 13
    total = 0
    for path in files:
        records = list(read_ndjson(path))
        line_count = sum(1 for line in path.read_bytes().splitlines() if line.strip())
        assert [r.line for r in records] == list(range(1, line_count + 1)), path.name
        expected_type = path.name.split(".")[0]
        assert {r.resource["resourceType"] for r in records} == {expected_type}
        total += len(records)
    assert total == 7160  # architecture.md section 6
