"""Per-patient date shifting (profile ED) and the 90+ age rule."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from .keys import DeidKeys

DEFAULT_MAX_SHIFT_DAYS = 365
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
AGE_GROUP_90_PLUS = "90+"


def date_offset_days(
    keys: DeidKeys, canonical_key: str, max_days: int = DEFAULT_MAX_SHIFT_DAYS
) -> int:
    """The patient's shift: in [-R, -1] U [1, R], never 0, the same for every date of the patient.

    ``d`` = first 8 bytes of HMAC(K_dateshift, key) as unsigned; ``o = (d mod 2R) - R``, plus 1
    when ``o >= 0`` (deid.md section 4).
    """
    digest = hmac.new(keys.dateshift, canonical_key.encode("utf-8"), hashlib.sha256).digest()
    d = int.from_bytes(digest[:8], "big")
    offset = d % (2 * max_days) - max_days
    return offset + 1 if offset >= 0 else offset


def parse_full_date(text: str | None) -> dt.date | None:
    """The calendar date of a FHIR date/dateTime; None for partial (YYYY, YYYY-MM) or invalid."""
    if not text:
        return None
    match = _FULL_DATE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def shift_date(text: str | None, offset_days: int) -> dt.date | None:
    """Shift a FHIR date/dateTime by ``offset_days``; time truncated; partial dates become None."""
    date = parse_full_date(text)
    return None if date is None else date + dt.timedelta(days=offset_days)


def age_in_years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birth_year_and_group(
    birth_date: str | None, reference_date: dt.date
) -> tuple[int | None, str | None]:
    """Birth year, or (None, '90+') for anyone 90 or older on ``reference_date``.

    The reference is the latest date the data describes the patient at: the date of death, else
    the run date (conservative: a living patient who turns 90 is grouped from then on). A partial
    birth date keeps its year when it cannot reach 90; otherwise it is grouped too.
    """
    if not birth_date:
        return None, None
    full = parse_full_date(birth_date)
    if full is not None:
        if age_in_years(full, reference_date) >= 90:
            return None, AGE_GROUP_90_PLUS
        return full.year, None
    year_match = re.match(r"^(\d{4})", birth_date)
    if not year_match:
        return None, None
    year = int(year_match[1])
    # the oldest the person can be: born on 1 January of that year
    if age_in_years(dt.date(year, 1, 1), reference_date) >= 90:
        return None, AGE_GROUP_90_PLUS
    return year, None
