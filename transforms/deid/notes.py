"""Opt-in notes mode (deid.md section 6): decode text attachments, remove identifiers, shift dates."""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import ipaddress
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, ClassVar

SCRUBBER_VERSION = "notes-scrub/1"
"""Recorded with every scrubbed note; bump it whenever a rule below changes."""

SUPPORTED_MEDIA_TYPES = frozenset({"text/plain", "text/html", "text/rtf", "application/rtf"})
"""Media types notes mode decodes (application/rtf is the registered name of text/rtf)."""

# ====================================================================================== decoding


def media_type(content_type: str | None) -> str | None:
    """The lower-case ``type/subtype`` of a MIME content type, parameters removed."""
    if not isinstance(content_type, str):
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def is_supported(content_type: str | None) -> bool:
    """Whether notes mode decodes this content type (the caller drops and counts the others)."""
    return media_type(content_type) in SUPPORTED_MEDIA_TYPES


def decode_attachment(content_type: str | None, data_base64: str | None) -> str | None:
    """The text of a base64 attachment, or None when it cannot or must not be decoded.

    Args:
        content_type: the attachment's MIME type; ``charset`` applies to text/plain and
            text/html (default utf-8, undecodable bytes replaced).
        data_base64: the attachment data (FHIR base64Binary; whitespace is ignored).

    Returns:
        The decoded text; None for an unsupported content type (check ``is_supported`` to
        count it as dropped by type) and for undecodable data (bad base64, unknown charset,
        RTF without an ``{\\rtf`` header). Never raises.
    """
    kind = media_type(content_type)
    if kind not in SUPPORTED_MEDIA_TYPES or not isinstance(data_base64, str):
        return None
    try:
        raw = base64.b64decode("".join(data_base64.split()), validate=True)
        if kind == "text/plain":
            return _decode_bytes(raw, _charset(content_type)).replace("\r\n", "\n")
        if kind == "text/html":
            return _html_to_text(_decode_bytes(raw, _charset(content_type)))
        return _rtf_to_text(raw)
    except (ValueError, LookupError, UnicodeError, AssertionError):
        # binascii.Error is a ValueError; older html.parser versions assert on broken markup.
        return None


def _charset(content_type: str | None) -> str:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or "utf-8"
    return "utf-8"


def _decode_bytes(raw: bytes, charset: str) -> str:
    # codecs.lookup raises LookupError for unknown names; bytes.decode raises it for non-text
    # codecs such as "hex", so a bogus charset makes the note undecodable rather than garbled.
    encoding = codecs.lookup(charset).name
    return raw.decode(encoding, errors="replace").removeprefix("\ufeff")


def _tidy(text: str) -> str:
    """Trim spaces around lines and runs of blank lines left by markup."""
    lines = (line.strip(" \t\u00a0") for line in text.replace("\r\n", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines).replace("\u00a0", " ")).strip("\n")


_HTML_SKIPPED = frozenset({"script", "style", "template"})
# Paragraph-level elements leave a blank line around them; other blocks start a new line.
_HTML_PARAGRAPHS = frozenset({
    "blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "p", "pre", "table", "title",
    "ul",
})  # fmt: skip
_HTML_BLOCKS = frozenset(
    {
        "address", "article", "aside", "caption", "dd", "div", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "header", "hr", "li", "main", "nav", "section", "tr",
    }
)  # fmt: skip


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document, one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.parts: list[str] = []
        self._skipped = 0
        self._pre = 0
        self._newlines = 0  # line breaks at the end of the output so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # attribute values (title=, alt=, href=) are never copied: they may hold identifiers
        if tag in _HTML_SKIPPED:
            self._skipped += 1
        elif tag == "pre":
            self._pre += 1
        self._tag_break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag_break(tag)  # <br/>, <hr/>; a self-closed <script/> has no content

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIPPED:
            self._skipped = max(0, self._skipped - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in ("td", "th"):
            self.parts.append("\t")
        elif tag != "br":
            self._tag_break(tag)

    def handle_data(self, data: str) -> None:
        if self._skipped:
            return
        text = data if self._pre else re.sub(r"[ \t\r\n\f]+", " ", data)
        self.parts.append(text)
        if text.strip():
            self._newlines = len(text) - len(text.rstrip("\n"))

    def _tag_break(self, tag: str) -> None:
        if tag == "br":
            self.parts.append("\n")
            self._newlines += 1
        elif tag in _HTML_PARAGRAPHS or tag in _HTML_BLOCKS:
            wanted = 2 if tag in _HTML_PARAGRAPHS else 1
            if self.parts and self._newlines < wanted:
                self.parts.append("\n" * (wanted - self._newlines))
                self._newlines = wanted


def _html_to_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return _tidy("".join(parser.parts))


_RTF_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word, optional parameter, one delimiter space
    r"|\\'([0-9a-fA-F]{2})"  # a byte in the document code page
    r"|\\(.)"  # control symbol
    r"|([{}])"
    r"|([^\\{}\r\n]+)"  # text
    r"|[\r\n]+"  # source line breaks carry no meaning in RTF
    r"|\\",  # a lone backslash at the very end
    re.DOTALL,
)
# Groups that hold no note text (tables, metadata, pictures, field codes such as HYPERLINK
# targets); headers and footers are dropped too: they repeat identifiers, never clinical text.
_RTF_SKIPPED = frozenset(
    {
        "author", "bkmkend", "bkmkstart", "colorschememapping", "colortbl", "comment",
        "datastore", "doccomm", "fldinst", "filetbl", "fonttbl", "footer", "footerf", "footerl",
        "footerr", "footnote", "generator", "header", "headerf", "headerl", "headerr", "info",
        "keywords", "latentstyles", "listoverridetable", "listtable", "mmathPr", "object",
        "objdata", "operator", "pgdsctbl", "pict", "pntext", "pntxta", "pntxtb", "revtbl",
        "rsidtbl", "stylesheet", "subject", "themedata", "title", "xmlnstbl",
    }
)  # fmt: skip
_RTF_WORDS = {
    "par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "cell": "\t",
    "tab": "\t", "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022",
    "lquote": "\u2018", "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d",
    "emspace": " ", "enspace": " ", "qmspace": " ",
}  # fmt: skip
_RTF_SYMBOLS = {"\\": "\\", "{": "{", "}": "}", "~": " ", "_": "-", "\n": "\n", "\r": "\n"}


class _RtfText:
    """Output of the RTF reader: hex-escaped bytes are decoded in runs, in the document code page."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = bytearray()
        self.codepage = "cp1252"

    def add_bytes(self, data: bytes) -> None:
        self.pending.extend(data)

    def add(self, text: str) -> None:
        self._flush()
        self.parts.append(text)

    def set_codepage(self, number: int) -> None:
        self._flush()
        try:
            self.codepage = codecs.lookup(f"cp{number}").name
        except LookupError:
            self.codepage = "cp1252"

    def text(self) -> str:
        self._flush()
        joined = "".join(self.parts)
        # \uN may write a character as two surrogates; re-pair them, replace any left alone
        return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def _flush(self) -> None:
        if self.pending:
            # multi-byte code pages (cp932, cp936) need the whole run to decode
            self.parts.append(self.pending.decode(self.codepage, errors="replace"))
            self.pending.clear()


def _rtf_to_text(raw: bytes) -> str | None:
    # latin-1 maps every byte to one character, so 8-bit bytes can be re-decoded in the
    # document code page below.
    source = raw.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    if not source.lstrip().startswith("{\\rtf"):
        return None
    out = _RtfText()
    stack: list[tuple[bool, int]] = []
    skipped, unicode_skip = False, 1  # group state: inside a skipped destination; \ucN
    ignorable = False  # "\*" seen: the next control word opens a destination to skip
    fallback = 0  # characters still to drop after \uN (its plain-text substitute)
    position, end = 0, len(source)
    while position < end:
        match = _RTF_TOKEN.match(source, position)
        position = match.end()
        word, parameter, hex_byte, symbol, brace, text = match.groups()
        if brace is not None:
            if brace == "{":
                stack.append((skipped, unicode_skip))
            elif stack:
                skipped, unicode_skip = stack.pop()
            ignorable, fallback = False, 0
        elif word is not None:
            number = int(parameter) if parameter else None
            if word == "bin":  # raw binary data follows: never text, and may contain braces
                position += max(number or 0, 0)
                continue
            if ignorable or word in _RTF_SKIPPED:
                skipped = True
            ignorable = False
            if word == "ansicpg" and number is not None:
                out.set_codepage(number)
            elif word == "uc" and number is not None:
                unicode_skip = max(number, 0)
            elif skipped:
                continue
            elif word == "u" and number is not None:
                code = number + 65536 if number < 0 else number
                if 0 <= code <= 0x10FFFF:
                    out.add(chr(code))
                fallback = unicode_skip
            elif word in _RTF_WORDS:
                out.add(_RTF_WORDS[word])
        elif hex_byte is not None:
            if skipped:
                continue
            if fallback:
                fallback -= 1
            else:
                out.add_bytes(bytes([int(hex_byte, 16)]))
        elif symbol is not None:
            if symbol == "*":
                ignorable = True
            elif not skipped and symbol in _RTF_SYMBOLS:
                out.add(_RTF_SYMBOLS[symbol])
        elif text is not None and not skipped:
            if fallback:
                cut = min(fallback, len(text))
                text, fallback = text[cut:], fallback - cut
            out.add_bytes(text.encode("latin-1"))
    return _tidy(out.text())


# =================================================================== the patient's dictionary

_TOKEN = re.compile(r"[^\W_]+")
# The next word of a known phrase: one to three characters of space or punctuation between.
_NEXT_WORD = re.compile(r"[\W_]{1,3}([^\W_]+)")
# The next chunk of a known identifier: "617-555-0123", "(617) 555 0123", "1234 5678".
_NEXT_CHUNK = re.compile(r"[\s().\-/]{1,3}([^\W_]+)")
_PLUS_FOUR = re.compile(r"[\s\-]\d{4}(?!\d)")
_PHONE_PREFIX = re.compile(r"(?<!\w)(?:\+?1[\s.\-]?)?\(?$")  # "+1 ", "1-", "(" before a number
_MIN_IDENTIFIER_CHARS = 4  # shorter identifier values would clobber ordinary numbers
_MIN_NAME_LETTERS = 3  # shorter name parts are matched only inside a full name

# Name parts that are also ordinary words: matched only when capitalised ("White", "WHITE"),
# so "white blood cells" survives the patient White while "Mrs. White" does not.
_COMMON_WORD_NAMES = frozenset({
    "amber", "april", "art", "baker", "ball", "banks", "bell", "best", "bill", "bird", "black",
    "bland", "bloom", "branch", "brown", "bush", "carter", "case", "cash", "chance", "chase",
    "child", "clay", "cook", "cross", "crown", "dawn", "day", "dean", "dew", "early", "east",
    "faith", "fields", "fisher", "fox", "frank", "free", "gay", "gill", "glass", "gold",
    "good", "grace", "gray", "green", "grey", "hall", "hart", "heart", "hill", "holiday",
    "hope", "house", "hunter", "iris", "ivy", "joy", "judge", "king", "lamb", "lane", "law",
    "lee", "little", "long", "love", "major", "march", "mark", "marsh", "mason", "may",
    "miles", "mills", "mission", "mobile", "moore", "morning", "near", "new", "normal", "north",
    "page", "park", "pat", "peace", "pearl", "pierce", "pool", "power", "price", "reading",
    "rich", "ring", "rivers", "rose", "ruby", "rush", "sage", "savage", "say", "sharp", "short",
    "silver", "small", "snow", "south", "spring", "stone", "strong", "summer", "swift",
    "temple", "trim", "turner", "union", "walker", "ward", "warren", "waters", "way", "webb",
    "wells", "west", "white", "will", "wise", "wolf", "wood", "woods", "young",
})  # fmt: skip
_NAME_PARTICLES = frozenset({"van", "von", "der", "den", "del", "della", "dos", "das", "les"})

# Equivalent words of street lines; an empty string makes the unit designator optional
# ("Apt 4B", "#4B" and "4B" alike).
_STREET_WORDS = (
    ("st", "street"), ("ave", "av", "avenue"), ("rd", "road"), ("ln", "lane"),
    ("dr", "drive"), ("blvd", "boulevard"), ("ct", "court"), ("pl", "place"),
    ("ter", "terrace"), ("pkwy", "parkway"), ("cir", "circle"), ("hwy", "highway"),
    ("sq", "square"), ("trl", "trail"), ("n", "north"), ("s", "south"), ("e", "east"),
    ("w", "west"), ("apt", "apartment", "unit", "ste", "suite", "no", ""),
)  # fmt: skip
_STREET_VARIANTS = {word: group for group in _STREET_WORDS for word in group if word}
_UNIT_WORDS = frozenset({"apt", "apartment", "unit", "ste", "suite", "no"})

_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _fold(text: str) -> str:
    """Lower case with every character in place (offsets stay valid for the original)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # a few characters lower-case to two ("İ"); they are kept as they are
    return "".join(char.lower() if len(char.lower()) == 1 else char for char in text)


def _words(value: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(_fold(value)))


def _letters(value: str) -> int:
    return sum(char.isalpha() for char in value)


def _phrase_end(
    folded: str, text: str, token: re.Match[str], words: tuple[str, ...], capitalised: bool
) -> int:
    if capitalised and not text[token.start()].isupper():
        return -1
    end = token.end()
    for word in words[1:]:
        following = _NEXT_WORD.match(folded, end)
        if following is None or following.group(1) != word:
            return -1
        end = following.end()
    return end


def _identifier_end(folded: str, token: re.Match[str], value: str) -> int:
    collected, end = token.group(), token.end()
    while len(collected) < len(value):
        if not value.startswith(collected):
            return -1
        following = _NEXT_CHUNK.match(folded, end)
        if following is None:
            return -1
        collected += following.group(1)
        end = following.end()
    return end if collected == value else -1


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _strings(values: Iterable[object]) -> list[str]:
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


class PatientDictionary:
    """The patient's own identifiers, matched in notes before any generic pattern.

    Built from the structured data (``from_patient``) and extended with CSV direct identifiers
    (``add``). Matching is case-insensitive and whole-token, the longest match wins; names,
    places and e-mail addresses compare word by word (any one to three punctuation or space
    characters between words), phone numbers, SSNs, ZIPs and record numbers compare their
    letters and digits only. Nothing is compiled per patient (a regular expression per patient
    costs milliseconds to compile): where a known word can start is found by string search,
    and the words that follow are compared against hash tables.
    """

    _KINDS: ClassVar[dict[str, str]] = {
        "name": "NAME", "given": "NAME", "family": "NAME", "mrn": "MRN", "identifier": "ID",
        "ssn": "SSN", "phone": "PHONE", "fax": "PHONE", "email": "EMAIL", "url": "URL",
        "address": "ADDRESS", "line": "ADDRESS", "district": "ADDRESS", "county": "ADDRESS",
        "city": "CITY", "zip": "ZIP", "postal_code": "ZIP", "birth_date": "DOB", "dob": "DOB",
    }  # fmt: skip

    def __init__(self) -> None:
        # first word -> {words of a phrase: (category, capitalised)}; "capitalised" marks a
        # name that is also an ordinary word: it matches "White" and "WHITE" only
        self._phrases: dict[str, dict[tuple[str, ...], tuple[str, bool]]] = {}
        self._identifiers: dict[str, str] = {}  # letters and digits, lower case -> category
        self._by_prefix: dict[str, list[str]] = {}  # first 2 and 3 characters -> identifiers

    @classmethod
    def from_patient(cls, patient: Mapping[str, Any]) -> PatientDictionary:
        """The dictionary of a FHIR R4 Patient: names, identifiers, telecom, addresses, birth date.

        Contacts (next of kin) and address extensions such as the birth place count too: they
        identify the patient as surely as the patient's own address does.

        Args:
            patient: the Patient resource as parsed JSON.

        Returns:
            The dictionary; elements of an unexpected shape are ignored.
        """
        dictionary = cls()
        for name in _list(patient.get("name")):
            dictionary._add_human_name(name)
        for identifier in _list(patient.get("identifier")):
            dictionary._add_fhir_identifier(identifier)
        for telecom in _list(patient.get("telecom")):
            dictionary._add_telecom(telecom)
        for address in _list(patient.get("address")):
            dictionary._add_address(address)
        for extension in _list(patient.get("extension")):
            if isinstance(extension, Mapping):
                dictionary._add_address(extension.get("valueAddress"))
        for contact in _list(patient.get("contact")):
            if isinstance(contact, Mapping):
                dictionary._add_human_name(contact.get("name"))
                for telecom in _list(contact.get("telecom")):
                    dictionary._add_telecom(telecom)
                dictionary._add_address(contact.get("address"))
        dictionary.add("birth_date", patient.get("birthDate"))
        return dictionary

    def add(self, kind: str, value: object) -> None:
        """Add one known identifier (e.g. a CSV ``direct_identifier`` column value).

        Args:
            kind: one of name (a full name), given, family, mrn, identifier, ssn, phone, fax,
                email, url, address/line, district/county, city, zip/postal_code,
                birth_date/dob.
            value: the identifier; a birth date as ISO text or ``datetime.date``. Empty
                values are ignored.

        Raises:
            ValueError: for an unknown kind (the message never contains the value).
        """
        kind = kind.lower() if isinstance(kind, str) else ""
        category = self._KINDS.get(kind)
        if category is None:
            raise ValueError(f"unknown identifier kind; expected one of {sorted(self._KINDS)}")
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return
        value = value.strip()
        if kind == "name":
            self._add_full_name(value)
        elif category == "NAME":
            self._add_name_part(value)
        elif category in ("MRN", "ID", "SSN"):
            self._add_identifier(category, value)
            stripped = value.lstrip("0")
            if category == "MRN" and len(stripped) >= 6:  # "00123456" written as "123456"
                self._add_identifier(category, stripped)
        elif category == "PHONE":
            self._add_phone(value)
        elif category == "ZIP":
            digits = re.sub(r"[\s\-]", "", value)
            self._add_identifier("ZIP", digits[:5] if digits.isdigit() else value)
        elif category == "ADDRESS":
            self._add_street_line(value)
        elif category == "DOB":
            self._add_birth_date(value)
        else:  # EMAIL, URL, CITY: compared word by word
            self._add_words(category, _words(value))

    def scrub(self, text: str, counts: Counter[str]) -> str:
        """Replace the patient's identifiers in ``text`` by category tags, counting ``own:<CAT>``.

        Args:
            text: the note.
            counts: incremented per replacement.

        Returns:
            The text with ``[NAME]``, ``[MRN]``, ... in place of the identifiers.
        """
        if not self._phrases and not self._identifiers:
            return text
        folded = _fold(text)
        phrases, identifiers, by_prefix = self._phrases, self._identifiers, self._by_prefix
        parts: list[str] = []
        last = 0
        for position in self._candidates(folded):
            if position < last:
                continue
            token = _TOKEN.match(folded, position)
            word = token.group()
            best_end, best_category = -1, ""
            for words, (category, capitalised) in phrases.get(word, {}).items():
                end = _phrase_end(folded, text, token, words, capitalised)
                if end > best_end:
                    best_end, best_category = end, category
            for value in by_prefix.get(word[:3], ()):
                end = _identifier_end(folded, token, value)
                if end > best_end:
                    best_end, best_category = end, identifiers[value]
            if best_end < 0:
                continue
            start, end = _widen(text, token.start(), best_end, best_category, last)
            parts += (text[last:start], f"[{best_category}]")
            last = end
            counts[f"own:{best_category}"] += 1
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def _candidates(self, folded: str) -> list[int]:
        """Where a known phrase or identifier may start: a few string searches, not a scan
        word by word (the tokens themselves are listed in C by ``findall``)."""
        words = set(_TOKEN.findall(folded))
        starts: set[int] = set()
        for word in words.intersection(self._phrases):
            starts.update(_token_starts(folded, word, whole=True))
        if self._by_prefix:
            for prefix in {word[:3] for word in words}.intersection(self._by_prefix):
                starts.update(_token_starts(folded, prefix, whole=False))
        return sorted(starts)

    def _add_words(self, category: str, words: tuple[str, ...]) -> None:
        if not words:
            return
        capitalised = len(words) == 1 and words[0] in _COMMON_WORD_NAMES
        self._phrases.setdefault(words[0], {}).setdefault(words, (category, capitalised))

    def _add_identifier(self, category: str, value: str) -> None:
        folded = "".join(_words(value))
        if len(folded) < _MIN_IDENTIFIER_CHARS or folded in self._identifiers:
            return
        self._identifiers[folded] = category
        # keyed by the first two and three characters: the first chunk as written ("12 345
        # 678") has at least two; a lone digit ("+1") is taken in by _widen instead
        for length in (2, 3):
            self._by_prefix.setdefault(folded[:length], []).append(folded)

    def _add_phone(self, value: str) -> None:
        digits = re.sub(r"\D", "", value)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if len(digits) < 7:
            return
        self._add_identifier("PHONE", digits)
        if len(digits) == 10:
            self._add_identifier("PHONE", digits[3:])  # the local number, as told to callers

    def _add_human_name(self, name: object) -> None:
        if not isinstance(name, Mapping):
            return
        given = _strings(_list(name.get("given")))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        if isinstance(name.get("text"), str):
            self._add_full_name(name["text"])
        self._add_name_forms(
            given,
            family.strip(),
            _strings(_list(name.get("prefix"))),
            _strings(_list(name.get("suffix"))),
        )

    def _add_full_name(self, value: str) -> None:
        """A full name as one string: "Family, Given Middle" or "Given Middle Family"."""
        if "," in value:
            family, _, given = value.partition(",")
            self._add_name_forms(given.split(), family.strip(), [], [])
        else:
            words = value.split()
            self._add_name_forms(words[:-1], words[-1] if words else "", [], [])

    def _add_name_forms(
        self, given: list[str], family: str, prefixes: list[str], suffixes: list[str]
    ) -> None:
        all_given = " ".join(given)
        forms = [all_given, family]
        if given and family:
            first = given[0]
            forms += [
                f"{all_given} {family}", f"{family} {all_given}", f"{first} {family}",
                f"{family} {first}", f"{first[0]} {family}",
            ]  # fmt: skip
            forms += [f"{all_given} {family} {suffix}" for suffix in suffixes]
        for prefix in prefixes:
            forms += [f"{prefix} {family}", f"{prefix} {all_given} {family}"]
        for form in forms:
            words = _words(form)
            if len(words) > 1:  # single words go through the three-letter rule below
                self._add_words("NAME", words)
        for part in [*given, family]:
            self._add_name_part(part)

    def _add_name_part(self, part: str) -> None:
        """A name element alone, and each of its words, when three letters or longer."""
        words = _words(part)
        if _letters(part) >= _MIN_NAME_LETTERS:
            self._add_words("NAME", words)
        for word in words:
            if _letters(word) >= _MIN_NAME_LETTERS and word not in _NAME_PARTICLES:
                self._add_words("NAME", (word,))

    def _add_fhir_identifier(self, identifier: object) -> None:
        if not isinstance(identifier, Mapping) or not isinstance(identifier.get("value"), str):
            return
        type_ = identifier.get("type")
        codings = _list(type_.get("coding")) if isinstance(type_, Mapping) else []
        codes = {coding.get("code") for coding in codings if isinstance(coding, Mapping)}
        system = identifier.get("system") if isinstance(identifier.get("system"), str) else ""
        if "SS" in codes or system.endswith("/us-ssn"):
            self.add("ssn", identifier["value"])
        elif "MR" in codes:
            self.add("mrn", identifier["value"])
        else:
            self.add("identifier", identifier["value"])

    def _add_telecom(self, telecom: object) -> None:
        if not isinstance(telecom, Mapping) or not isinstance(telecom.get("value"), str):
            return
        system = telecom.get("system")
        if system == "email":
            self.add("email", telecom["value"])
        elif system == "url":
            self.add("url", telecom["value"])
        elif system == "other":
            self.add("identifier", telecom["value"])
        else:  # phone, fax, pager, sms, or no system: numbers either way
            self.add("phone", telecom["value"])

    def _add_address(self, address: object) -> None:
        if not isinstance(address, Mapping):
            return
        for line in _strings(_list(address.get("line"))):
            self.add("line", line)
        for key, kind in (("city", "city"), ("district", "district"), ("postalCode", "zip")):
            self.add(kind, address.get(key))
        if isinstance(address.get("text"), str):
            self._add_words("ADDRESS", _words(address["text"]))

    def _add_street_line(self, line: str) -> None:
        words = _words(line)
        self._add_street_variants(words)
        # the street without house number or unit ("Maple St"): "lives on Maple St"
        if len(words) >= 3 and words[0][0].isdigit():
            street = []
            for word in words[1:]:
                if word in _UNIT_WORDS:
                    break
                street.append(word)
            if len(street) >= 2:
                self._add_street_variants(tuple(street))

    def _add_street_variants(self, words: tuple[str, ...]) -> None:
        choices = [_STREET_VARIANTS.get(word, (word,)) for word in words]
        for variant in itertools.product(*choices):
            self._add_words("ADDRESS", tuple(word for word in variant if word))

    def _add_birth_date(self, value: str) -> None:
        match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
        try:
            date = dt.date(int(match[1]), int(match[2]), int(match[3])) if match else None
        except ValueError:
            date = None
        if date is None:
            # A year alone (or year-month) stays, as in the structured data; anything else
            # unparseable is removed as written.
            if not re.fullmatch(r"\d{4}(-\d{2})?", value):
                self._add_words("DOB", _words(value))
            return
        name = _MONTH_NAMES[date.month - 1].lower()
        months = {name, name[:3]} | ({"sept"} if date.month == 9 else set())
        day, month, year = date.day, date.month, str(date.year)
        days = {str(day), f"{day:02d}", f"{day}{_ordinal(day, 'th')}"}
        for month_word, day_word in itertools.product(months, days):
            for words in (
                (month_word, day_word, year),
                (day_word, month_word, year),
                (day_word, "of", month_word, year),
            ):
                self._add_words("DOB", words)
        numbers = itertools.product({str(month), f"{month:02d}"}, {str(day), f"{day:02d}"})
        for month_number, day_number in numbers:
            for words in (
                (month_number, day_number, year),
                (month_number, day_number, f"{date.year % 100:02d}"),
                (year, month_number, day_number),
                (day_number, month_number, year),
            ):
                self._add_words("DOB", words)
        self._add_identifier("DOB", f"{year}{month:02d}{day:02d}")
        self._add_identifier("DOB", f"{month:02d}{day:02d}{year}")


def _token_starts(folded: str, key: str, whole: bool) -> Iterator[int]:
    """Positions where a token starts with ``key`` (and, when ``whole``, also ends with it)."""
    position = folded.find(key)
    while position >= 0:
        end = position + len(key)
        if (position == 0 or not folded[position - 1].isalnum()) and (
            not whole or end == len(folded) or not folded[end].isalnum()
        ):
            yield position
        position = folded.find(key, position + 1)


def _widen(text: str, start: int, end: int, category: str, floor: int) -> tuple[int, int]:
    """Take in what belongs to a matched identifier: "(" and "+" of a phone, a ZIP's +4."""
    if category == "PHONE":
        head = _PHONE_PREFIX.search(text, max(floor, start - 4), start)
        if head is not None and (")" in text[start:end] or "(" not in head.group()):
            start = head.start()
    elif category == "ZIP":
        plus_four = _PLUS_FOUR.match(text, end)
        if plus_four is not None:
            end = plus_four.end()
    return start, end


# ============================================================================= pattern rules

_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
)  # fmt: skip
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    "Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    "Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    "New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    "Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    "West Virginia|Wisconsin|Wyoming|Puerto Rico|District of Columbia"
)
_STREET_SUFFIX = (
    r"(?i:St|Street|Ave|Avenue|Av|Rd|Road|Ln|Lane|Dr|Drive|Blvd|Boulevard|Ct|Court|Way|Pl|Place"
    r"|Ter|Terrace|Pkwy|Parkway|Cir|Circle|Hwy|Highway|Sq|Square|Trl|Trail|Pike|Loop)"
)
_UNIT = r"(?i:Apt|Apartment|Unit|Suite|Ste|Rm|Room|Fl|Floor|Bldg)"
# A tag counts as a name word: the dictionary may already have replaced part of another
# person's name ("Mrs. [CITY] Nakamura" when her first name is the patient's city).
_NAME_WORD = r"(?:[A-Z][A-Za-z'\-]+|[A-Z]\.|\[[A-Z]+\])"
_ONLY_TAGS = re.compile(r"(?:\[[A-Z]+\][ \t,]*)+")
# after a credential, a name must look like one: "Emily Chen, MD", not "FOLLOW UP WITH RN"
_TITLE_CASE_WORD = r"(?:[A-Z](?:[a-z]|'[A-Z])[A-Za-z'\-]*|[A-Z]\.)"
_PARTICLE = r"(?:van|von|de|del|der|da|di|du|la|le)"
_KIN = (
    "wife", "husband", "son", "daughter", "mother", "father", "sister", "brother", "spouse",
    "partner", "fiance", "fiancee", "fiancé", "fiancée", "girlfriend", "boyfriend", "caregiver",
    "grandson", "granddaughter", "grandmother", "grandfather", "niece", "nephew", "aunt", "uncle",
    "cousin", "friend", "neighbor", "neighbour", "roommate", "guardian",
)  # fmt: skip
# an identifier after its context word: has a digit, and is not a date (dates are shifted)
_ID_VALUE = (
    r"(?!\d{4}-\d{1,2}-\d{1,2}\b|\d{1,2}-\d{1,2}-\d{2,4}\b)(?=[A-Za-z0-9\-]*\d)"
    r"[A-Za-z0-9][A-Za-z0-9\-]{3,19}(?![\w\-])"
)
_TITLES = frozenset({"Dr", "Mr", "Mrs", "Ms", "Mx", "Prof", "Rev", "Fr", "Miss"})
# "MS" (multiple sclerosis) and "ms" (milliseconds) are not titles: capitals need the period
_UPPER_TITLES = frozenset({"DR", "MR", "MRS", "MS", "MX"})
_WORD_TITLES = frozenset({"doctor", "nurse", "professor", "pastor"})
_ALL_TITLES = (
    _TITLES
    | _UPPER_TITLES
    | {case(word) for word in _WORD_TITLES for case in (str, str.title, str.upper)}
)

_PHONE_HEAD = re.compile(r"(?<![\w+])(?:\+?1[\s.\-]?)?(?:\(\d{3}\)[\s.\-]?|\d{3}[\s.\-/])$")
_EXTENSION = re.compile(r"\s*,?\s*(?:x|ext\.?|extension)\s*\d{1,6}\b", re.IGNORECASE)
_PHONE_CONTEXT = re.compile(
    r"(?<!\w)(?i:phone|tel|telephone|cell|mobile|fax|pager|beeper|ph|call(?:ed)?(?:\s+back)?"
    r"(?:\s+at)?|reach(?:ed)?\s+at|callback(?:\s+number)?|contact(?:\s+number)?)\.?\s*[:#]?\s*$"
)
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}$")
_ZIP_CONTEXT = re.compile(
    r"(?:(?<!\w)(?:" + "|".join(_STATES) + r")\.?,?[ \t]{1,3}|(?<!\w)(?:" + _STATE_NAMES + r"),?"
    r"[ \t]{1,3}|(?<!\w)(?i:zip(?:\s*code)?|postal\s+code)\s*[:#]?\s*)$"
)
_AGE_CONTEXT = re.compile(r"(?<!\w)(?i:age|aged)(?:\s+of)?\s*[:=]?\s*$")
_AGE_UNIT = re.compile(r"(?i:old|age|y\.o|y/o|yo)")
_NAME_BEFORE_CREDENTIAL = re.compile(
    rf"(?<![\w'\-])(?P<v>{_TITLE_CASE_WORD}(?:[ \t]+[A-Z]\.?)?(?:[ \t]+{_TITLE_CASE_WORD}){{1,2}})"
    r",?[ \t]+$"
)
_CAPITALISED_WORD = re.compile(r"\.?[ \t]+[A-Z][A-Za-z'\-]+")
_RELATIVE_NAME = re.compile(r"[A-Z][a-z'\-]+(?:[ \t]+[A-Z][A-Za-z'\-]+)?")
_PERSON_LABEL = re.compile(
    r"(?<!\w)(?i:patient(?:\s+name)?|pt(?:\s+name)?|name|caller|signed\s+by|attending|pcp"
    r"|provider|referring(?:\s+(?:provider|physician))?|author|cc|from|to|guarantor"
    r"|emergency\s+contact|next\s+of\s+kin)[ \t]*$"
)

Span = tuple[int, int]


def _free_before(text: str, index: int, also: str = "") -> bool:
    """No letter or digit (nor any of ``also``) right before ``index``: a token starts there."""
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] in also)


def _value_span(match: re.Match[str], text: str) -> Span | None:
    if "v" in match.re.groupindex and match.start("v") >= 0:
        return match.span("v")
    return match.span()


def _word_span(match: re.Match[str], text: str) -> Span | None:
    return _value_span(match, text) if _free_before(text, match.start()) else None


def _email(match: re.Match[str], text: str) -> Span | None:
    local = _EMAIL_LOCAL.search(text, max(0, match.start() - 64), match.start())
    return None if local is None else (local.start(), match.end())


def _ipv4(match: re.Match[str], text: str) -> Span | None:
    if not _free_before(text, match.start(), "."):
        return None
    return match.span() if all(int(octet) <= 255 for octet in match.group().split(".")) else None


def _ipv6(match: re.Match[str], text: str) -> Span | None:
    candidate = match.group()
    if not re.search(r"[0-9A-Fa-f]", candidate):
        return None
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None  # times such as 10:30:45 look alike and are kept
    return match.span()


def _ssn(match: re.Match[str], text: str) -> Span | None:
    return match.span() if _free_before(text, match.start(), "-") else None


def _identifier_after_word(match: re.Match[str], text: str) -> Span | None:
    if not _free_before(text, match.start()):
        return None
    word = match.group("k")
    if word in ("dl", "mbi") and not text[match.start() : match.end("k")].isupper():
        return None  # "mg/dL 12345" is a lab value
    return match.span("v")


def _phone(match: re.Match[str], text: str) -> Span | None:
    """Seven digits ("555-0142") after an area code, or after a word such as "call" or "fax"."""
    head = _PHONE_HEAD.search(text, max(0, match.start() - 12), match.start())
    if head is None:
        return _phone_with_context(match, text)
    extension = _EXTENSION.match(text, match.end())
    return head.start(), extension.end() if extension else match.end()


def _phone_with_context(match: re.Match[str], text: str) -> Span | None:
    start = match.start()
    if len(match.group()) == 11 and not match.group().startswith("1"):
        return None
    if start and text[start - 1] == "+":
        start -= 1
    if not _free_before(text, start):
        return None
    context = _PHONE_CONTEXT.search(text, max(0, start - 30), start)
    return None if context is None else (start, match.end())


def _street(match: re.Match[str], text: str) -> Span | None:
    """A street address; after a final "Dr" also the capitalised word that follows.

    "4 Cardiology Dr. Patel" reads as a street, and the titled-name rule comes later: taking
    "Patel" in with the address keeps the name from surviving. A city after "Oak Dr." goes with
    it too, which removes nothing that must stay.
    """
    if not _free_before(text, match.start()):
        return None
    end = match.end()
    if re.search(r"(?i:\bdr)\.?$", match.group()):
        following = _CAPITALISED_WORD.match(text, end)
        end = following.end() if following else end
    return match.start(), end


def _zip(match: re.Match[str], text: str) -> Span | None:
    """A ZIP+4 anywhere; five digits only after a state or the words ZIP / postal code.

    The trade-off: five digits alone are as often a lab value, a count or an accession number
    ("CK 12500", "WBC 10500") as a ZIP code, so a ZIP written without its state or label
    ("lives in 02118") survives unless it is the patient's own.
    """
    if not _free_before(text, match.start(), "-"):
        return None
    if match.group("plus") or _ZIP_CONTEXT.search(text, max(0, match.start() - 40), match.start()):
        return match.span()
    return None


def _old_age(match: re.Match[str], text: str) -> Span | None:
    """90 and over, written as an age: "92-year-old", "93 y/o", "age 95", "aged 91 years"."""
    if not _free_before(text, match.start(), "."):
        return None
    unit = match.group("unit")
    context = _AGE_CONTEXT.search(text, max(0, match.start() - 16), match.start())
    if context is None and not (unit and _AGE_UNIT.search(unit)):
        return None
    return (context.start() if context else match.start()), match.end()


def _titled_name(match: re.Match[str], text: str) -> Span | None:
    title, dotted = match.group("t"), bool(match.group("dot"))
    if not _free_before(text, match.start()):
        return None
    if (
        title in _TITLES
        or (dotted and title in _UPPER_TITLES)
        or (not dotted and title.lower() in _WORD_TITLES)
    ):
        return _name_span(match)
    return None


def _name_span(match: re.Match[str]) -> Span | None:
    """The name group, unless the dictionary has already replaced all of it."""
    return None if _ONLY_TAGS.fullmatch(match.group("v")) else match.span("v")


def _credentialed_name(match: re.Match[str], text: str) -> Span | None:
    name = _NAME_BEFORE_CREDENTIAL.search(text, max(0, match.start() - 60), match.start())
    return None if name is None else name.span("v")


def _relative(match: re.Match[str], text: str) -> Span | None:
    """The capitalised name after a word for a relative or friend (found in lower case)."""
    if not _free_before(text, match.start()):
        return None
    name = _RELATIVE_NAME.match(text, match.end())
    return None if name is None else name.span()


def _labelled_person(match: re.Match[str], text: str) -> Span | None:
    label = _PERSON_LABEL.search(text, max(0, match.start() - 30), match.start())
    return None if label is None else _name_span(match)


def _contains(*needles: str) -> Callable[[str, str], bool]:
    """A rule trigger: the lower-cased note contains one of the needles."""
    return lambda text, folded: any(needle in folded for needle in needles)


_PHONE_TRIGGER = _contains(
    "phone", "tel", "cell", "mobile", "fax", "pager", "beeper", "ph", "call", "reach", "contact"
)
_MRN_TRIGGER = _contains(
    "mrn", "mr#", "mr #", "mr no", "medical rec", "med rec", "chart", "acct", "account",
    "accession", "encounter #", "encounter#", "visit #", "visit#",
)  # fmt: skip
_ID_WORDS = (
    "licen", "passport", "member", "subscriber", "policy", "insurance", "medicaid", "medicare",
    "serial", "device", "s/n",
)  # fmt: skip


def _id_trigger(text: str, folded: str) -> bool:
    # "DL" only in capitals: "mg/dL" is in every lab note
    return any(word in folded for word in _ID_WORDS) or "DL" in text or "MBI" in text


_IPV6_GROUPS = re.compile(r":[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")


def _ipv6_trigger(text: str, folded: str) -> bool:
    return "::" in text or _IPV6_GROUPS.search(text) is not None


@dataclass(frozen=True)
class _Rule:
    """One identifier pattern.

    ``regex`` finds candidates; ``locate`` checks the context around a candidate and returns
    the span to replace, or None. Regular expressions start with a literal or a character
    class, so the regex engine skips ahead quickly; context words are checked backwards by
    ``locate`` instead of by look-behinds that would slow every position down. ``trigger``
    skips a rule for notes without any of its keywords. A ``folded`` rule searches the
    lower-cased note (same offsets) and ``locate`` still sees the original.
    """

    category: str
    regex: re.Pattern[str]
    locate: Callable[[re.Match[str], str], Span | None] = _value_span
    trigger: Callable[[str, str], bool] | None = None
    tag: str = ""
    folded: bool = False  # search the lower-cased text (faster than IGNORECASE)

    def apply(self, text: str, folded: str, counts: Counter[str]) -> str:
        if self.trigger is not None and not self.trigger(text, folded):
            return text
        tag = self.tag or f"[{self.category}]"
        haystack = _fold(text) if self.folded else text
        parts: list[str] = []
        last = position = 0
        while (match := self.regex.search(haystack, position)) is not None:
            span = self.locate(match, text)
            if span is None or span[0] < last:
                position = match.start() + 1
                continue
            parts += (text[last : span[0]], tag)
            last = span[1]
            position = max(match.end(), last)
            counts[f"pattern:{self.category}"] += 1
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)


# Order matters: a URL may contain an e-mail address or an IP; SSNs before phone numbers; ages
# and street addresses before titled names ("123 Oak Dr. Apt 4" is an address).
_PATTERN_RULES = (
    _Rule(
        "URL",
        re.compile(
            r"(?:https?://|ftps?://|sftp://|file://|www\.)[^\s<>\"'\[\]]*[^\s<>\"'.,;:!?)\]}\[]"
        ),
        trigger=_contains("://", "www."),
        folded=True,
    ),
    _Rule(
        "EMAIL",
        re.compile(r"@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![\w\-])"),
        _email,
    ),
    _Rule(
        "IP",
        re.compile(
            r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
            r"(?![\w:])"
        ),
        _ipv6,
        _ipv6_trigger,
    ),
    _Rule("IP", re.compile(r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?!\w|\.\d)"), _ipv4),
    _Rule(
        "SSN",
        re.compile(
            r"(?:ssn|ss\#|soc(?:ial)?\.?\s+sec(?:urity)?\.?(?:\s+(?:number|no\.?|\#))?)"
            r"\s*[:#]?\s*(?:is\s+)?(?P<v>\d{3}[\s.\-]?\d{2}[\s.\-]?\d{4})(?!\d)"
        ),
        _word_span,
        _contains("ssn", "ss#", "social security", "soc sec", "soc. sec"),
        folded=True,
    ),
    _Rule("SSN", re.compile(r"\d(?<![\d\-]\d)\d\d-\d\d-\d{4}(?![\d\-])"), _ssn),
    _Rule("PHONE", re.compile(r"\d(?<!\d\d)\d\d[\s.\-]\d{4}(?!\d)"), _phone),
    # ten digits in a row only where a word says they are a phone number
    _Rule("PHONE", re.compile(r"\d(?<!\d\d)\d{9,10}(?!\d)"), _phone_with_context, _PHONE_TRIGGER),
    _Rule(
        "MRN",
        re.compile(
            r"(?:mrn|mr\s?\#|mr\s?no\.?|med(?:ical)?\s+rec(?:ord)?(?:\s+(?:number|no\.?|\#))?"
            r"|chart(?:\s+(?:number|no\.?)|\s?\#)|acct\.?(?:\s?\#|\s+(?:number|no\.?))?"
            r"|account(?:\s+(?:number|no\.?)|\s?\#)|accession(?:\s+(?:number|no\.?)|\s?\#)?"
            r"|encounter\s?\#|visit\s?\#)\s*[:#]?\s*(?:is\s+)?(?P<v>" + _ID_VALUE + ")"
        ),
        _word_span,
        _MRN_TRIGGER,
        folded=True,
    ),
    _Rule(
        "ID",
        re.compile(
            r"(?P<k>driver'?s\s+licen[cs]e|passport|member|subscriber|policy|insurance|medicaid"
            r"|medicare|serial|device|dl|mbi|s/n)(?:\s+(?:number|no\.?|id|\#))?\s*[:#]?\s*"
            r"(?:is\s+)?(?P<v>" + _ID_VALUE + ")"
        ),
        _identifier_after_word,
        _id_trigger,
        folded=True,
    ),
    _Rule("ZIP", re.compile(r"\d(?<![\d\-]\d)\d{4}(?P<plus>-\d{4})?(?![\d\-])"), _zip),
    _Rule(
        "AGE",
        re.compile(
            r"(?P<n>9\d|1[0-2]\d|130)(?!\d)(?P<unit>(?i:[\s-]*(?:years?|yrs?|y)[\s-]*"
            r"(?:old\b|of\s+age\b)|[\s-]*(?:y\.o\.|y/o\b|yo\b)|[\s-]*(?:years?|yrs?)\b))?"
        ),
        _old_age,
        tag="[AGE 90+]",
    ),
    _Rule(
        "AGE",
        re.compile(
            r"\b(?:ninety(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine))?"
            r"|(?:one\s+)?hundred(?:\s+and\s+[a-z]+)?)[\s-]*(?:years?|yrs?)[\s-]*old\b",
            re.IGNORECASE,
        ),
        trigger=_contains("ninety", "hundred"),
        tag="[AGE 90+]",
    ),
    _Rule(
        "ADDRESS",
        re.compile(
            r"\d(?<!\w\d)\d{0,5}[A-Za-z]?(?:-\d{1,4})?[ \t]+"
            r"(?:(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)"
            r"\.?[ \t]+)?(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][A-Za-z'\-]*)\.?[ \t]+){1,4}"
            + _STREET_SUFFIX
            + r"\b\.?(?:[ \t]*,?[ \t]*"
            + _UNIT
            + r"\.?[ \t]*\#?[ \t]*[A-Za-z0-9\-]{1,6}\b|[ \t]*,?[ \t]*\#[ \t]*[A-Za-z0-9\-]{1,6}\b)?"
        ),
        _street,
    ),
    _Rule(
        "ADDRESS",
        re.compile(r"\bP\.?[ \t]?O\.?[ \t]*Box[ \t]+\d+\b", re.IGNORECASE),
        trigger=_contains("box"),
    ),
    _Rule(
        "NAME",  # a title, then up to three name words: "Dr. Chen", "Nurse Pat Lee"
        re.compile(
            rf"(?P<t>{'|'.join(sorted(_ALL_TITLES, key=len, reverse=True))})(?P<dot>\.)?[ \t]+"
            rf"(?P<v>(?:{_PARTICLE}[ \t]+)?"
            rf"{_NAME_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_WORD}){{0,2}})"
        ),
        _titled_name,
    ),
    _Rule(
        "NAME",  # a name before a credential: "Jane Doe, MD", "Pat Lee RN"
        re.compile(
            r"(?:M\.?D|D\.?O|R\.?N|NP|PA-C|Ph\.?D|DNP|APRN|FNP(?:-BC)?|LPN|CNA|LCSW|LICSW|MSW"
            r"|PharmD|RPh|DPT|DDS|DMD|CNM|CRNA)(?![\w\-])"
        ),
        _credentialed_name,
    ),
    _Rule(  # "his wife Mary", "daughter, Ana"
        "NAME",
        re.compile("(?:" + "|".join(sorted(_KIN, key=len, reverse=True)) + r")(?!\w),?[ \t]+"),
        _relative,
        folded=True,
    ),
    _Rule(
        "NAME",  # a name after a label that announces a person: "Caller: Maria Lopez"
        re.compile(rf":[ \t]*(?P<v>{_NAME_WORD}(?:,?[ \t]+{_NAME_WORD}){{1,3}})"),
        _labelled_person,
    ),
)

# ===================================================================================== dates

_MONTH_NUMBER = {name.lower(): i for i, name in enumerate(_MONTH_NAMES, 1)}
_MONTH_NUMBER.update({name[:3].lower(): i for i, name in enumerate(_MONTH_NAMES, 1)})
_MONTH_NUMBER["sept"] = 9
_WEEKDAY_ABBREVIATIONS = ("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")


def _word_alternation(words: Iterable[str]) -> str:
    """Title-case and upper-case spellings, longest first."""
    spellings = {w.title() for w in words} | {w.upper() for w in words}
    return "(?:" + "|".join(sorted(spellings, key=len, reverse=True)) + ")"


# Month names are case-sensitive: "may" and "march" are verbs far more often than months.
_MONTH = _word_alternation(_MONTH_NUMBER)
_WEEKDAY = _word_alternation([*(w.lower() for w in _WEEKDAY_NAMES), *_WEEKDAY_ABBREVIATIONS])
_ORDINAL = r"(?:st|nd|rd|th|ST|ND|RD|TH)"
_YEAR4 = r"(?:1[89]|2[01])\d\d"

# Where a date can start: a number before "-", "/", "." and a digit, or before a month name; a
# capitalised word before a number. Only these positions are tried with the full expression.
_DATE_START = re.compile(
    r"[\dJFMASOND](?:(?<=\d)(?<!\d\d)\d{0,3}(?=[-/.]\d|(?:st|nd|rd|th|ST|ND|RD|TH)?(?:\s+of)?"
    r"[\s-]+[JFMASOND])|(?<=[JFMASOND])[A-Za-z]{2,8}(?=\.?,?\s+(?:of\s+)?\d))"
)
# Tried at each start, in this order; every outer group names a form, inner groups are its
# components: m (month), d (day), y (year), o (ordinal suffix).
_DATE = re.compile(
    "|".join(
        [
            rf"(?P<I>(?P<Iy>{_YEAR4})(?P<Is>[-/.])(?P<Im>\d{{1,2}})(?P=Is)(?P<Id>\d{{1,2}})(?!\d))",
            rf"(?P<U>(?P<Um>\d{{1,2}})(?P<Us>[-/])(?P<Ud>\d{{1,2}})(?P=Us)(?P<Uy>{_YEAR4}|\d\d)"
            r"(?!\d|[-/]\d))",
            rf"(?P<V>(?P<Vm>\d{{1,2}})\.(?P<Vd>\d{{1,2}})\.(?P<Vy>{_YEAR4})(?!\d|\.\d))",
            rf"(?P<B>(?P<Bd>\d{{1,2}})(?P<Bo>{_ORDINAL})?(?:\s+of\s+|\s+|-)(?P<Bm>{_MONTH})\.?"
            rf"(?:,?\s+|-)(?P<By>{_YEAR4}|\d\d)(?!\d))",
            rf"(?P<D>(?P<Dd>\d{{1,2}})(?P<Do>{_ORDINAL})?(?:\s+of)?\s+(?P<Dm>{_MONTH})\b)",
            r"(?P<Q>(?:0?[1-9]|1[0-2])[/-](?:19|20)\d\d(?![\d/\-]))",
            r"(?P<R>(?:19|20)\d\d-(?:0[1-9]|1[0-2])(?![\d\-]))",
            r"(?P<N>(?P<Nm>\d{1,2})/(?P<Nd>\d{1,2})(?![\d/]|\.\d))",
            rf"(?P<A>(?P<Am>{_MONTH})\.?\s+(?P<Ad>\d{{1,2}})(?P<Ao>{_ORDINAL})?(?:,\s*|\s+)"
            rf"(?P<Ay>{_YEAR4})(?!\d))",
            rf"(?P<P>{_MONTH}\.?,?\s+(?:of\s+)?{_YEAR4}(?!\d))",
            rf"(?P<C>(?P<Cm>{_MONTH})\.?\s+(?P<Cd>\d{{1,2}})(?P<Co>{_ORDINAL})?(?![\d:]|\.\d))",
        ]
    )
)
_WEEKDAY_BEFORE = re.compile(rf"(?<!\w)(?P<w>{_WEEKDAY})\.?,?[ \t]+$")
# month/day without a year only after a word that makes it a date: "3/10" alone is as likely
# a pain score, a strength grade or half a blood pressure
_DATE_CONTEXT = re.compile(
    r"(?<!\w)(?i:on|since|from|until|till|through|thru|by|after|before|dated?|seen|as\s+of"
    r"|starting|started|effective|DOS|admitted|discharged|drawn|collected)\s*:?[ \t]+$"
)
_PARTIAL_FORMS = frozenset({"P", "Q", "R"})
_YEARLESS_FORMS = frozenset({"C", "D", "N"})
_NUMERIC_FORMS = frozenset({"I", "U", "V", "N"})
_COMMON_YEAR = 2001  # yearless dates with no full date before them shift in a non-leap year


@dataclass(frozen=True)
class ScrubResult:
    """A scrubbed note and how many replacements of each category were made (never values).

    ``counts`` keys: ``own:<CAT>`` (the patient's dictionary), ``pattern:<CAT>`` (generic
    patterns), ``date:shifted`` and ``date:removed``.
    """

    text: str
    counts: dict[str, int]


def scrub_note(text: str, dictionary: PatientDictionary, offset_days: int | None) -> ScrubResult:
    """Remove identifiers from a decoded note and shift its dates (deid.md section 6).

    Order: (a) the patient's own identifiers, (b) generic patterns, (c) dates, so that a
    pattern never splits a known identifier and a date inside an identifier is never shifted.

    Args:
        text: the note text (``decode_attachment``).
        dictionary: the patient's own identifiers.
        offset_days: the patient's date offset (``dates.date_offset_days``); None removes every
            date instead (profiles without date shifting).

    Returns:
        The scrubbed text and replacement counts per category.
    """
    counts: Counter[str] = Counter()
    text = dictionary.scrub(text, counts)
    folded = text.lower()  # rule triggers; replacements only remove words, so it stays valid
    for rule in _PATTERN_RULES:
        text = rule.apply(text, folded, counts)
    text = _DateShifter(offset_days, counts).apply(text)
    return ScrubResult(text, dict(sorted(counts.items())))


class _DateShifter:
    """Shifts dates in their written format; remembers the last full year for yearless dates."""

    def __init__(self, offset_days: int | None, counts: Counter[str]) -> None:
        self.offset = offset_days
        self.counts = counts
        self.context_year: int | None = None

    def apply(self, text: str) -> str:
        parts: list[str] = []
        last = 0
        for candidate in _DATE_START.finditer(text):
            start = candidate.start()
            if start < last:
                continue
            match = _DATE.match(text, start)
            if match is None or not _free_before(
                text, start, "-/." if text[start].isdigit() else ""
            ):
                continue
            form = match.lastgroup
            if form == "N" and not _DATE_CONTEXT.search(text, max(last, start - 24), start):
                continue
            weekday = _WEEKDAY_BEFORE.search(text, max(last, start - 16), start)
            begin = weekday.start("w") if weekday else start
            replacement = self._replacement(match, form, weekday)
            if replacement is None:
                continue
            parts += (text[last:begin], replacement)
            last = match.end()
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def _removed(self) -> str:
        self.counts["date:removed"] += 1
        return "[DATE]"

    def _replacement(
        self, match: re.Match[str], form: str, weekday: re.Match[str] | None
    ) -> str | None:
        if form in _PARTIAL_FORMS:
            return self._removed()  # a month and year beside shifted dates reveal the offset
        spans = {
            part: match.span(form + part)
            for part in ("m", "d", "y", "o")
            if form + part in match.re.groupindex and match.start(form + part) >= 0
        }
        if weekday is not None:
            spans["w"] = weekday.span("w")
        text = match.string
        written = {part: text[start:end] for part, (start, end) in spans.items()}
        date = self._parse(written)
        if date is None:
            return None if form == "N" else self._removed()  # "on 3/45" is no date after all
        if form not in _YEARLESS_FORMS:
            self.context_year = date.year
        if self.offset is None:
            return self._removed()
        try:
            shifted = date + dt.timedelta(days=self.offset)
        except OverflowError:
            return self._removed()
        self.counts["date:shifted"] += 1
        begin = spans["w"][0] if "w" in spans else match.start()
        new = _components(form, written, shifted, "-" in text[begin : match.end()])
        result = text[begin : match.end()]
        for part, (start, end) in sorted(spans.items(), key=lambda item: -item[1][0]):
            result = result[: start - begin] + new[part] + result[end - begin :]
        return result

    def _parse(self, written: dict[str, str]) -> dt.date | None:
        month_text, day = written["m"], int(written["d"])
        month = int(month_text) if month_text.isdigit() else _MONTH_NUMBER[month_text.lower()]
        if "y" in written:
            year = int(written["y"])
            if len(written["y"]) == 2:
                year += 2000 if year <= 68 else 1900  # the POSIX %y pivot
        else:
            year = self.context_year or _COMMON_YEAR
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None


def _components(form: str, written: dict[str, str], date: dt.date, dashed: bool) -> dict[str, str]:
    """Each component of the shifted date, in the style the original was written in."""
    if form in _NUMERIC_FORMS:
        # zero-padded when the original shows it; "11/17" shows nothing either way, and
        # exports that write two-digit months and days pad, so padding is the default there
        small = [written[part] for part in ("m", "d") if int(written[part]) < 10]
        pad = all(value.startswith("0") for value in small)
        new = {"m": date.month, "d": date.day}
        components = {part: f"{value:02d}" if pad else str(value) for part, value in new.items()}
    else:
        day = written["d"]
        # "07-Mar-2021" pads, "March 7" does not; "17-Mar-2021" pads by the dashed convention
        pad = day.startswith("0") or (len(day) == 2 and dashed)
        components = {
            "m": _month_like(written["m"], date.month),
            "d": f"{date.day:02d}" if pad else str(date.day),
        }
    if "y" in written:
        two_digits = len(written["y"]) == 2
        components["y"] = f"{date.year % 100:02d}" if two_digits else f"{date.year:04d}"
    if "o" in written:
        components["o"] = _ordinal(date.day, written["o"])
    if "w" in written:
        components["w"] = _weekday_like(written["w"], date.weekday())
    return components


def _same_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    return word.lower() if template.islower() else word


def _month_like(written: str, month: int) -> str:
    name = _MONTH_NAMES[month - 1]
    if written.lower() == "sept":
        name = "Sept" if month == 9 else name[:3]
    elif len(written) == 3 and written.lower() != "may":  # "May" reads as the full name
        name = name[:3]
    return _same_case(written, name)


def _weekday_like(written: str, weekday: int) -> str:
    name = _WEEKDAY_NAMES[weekday]
    return _same_case(written, name if len(written) > 5 else name[:3])


def _ordinal(day: int, written: str) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return suffix.upper() if written.isupper() else suffix
