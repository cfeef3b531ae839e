"""Leak-scan token index and tokeniser: keyed hashes of patients' identifying tokens, text scans."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# --------------------------------------------------------------------------------- tokenising
#
# Both tokenisers (candidate_tokens here, the SQL of warehouse/leak_scan.py) build the same raw
# candidates from these patterns, then normalise and filter them with the same Python functions.
#
# Words: maximal runs of Unicode letters and digits. RE2 spells the class [\pL\pN]; Python's re has
# no \p{..}, and [^\W_] is the same set for every code point Python's Unicode database assigns.
WORD_PATTERN_SQL = r"[\pL\pN]+"
WORD_PATTERN = r"[^\W_]+"
DIGITS_PATTERN = "[0-9]+"
# What may separate the digit groups of one number: "(617) 555-0142", "666 12 3456", "555.0142".
# Not ':' or ',' or a line break: times and lists of numbers must not merge into one.
JOIN_PATTERN = "[ \u00a0._()+/\u2010-\u2015\u2212-]{1,3}"
# Candidates join up to this many consecutive words: an MRN, a phone number or an e-mail address is
# found whatever punctuation surrounds and splits it (a UUID has 5 groups, an e-mail often 4-5).
MAX_WINDOW = 6
# A candidate with a letter must have this many characters (ideographs count twice); a candidate of
# ASCII digits needs MIN_DIGITS: shorter numbers (ZIP5, doses, codes) are everywhere in clinical data.
MIN_CHARACTERS = 4
MIN_DIGITS = 7

_WORD = re.compile(WORD_PATTERN)
_DIGITS = re.compile(DIGITS_PATTERN)
_JOIN = re.compile(JOIN_PATTERN)
_WIDE_CHARACTERS = "\u2e80"  # CJK radicals onwards (ideographs, kana, Hangul): 2 each
_FULL_DATE = re.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})")

# Words that occur in de-identified data (code displays, states, statuses, URLs, the audit tables),
# so that a patient whose name, street or city is one of them would fail every run. Each is given
# up as a single-word token only: a full name, a street line or an identifier containing it is
# still indexed joined ("janewhite", "12whiteoakln"). Normalised (see normalise_token), and at
# least MIN_CHARACTERS long: shorter words are never tokens anyway. Adding a word is a reviewed
# code change; it takes effect on the next scan, also for indexes already in the vault.
_STOP_GROUPS = {
    "common English words": """
        about above across after again against along also among another area around away back
        based because been before being below best better between both call came case change
        child children city clear close come common could county cross daily dear does doing
        done down during each early east either else even ever every fall family field fine
        first five form four free from full further given good great half hall hand hard have
        having head health hear help here high hill home hope house however hundred into just
        keep kind king land large last late left less life light like line little live long look
        lord lower made main major make many mark mean meet mind miss more most move much must
        name near need never next night none normal north nothing number often only open other
        over page part past place plain point poor power present price prince rather read real
        right river road rock rose round same says school second seen self send service several
        shall short should show side since single small some something south spring stand state
        still stone street such summer sure take than that their them then there these they thing
        think this those though three through time today together total town true under unit
        upon very walk wall want well were west what when where which while white whole will
        winter with within without wood work world would year years young your
    """,
    "nature, colours, calendar (also given names, surnames, streets)": """
        abbey amber april august autumn avenue bank banks beach bell berry black bloom blue brook
        brooks brown burns chase cherry clay coral court crystal daisy dale dawn december drive
        february fields forest friday gold golden grace grant gray green grey grove hazel heath
        holly honey iris ivory jade january jasper july june lake lane lily march marsh meadow
        monday moon olive park pearl pepper pike pine rain ridge rivers ruby saturday september
        silver snow star stars storm sunday thursday tuesday valley violet waters wednesday wells
        woods
    """,
    "relations and titles": """
        mister misses madam doctor prof professor junior senior saint sister brother father
        mother husband wife daughter spouse partner guardian parent friend neighbor nurse unknown
    """,
    "states, territories, countries (kept in the warehouse)": """
        alabama alaska arizona arkansas california colorado connecticut delaware florida georgia
        hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts
        michigan minnesota mississippi missouri montana nebraska nevada hampshire jersey mexico
        york carolina dakota ohio oklahoma oregon pennsylvania rhode island tennessee texas utah
        vermont virginia washington wisconsin wyoming district columbia puerto rico guam samoa
        virgin islands northern mariana america american canada united states kingdom england
    """,
    "race, ethnicity, marital status displays": """
        asian african indian native hawaiian pacific islander latino latina hispanic race
        ethnicity caucasian married divorced widowed separated
    """,
    "eponyms and places in disease names": """
        addison alzheimer apgar asperger baker barre barrett behcet bowen buerger burkitt charcot
        christmas colles crohn cushing ewing fallot fisher frank gehrig gilbert glasgow gleason
        graves guillain hashimoto hodgkin hunter huntington johnson kaposi kawasaki klinefelter
        legg lyme marfan marie meniere miller norwalk osgood paget parkinson perthes raynaud
        reiter reye schlatter sjogren stevens sachs tooth tourette turner walker whipple wilms
        wilson wolff coxsackie nile zika ebola marburg lassa rocky mountain
    """,
    "drug brands that read as given names (RxNorm displays keep them)": """
        alli alora altavera amethia amethyst apri ashlyna aubra aurovela aviane ayuna briellyn
        camila camrese daysee delyla dotti elinest ella errin estarylla gianvi hailey heather
        jasmiel jencycla jolessa junel kalliga kariva kyleena larin larissia lessina levora
        liletta lillow loryna lyrica lyza marlissa marzia mili mirena natazia nikki nora ocella
        philith portia sharobel skyla syeda tarina tilia trinessa tulana vestura vienva viorele
        wera yasmin zarah
    """,
    "clinical vocabulary": """
        acute chronic disease disorder syndrome finding procedure injury pain blood body mass
        weight height heart rate pressure level score count test screening examination review
        visit check care adult general clinic hospital office emergency urgent ambulatory
        inpatient outpatient patient encounter observation condition medication allergy allergic
        tablet capsule oral solution injection dose hour hours extended release spray cream
        patch vaccine influenza seasonal stroke sugar salt fish rice bean beans corn wheat peanut
        shellfish pollen grass dust mould mold dander latex cotton ginger basil sage rosemary
        mustard salmon newborn whitehead beck sharp gross scan foot face neck knee bone chill
    """,
    "code systems, FHIR, the scan's own categories": """
        http https html info fhir snomed loinc rxnorm terminology codesystem valueset extension
        system code display status active final completed stopped resolved confirmed entered
        error cancelled amended preliminary unconfirmed official usual temp identifier phone
        email contact address postal birth date control note text answer bundle local narrative
        dosage instruction annotation practitioner resource reference entry item value meta
        source device file filename
    """,
}
STOP_WORDS = frozenset(word for words in _STOP_GROUPS.values() for word in words.split())


def normalise_token(raw: str) -> str:
    """Case- and accent-insensitive form of a raw candidate: the form that is hashed.

    Compatibility decomposition (NFKD) with combining marks removed, recomposed (NFKC) and
    case-folded: "Zoë", "ZOE", "Zoe" with a combining diaeresis and "Zoe" in full-width letters
    are equal.

    Args:
        raw: a raw candidate (one or more joined words).
    """
    if raw.isascii():  # the common case: nothing to decompose
        return raw.lower()
    decomposed = unicodedata.normalize("NFKD", raw)
    stripped = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return unicodedata.normalize("NFKC", stripped).casefold()


def keep_token(token: str) -> bool:
    """Whether a normalised token is specific enough to be indexed and looked up.

    ASCII digit strings need MIN_DIGITS digits; anything else MIN_CHARACTERS characters
    (ideographs, kana and Hangul count twice) and must not be a stop word.

    Args:
        token: a normalised token.
    """
    if token in STOP_WORDS:
        return False
    if token.isascii():  # the common case: no wide characters to weigh
        return len(token) >= (MIN_DIGITS if token.isdigit() else MIN_CHARACTERS)
    return sum(2 if c >= _WIDE_CHARACTERS else 1 for c in token) >= MIN_CHARACTERS


def raw_candidates(text: str) -> list[str]:
    """The raw (not yet normalised) candidates of a text, in order, as the SQL tokeniser makes them.

    The text is cut into words (letters and digits). Candidates are the concatenations of 1 to
    MAX_WINDOW consecutive words:
      - every window that holds a word other than ASCII digits ("Vexlerow", "cnryscan7f3a" from
        "CNRY-scan-7F3A" in a URL);
      - of windows of ASCII-digit words, single words and maximal runs of words separated by
        JOIN_PATTERN ("6175550142" from "(617) 555-0142"), so that dates, times and lists of
        codes do not yield every number that can be cut out of them.

    Args:
        text: any text.
    """
    words = _WORD.findall(text)
    separators = _WORD.split(text)  # separators[k] precedes words[k]; one more than the words
    digits = [_DIGITS.fullmatch(w) is not None for w in words]
    joined = [
        digits[k] and digits[k + 1] and _JOIN.fullmatch(separators[k + 1]) is not None
        for k in range(len(words) - 1)
    ]
    candidates = []
    for start in range(len(words)):
        for end in range(start, min(start + MAX_WINDOW, len(words))):
            if (
                start == end
                or not all(digits[start : end + 1])
                or (
                    all(joined[start:end])
                    and (start == 0 or not joined[start - 1])
                    and (end == len(words) - 1 or not joined[end])
                )
            ):
                candidates.append("".join(words[start : end + 1]))
    return candidates


def candidate_tokens(text: str) -> list[str]:
    """The distinct normalised tokens of a text that are looked up in the index, in order.

    Args:
        text: any scanned text: a column value, a report or log line, an exception message.
    """
    tokens = dict.fromkeys(normalise_token(raw) for raw in raw_candidates(text))
    return [token for token in tokens if keep_token(token)]


# ------------------------------------------------------------------------------------ hashing

_DOMAIN = b"leakscan/v1\x1f"
DIGEST_HEX_CHARS = 32  # 128 bits: no accidental collision between millions of tokens
_SHA256_BLOCK = 64


def _key_check(key: bytes) -> str:
    return hmac.new(key, b"leakscan/v1/key-check", hashlib.sha256).hexdigest()[:16]


class TokenHasher:
    """``hex(HMAC-SHA256(scan_key, "leakscan/v1" 0x1F normalised_token))[:32]``.

    The category is not part of the hashed message: a scanned token is hashed once, not once per
    category, and the index keeps the category beside the hash. RFC 2104 spelled out with the
    key schedule and the prefix hashed once: a third faster per token than ``hmac.HMAC.copy``,
    which matters for millions of tokens; equal to ``hmac.new`` (tested).
    """

    def __init__(self, key: bytes):
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._inner.update(_DOMAIN)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __repr__(self) -> str:
        return "TokenHasher()"

    def digest(self, token: str) -> str:
        """The hex digest of a normalised token."""
        inner = self._inner.copy()
        inner.update(token.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:DIGEST_HEX_CHARS]

    def digest_raw(self, raw: pa.Array) -> pa.Array:
        """Digests of raw candidates (normalised here); NULL where the token is not kept.

        The vectorised kernel of the warehouse scan's SQL function.

        Args:
            raw: a string array of raw candidates.
        """
        out = []
        for value in raw.to_pylist():
            token = None if value is None else normalise_token(value)
            out.append(self.digest(token) if token is not None and keep_token(token) else None)
        return pa.array(out, pa.string())


# -------------------------------------------------------------------------------------- index

CATEGORIES = (
    "name",
    "identifier",
    "ssn",
    "phone",
    "email",
    "contact",
    "address",
    "city",
    "postal_code",
    "birth_date",
    "control",  # the scan's own positive control (warehouse/leak_scan.py)
)
INDEX_SCHEMA = pa.schema([("hash", pa.string()), ("category", pa.string())])
INDEX_FILE = "leak_scan_index.parquet"
_SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
_MAIDEN_NAME_URL = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
_BIRTH_PLACE_URL = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
_TELECOM_CATEGORY = {
    "phone": "phone",
    "fax": "phone",
    "sms": "phone",
    "pager": "phone",
    "email": "email",
}


def _windows(words: list[str]) -> Iterator[list[str]]:
    """The whole value, or every MAX_WINDOW-word window of a longer one (the longest candidates)."""
    width = min(len(words), MAX_WINDOW)
    for start in range(len(words) - width + 1):
        yield words[start : start + width]


def value_tokens(category: str, value: str) -> set[str]:
    """The normalised tokens that identify ``value``, as scanned text yields them.

    Every value gives its joined words (the whole value, or each MAX_WINDOW-word window of a longer
    one) and its digit runs (as candidate_tokens cuts them). Per category:
      - name: also each word ("Vexlerow", "scan" of "Vexlerow-scan");
      - phone: also the 10-digit national number of an 11-digit number starting with 1;
      - email: also the local part ("canaryscan" of "canary.scan@example.invalid");
      - address: also the line without its leading house number ("canaryplumeln");
      - birth_date (ISO YYYY-MM-DD only): YYYYMMDD and MMDDYYYY, as "1970-01-31" and
        "01/31/1970" are found.
    Then only tokens that pass keep_token.

    Args:
        category: one of CATEGORIES.
        value: the identifier as the source holds it.
    """
    words = _WORD.findall(value)
    raw = {"".join(window) for window in _windows(words)}
    raw.update(c for c in raw_candidates(value) if _DIGITS.fullmatch(c))
    if category == "name":
        raw.update(words)
    elif category == "phone":
        raw.update(r[1:] for r in list(raw) if len(r) == 11 and r.startswith("1") and r.isdigit())
    elif category == "email" and "@" in value:
        raw.add("".join(_WORD.findall(value.rsplit("@", 1)[0])))
    elif category == "address" and len(words) > 1 and _DIGITS.fullmatch(words[0]):
        raw.update("".join(window) for window in _windows(words[1:]))
    elif category == "birth_date":
        date = _FULL_DATE.fullmatch(value.strip())
        raw = {"".join(date.groups()), date[2] + date[3] + date[1]} if date else set()
    tokens = {normalise_token(r) for r in raw}
    return {token for token in tokens if keep_token(token)}


class TokenIndex:
    """Keyed hashes of the identifying tokens of the input's patients, with their category.

    Built inside the PHI zone; holds no raw value, only ``(hash, category)`` rows. Kept in the
    vault between runs (write_token_index) so that one scan covers every patient ever loaded.
    The scan key is held for adding tokens; ``repr`` shows only the size.

    Args:
        key: the scan sub-key (``DeidKeys.scan_index``).
        table: rows of an earlier index built with the same key (see read_token_index).
    """

    def __init__(self, key: bytes, table: pa.Table | None = None):
        self._hasher = TokenHasher(key)
        self.key_check = _key_check(key)
        self._tables = (
            [] if table is None else [table.select(INDEX_SCHEMA.names).cast(INDEX_SCHEMA)]
        )
        self._pending: set[tuple[str, str]] = set()
        self._table: pa.Table | None = None

    def __repr__(self) -> str:
        return f"TokenIndex({len(self)} entries)"

    def __len__(self) -> int:
        return self.table().num_rows

    def matches_key(self, key: bytes) -> bool:
        """Whether ``key`` is the key this index was built with."""
        return hmac.compare_digest(self.key_check, _key_check(key))

    def add(self, category: str, value: str | None) -> int:
        """Index one identifier (a FHIR element value or a CSV direct-identifier cell).

        Args:
            category: one of CATEGORIES (reported for hits, never the value).
            value: the raw value; None or blank adds nothing.

        Returns:
            The number of tokens the value yielded (before de-duplication against the index).
        """
        if category not in CATEGORIES:
            raise ValueError(f"unknown leak-scan category {category!r}; use one of {CATEGORIES}")
        if not isinstance(value, str) or not value.strip():
            return 0
        tokens = value_tokens(category, value)
        self._pending.update((self._hasher.digest(token), category) for token in tokens)
        self._table = None
        return len(tokens)

    def add_patient(self, resource: Mapping) -> int:
        """Index a FHIR R4 Patient: names, identifiers, id, telecom, addresses, birth date, contacts.

        Contacts (next of kin) give names, telecom and addresses too; the mother's maiden name
        and birth place extensions are indexed as a name and an address.

        Args:
            resource: the Patient resource as parsed JSON.

        Returns:
            The number of tokens added (see add).
        """
        added = self.add("identifier", resource.get("id"))
        for identifier in _elements(resource, "identifier"):
            ssn = identifier.get("system") == _SSN_SYSTEM or any(
                coding.get("code") == "SS"
                for types in _elements(identifier, "type")
                for coding in _elements(types, "coding")
            )
            added += self.add("ssn" if ssn else "identifier", identifier.get("value"))
        added += self.add("birth_date", resource.get("birthDate"))
        # Patient.name and .address are lists; Patient.contact.name and .address single elements
        for person in [resource, *_elements(resource, "contact")]:
            for name in _elements(person, "name"):
                added += self._add_name(name)
            for telecom in _elements(person, "telecom"):
                category = _TELECOM_CATEGORY.get(telecom.get("system"), "contact")
                added += self.add(category, telecom.get("value"))
            for address in _elements(person, "address"):
                added += self._add_address(address)
        for extension in _elements(resource, "extension"):
            if extension.get("url") == _MAIDEN_NAME_URL:
                added += self.add("name", extension.get("valueString"))
            elif extension.get("url") == _BIRTH_PLACE_URL:
                for address in _elements(extension, "valueAddress"):
                    added += self._add_address(address)
        return added

    def _add_name(self, name: Mapping) -> int:
        given = [g for g in name.get("given") or [] if isinstance(g, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else None
        added = sum(self.add("name", part) for part in [*given, family, name.get("text")])
        if given and family:  # short names ("Li", "Kim Lee") are found written in full
            added += self.add("name", f"{given[0]} {family}")
            added += self.add("name", f"{family} {given[0]}")
        return added

    def _add_address(self, address: Mapping) -> int:
        lines = [line for line in address.get("line") or [] if isinstance(line, str)]
        added = sum(self.add("address", line) for line in lines)
        added += self.add("address", address.get("text"))
        added += self.add("address", address.get("district"))
        added += self.add("city", address.get("city"))
        return added + self.add("postal_code", address.get("postalCode"))

    def merge(self, other: TokenIndex) -> None:
        """Add every entry of ``other`` (built with the same key).

        Raises:
            ValueError: ``other`` was built with another key.
        """
        if other.key_check != self.key_check:
            raise ValueError("cannot merge token indexes built with different keys")
        self._tables.append(other.table())
        self._table = None

    def table(self) -> pa.Table:
        """The index: distinct ``(hash, category)`` rows, sorted; the key check in the metadata."""
        if self._table is None:
            pending = sorted(self._pending)
            parts = [
                *self._tables,
                pa.table(
                    [
                        pa.array([h for h, _ in pending], pa.string()),
                        pa.array([c for _, c in pending], pa.string()),
                    ],
                    schema=INDEX_SCHEMA,
                ),
            ]
            rows = pa.concat_tables(parts).group_by(INDEX_SCHEMA.names).aggregate([])
            rows = rows.select(INDEX_SCHEMA.names).sort_by(
                [("hash", "ascending"), ("category", "ascending")]
            )
            self._table = rows.replace_schema_metadata({"key_check": self.key_check})
            self._tables, self._pending = [self._table], set()
        return self._table

    def lookup(self, digests: Iterable[str]) -> dict[str, set[str]]:
        """The categories of those ``digests`` that are in the index.

        Args:
            digests: hex digests of scanned tokens.
        """
        wanted = pa.array(set(digests), pa.string())
        table = self.table()
        found = table.filter(pc.is_in(table["hash"], value_set=wanted)).to_pylist()
        result: dict[str, set[str]] = {}
        for row in found:
            result.setdefault(row["hash"], set()).add(row["category"])
        return result


def _elements(element: Mapping, name: str) -> list[Mapping]:
    """The complex children called ``name``, whether the element holds a list or a single one."""
    value = element.get(name)
    children = value if isinstance(value, list) else [value]
    return [child for child in children if isinstance(child, Mapping)]


def write_token_index(vault: Path, index: TokenIndex) -> Path:
    """Replace the vault's token index atomically; the file is 0600 from its creation.

    Args:
        vault: the vault folder (beside the key and the patient index).
        index: the index to keep, usually the previous one merged with this run's.

    Returns:
        The index file's path.
    """
    path = vault / INDEX_FILE
    temporary = vault / f".{INDEX_FILE}.tmp"
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        pq.write_table(index.table(), handle)
    temporary.replace(path)
    return path


def read_token_index(vault: Path, key: bytes) -> TokenIndex | None:
    """The vault's token index, or None when there is none or it was built with another key.

    A new key (epoch) needs a full refresh, which stages every input again and rebuilds the index.

    Args:
        vault: the vault folder.
        key: the scan sub-key.
    """
    path = vault / INDEX_FILE
    if not path.is_file():
        return None
    table = pq.read_table(path)
    if (table.schema.metadata or {}).get(b"key_check", b"").decode() != _key_check(key):
        return None
    return TokenIndex(key, table)


# -------------------------------------------------------------------------------------- texts


class Hit(NamedTuple):
    """Identifier tokens found at a location: how many texts (rows, lines) held that category."""

    location: str
    category: str
    count: int


@dataclass(frozen=True)
class LocationScan:
    """The value-free result for one scanned location (a column, a file, an exception).

    Attributes:
        location: ``schema.table.column``, or a label given by the caller (``file:report``).
        rows_scanned: non-NULL values, or texts (lines) scanned.
        tokens_checked: distinct candidate tokens looked up.
        hits: values or texts holding at least one indexed token.
        hits_by_category: per category, the values or texts holding a token of it.
    """

    location: str
    rows_scanned: int
    tokens_checked: int
    hits: int
    hits_by_category: Mapping[str, int] = field(default_factory=dict)


SCAN_BATCH = 50_000  # texts hashed and looked up together: bounded memory for long logs


def scan_locations(
    texts: Iterable[tuple[str, str]], index: TokenIndex, key: bytes
) -> list[LocationScan]:
    """Look up every text's candidate tokens in the index; one value-free result per location.

    Args:
        texts: ``(location, text)`` pairs; a location may repeat (the lines of one log file).
        index: the token index.
        key: the scan sub-key the index was built with.

    Raises:
        ValueError: ``key`` is not the index's key (the scan would find nothing).
    """
    if not index.matches_key(key):
        raise ValueError("the scan key is not the key the token index was built with")
    hasher = TokenHasher(key)
    rows: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    by_category: dict[str, Counter[str]] = {}
    checked: dict[str, set[str]] = {}
    iterator = iter(texts)
    while batch := list(islice(iterator, SCAN_BATCH)):
        tokens = [(location, candidate_tokens(text)) for location, text in batch]
        digests = {t: hasher.digest(t) for _, found in tokens for t in found}
        indexed = index.lookup(digests.values())
        for location, found in tokens:
            rows[location] += 1
            checked.setdefault(location, set()).update(digests[t] for t in found)
            categories = set().union(*(indexed.get(digests[t], set()) for t in found))
            if categories:
                hits[location] += 1
                by_category.setdefault(location, Counter()).update(categories)
    return [
        LocationScan(
            location,
            rows[location],
            len(checked[location]),
            hits[location],
            dict(sorted(by_category.get(location, Counter()).items())),
        )
        for location in rows
    ]


def scan_texts(texts: Iterable[tuple[str, str]], index: TokenIndex, key: bytes) -> list[Hit]:
    """The hits in reports, logs or exception messages: location, category and count, no value.

    Args:
        texts: ``(location, text)`` pairs; a location may repeat (the lines of one log file).
        index: the token index.
        key: the scan sub-key the index was built with.

    Returns:
        One Hit per location and category found; empty when nothing was found.
    """
    return [
        Hit(scan.location, category, count)
        for scan in scan_locations(texts, index, key)
        for category, count in scan.hits_by_category.items()
    ]
