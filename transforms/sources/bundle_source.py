"""FHIR Bundle adapter: entries as resources, with Bundle-internal references made relative."""

from __future__ import annotations

import codecs
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from .ndjson_source import NOT_AN_OBJECT, json_loads, resource_shape_error
from .records import SourceRecord

__all__ = ["SUPPORTED_BUNDLE_TYPES", "derived_id", "read_bundle"]

SUPPORTED_BUNDLE_TYPES = frozenset({"transaction", "batch", "collection", "searchset"})

# Requests that carry no resource to load (reads, and deletes, which the pipeline does not apply:
# bulk exports' deleted/ folders are skipped the same way).
_METHODS_WITHOUT_RESOURCE = frozenset({"GET", "HEAD", "DELETE"})
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# An absolute RESTful URL: [base]/Type/id, optionally with /_history/version.
_RESTFUL_URL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def _error(line: int, error: str, element: str) -> SourceRecord:
    return SourceRecord(line, None, error=error, element=element)


def derived_id(full_url: str) -> str:
    """A deterministic resource id for an entry that has a fullUrl but no ``id``.

    ``urn:uuid:<uuid>`` gives the uuid, ``urn:oid:<oid>`` the oid and a RESTful URL its id
    segment; anything else, or a part that is not a valid FHIR id, gives a UUID-5 of the URL.

    Args:
        full_url: the entry's fullUrl.
    """
    lowered = full_url.lower()
    candidate = None
    if lowered.startswith(("urn:uuid:", "urn:oid:")):
        candidate = full_url.split(":", 2)[2]
    elif match := _RESTFUL_URL.search(full_url):
        candidate = match.group(2)
    if candidate and _FHIR_ID.fullmatch(candidate):
        return candidate
    return str(uuid.uuid5(uuid.NAMESPACE_URL, full_url))


def _rewrite_references(resource: dict, targets: dict[str, str]) -> None:
    """Replace every ``reference`` equal to an entry's fullUrl by ``Type/id``, in place.

    The walk covers the whole resource (contained resources, extensions, backbone elements). A
    few FHIR ``uri`` elements are also named ``reference``; one equal to an entry's fullUrl points
    at that entry too, so rewriting it is still right. An explicit stack: JSON can nest deeper
    than Python's recursion limit.
    """
    stack: list[dict | list] = [resource]
    pop = stack.pop
    push = stack.append
    # Exact type checks and bound methods: this loop visits every node of every resource and
    # decoded JSON holds plain dicts and lists only.
    while stack:
        node = pop()
        if type(node) is dict:
            reference = node.get("reference")
            if type(reference) is str and reference in targets:
                node["reference"] = targets[reference]
            children = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                push(child)


def _entries(bundle: dict) -> tuple[list[SourceRecord], dict[str, str]]:
    """The entries to yield, in order, and the fullUrl -> ``Type/id`` map of the Bundle."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return [_error(0, "NotAList", "entry")], {}
    searchset = bundle.get("type") == "searchset"
    records: list[SourceRecord] = []
    targets: dict[str, str] = {}
    for index, entry in enumerate(entries):
        line = index + 1  # SourceRecord.line is 1-based; element paths keep FHIRPath's 0-based
        if not isinstance(entry, dict):
            records.append(_error(line, NOT_AN_OBJECT, f"entry[{index}]"))
            continue
        search = entry.get("search")
        if searchset and isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # the server's OperationOutcome about the search, not data
        request = entry.get("request")
        method = request.get("method") if isinstance(request, dict) else None
        if not isinstance(method, str):
            method = None
        if method == "PATCH":
            # The resource of a PATCH entry is the patch document, not the patched resource.
            records.append(_error(line, "UnsupportedRequestMethod", f"entry[{index}].request"))
            continue
        resource = entry.get("resource")
        if resource is None and method in _METHODS_WITHOUT_RESOURCE:
            continue
        if resource is None:
            records.append(_error(line, "MissingResource", f"entry[{index}].resource"))
            continue
        shape_error = resource_shape_error(resource)
        if shape_error is not None:
            records.append(_error(line, shape_error, f"entry[{index}].resource"))
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            resource_id = resource.get("id")
            if resource_id is None:
                resource_id = resource["id"] = derived_id(full_url)
            # A non-string id is left for structural validation to report, and not linked.
            if isinstance(resource_id, str):
                # The first entry wins if a fullUrl repeats (invalid outside history Bundles).
                targets.setdefault(full_url, f"{resource['resourceType']}/{resource_id}")
        records.append(SourceRecord(line, resource))
    return records, targets


def read_bundle(path: Path) -> Iterator[SourceRecord]:
    """Yield the resources of a FHIR Bundle file, or the single resource a JSON file holds.

    Bundle types transaction, batch, collection and searchset are read; ``line`` is the 1-based
    entry number. References equal to an entry's fullUrl (``urn:uuid:``, ``urn:oid:`` or absolute)
    become ``Type/id`` of that entry's resource, anywhere in every resource; an entry without an
    ``id`` gets one derived from its fullUrl (see ``derived_id``). Searchset ``outcome`` entries
    and entries of GET, HEAD or DELETE requests without a resource are skipped. Undecodable input
    gives error records whose ``element`` is a path in the Bundle (FHIRPath, 0-based: entry 4 is
    ``entry[3]``): ``entry[3].resource`` for a malformed entry, ``type`` (line 0) for an
    unsupported Bundle type; ``file`` (line 0) for a file that is not a JSON object. The file is
    decoded whole: a Bundle is one JSON document.

    Args:
        path: the JSON file.
    """
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):  # written by some Windows tools; not valid JSON
        data = data[len(codecs.BOM_UTF8) :]
    try:
        document = json_loads(data)
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError under json
        yield _error(0, type(exc).__name__, "file")
        return
    shape_error = resource_shape_error(document)
    if shape_error is not None:
        yield _error(0, shape_error, "file")
        return
    if document["resourceType"] != "Bundle":
        yield SourceRecord(1, document)
        return
    bundle_type = document.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in SUPPORTED_BUNDLE_TYPES:
        # The type is not echoed: outside the value set it is arbitrary text.
        yield _error(0, "UnsupportedBundleType", "type")
        return
    records, targets = _entries(document)
    for record in records:
        if record.resource is not None and targets:
            _rewrite_references(record.resource, targets)
        yield record
