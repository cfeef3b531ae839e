"""The term list of de-identification class ``term``: allow-listed clinical vocabulary.

A ``term`` column holds a short string a person chose, such as the clinician's wording of a
diagnosis (``Condition.code.text``). Free text can hold anything, so the value is kept only when,
normalised (lower case, each run of whitespace one space, no leading or trailing space), it is
an entry of the reviewed list ``terms.yaml``; the column then holds that entry's canonical
spelling from the file, never the raw text. Any other value becomes NULL and is counted.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from .classes import DeidConfigurationError

TERMS_FILE = Path(__file__).with_name("terms.yaml")
MAX_TERM_LENGTH = 100
# What a listed term may contain: vocabulary, never a digit run long enough to be an identifier
_ALLOWED_TERM = re.compile(r"^[A-Za-z0-9 \-()\[\]/,'.]+$")
_LONG_DIGITS = re.compile(r"[0-9]{3,}")
# SQL and Python normalise alike: RE2's \s (space, tab, newline, CR, FF, VT) plus Unicode spaces
_WHITESPACE = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_WHITESPACE_SQL = r"[\s\pZ]+"


def normalise_term(text: str) -> str:
    """Lower case, each run of whitespace one space, no leading or trailing space."""
    return _WHITESPACE.sub(" ", text).strip(" ").lower()


def normalised_term_sql(raw_sql: str) -> str:
    """SQL of ``normalise_term`` applied to the expression ``raw_sql``."""
    return f"lower(trim(regexp_replace({raw_sql}, '{_WHITESPACE_SQL}', ' ', 'g')))"


@functools.cache
def term_list(path: Path = TERMS_FILE) -> dict[str, str]:
    """The listed terms: normalised spelling (of every term and variant) -> canonical term.

    Raises:
        DeidConfigurationError: the file is not a valid term list (the run refuses to start).
    """
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeidConfigurationError(f"{where}: cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise DeidConfigurationError(f"{where}: needs 'version: 1' and a 'terms' list")
    entries = data.get("terms")
    if not isinstance(entries, list) or not entries:
        raise DeidConfigurationError(f"{where}: 'terms' must be a non-empty list")
    terms: dict[str, str] = {}
    for number, entry in enumerate(entries):
        at = f"{where}: terms[{number}]"
        if not isinstance(entry, dict) or set(entry) - {"term", "why", "variants"}:
            raise DeidConfigurationError(f"{at}: only the keys term, why and variants")
        why = entry.get("why")
        if not isinstance(why, str) or not why.strip():
            raise DeidConfigurationError(f"{at}: 'why' must say why this is clinical vocabulary")
        canonical = entry.get("term")
        variants = entry.get("variants", [])
        if not isinstance(variants, list):
            raise DeidConfigurationError(f"{at}.variants: must be a list")
        for spelling in (canonical, *variants):
            if (
                not isinstance(spelling, str)
                or not _ALLOWED_TERM.match(spelling)
                or _LONG_DIGITS.search(spelling)
                or len(spelling) > MAX_TERM_LENGTH
                or spelling != spelling.strip()
            ):
                raise DeidConfigurationError(
                    f"{at}: every term and variant must be 1-{MAX_TERM_LENGTH} characters of "
                    "letters, digits (at most two in a row), spaces and - ( ) [ ] / , ' ."
                )
            key = normalise_term(spelling)
            if terms.get(key, canonical) != canonical:
                raise DeidConfigurationError(
                    f"{at}: a spelling is listed under two terms ({canonical!r}, {terms[key]!r})"
                )
            terms[key] = canonical
    return terms


def term_sql(raw_sql: str, path: Path = TERMS_FILE) -> str:
    """SQL of the ``term`` class: the canonical listed term, or NULL for anything else."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    cases = " ".join(
        f"WHEN {literal(key)} THEN {literal(canonical)}"
        for key, canonical in sorted(term_list(path).items())
    )
    return f"(CASE {normalised_term_sql(raw_sql)} {cases} END)"
