"""Date shifting and the 90+ rule (deid.md section 4), with hypothesis properties."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.deid.apply import DeidContext
from transforms.deid.dates import (
    AGE_GROUP_90_PLUS,
    DEFAULT_MAX_SHIFT_DAYS,
    birth_year_and_group,
    date_offset_days,
    parse_full_date,
    shift_date,
)
from transforms.deid.keys import DeidKeys

from .helpers import MASTER_KEY, OTHER_MASTER_KEY, keys_for, staging_connection, sub_key

KEYS = keys_for()
OTHER_KEYS = keys_for(OTHER_MASTER_KEY)
REFERENCE_2026 = dt.date(2026, 3, 1)

master_keys = st.binary(min_size=32, max_size=32)
patient_keys = st.text(min_size=1, max_size=40)
max_days = st.integers(min_value=1, max_value=2000)
full_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


def spec_offset(master: bytes, canonical: str, r: int) -> int:
    """The offset exactly as deid.md section 4 states it, independently of dates.py."""
    digest = hmac.new(sub_key(master, "dateshift"), canonical.encode(), hashlib.sha256).digest()
    o = int.from_bytes(digest[:8], "big") % (2 * r) - r
    return o + 1 if o >= 0 else o


@pytest.fixture(scope="module")
def sql():
    """A staging connection with the de-identification functions and macros."""
    con = staging_connection(DeidContext(keys=KEYS))
    yield con
    con.close()


# ------------------------------------------------------------------------------------ offsets


@given(master=master_keys, canonical=patient_keys, r=max_days)
def test_offset_is_in_range_never_zero_and_follows_the_spec(master, canonical, r):
    offset = date_offset_days(DeidKeys.from_master(master), canonical, r)
    assert offset != 0
    assert -r <= offset <= r
    assert offset == spec_offset(master, canonical, r)


@given(master=master_keys, canonical=patient_keys)
def test_default_range_is_365_days(master, canonical):
    offset = date_offset_days(DeidKeys.from_master(master), canonical)
    assert 1 <= abs(offset) <= DEFAULT_MAX_SHIFT_DAYS == 365


@pytest.mark.parametrize("r", [1, 2, 3])
def test_small_ranges_use_every_nonzero_offset_and_never_zero(r):
    seen = Counter(date_offset_days(KEYS, f"id\x1fehr\x1fp{i}", r) for i in range(400))
    assert set(seen) == {o for o in range(-r, r + 1) if o != 0}


@given(canonical=patient_keys, r=max_days)
def test_offset_is_deterministic(canonical, r):
    assert date_offset_days(KEYS, canonical, r) == date_offset_days(keys_for(), canonical, r)


@given(master=master_keys.filter(lambda k: k != MASTER_KEY))
@settings(max_examples=25)
def test_a_new_key_gives_new_offsets_for_most_patients(master):
    patients = [f"id\x1fehr\x1fp{i}" for i in range(200)]
    new = DeidKeys.from_master(master)
    same = sum(date_offset_days(KEYS, p) == date_offset_days(new, p) for p in patients)
    assert same <= 10  # expected about 200/730 by chance


# ------------------------------------------------------------------------------ shifting dates


@given(first=full_dates, second=full_dates, canonical=patient_keys)
def test_shifted_intervals_equal_original_intervals(first, second, canonical):
    offset = date_offset_days(KEYS, canonical)
    shifted_first = shift_date(first.isoformat(), offset)
    shifted_second = shift_date(second.isoformat(), offset)
    assert shifted_second - shifted_first == second - first
    assert shifted_first - first == dt.timedelta(days=offset)


@given(
    day=full_dates,
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    zone=st.sampled_from(["", "Z", "+14:00", "-12:00", "+05:30", ".123-08:00"]),
    offset=st.integers(-365, 365).filter(bool),
)
def test_time_and_time_zone_are_truncated_to_the_local_date(day, hour, minute, zone, offset):
    text = f"{day.isoformat()}T{hour:02d}:{minute:02d}:59{zone}"
    assert parse_full_date(text) == day
    assert shift_date(text, offset) == day + dt.timedelta(days=offset)


@pytest.mark.parametrize(
    "text",
    [None, "", "2024", "2024-05", "2024-02-30", "2023-02-29", "2024-13-01", "24-01-01", "garbage"],
)
def test_partial_and_invalid_dates_become_none(text):
    assert parse_full_date(text) is None
    assert shift_date(text, 17) is None


@given(
    day=full_dates,
    offset=st.integers(-365, 365).filter(bool),
    suffix=st.sampled_from(["", "T08:30:00Z", "T23:59:59-05:00", "T00:00:00.5+14:00"]),
)
@settings(max_examples=40, deadline=None)
def test_sql_shift_macro_matches_python(sql, day, offset, suffix):
    got = sql.execute("SELECT deid_shift_date(?, ?)", [day.isoformat() + suffix, offset])
    assert got.fetchall() == [(shift_date(day.isoformat() + suffix, offset),)]


def test_sql_shift_macro_nulls_partial_invalid_and_missing_offsets(sql):
    rows = sql.sql(
        "SELECT deid_shift_date(t, o) FROM (VALUES ('2024', 5), ('2024-05', 5), "
        "('2024-02-30', 5), ('x2024-01-01', 5), ('2024-01-01', NULL), (NULL, 5)) AS v(t, o)"
    ).fetchall()
    assert rows == [(None,)] * 6


# ---------------------------------------------------------------------------------- 90+ rule


def test_born_1930_is_grouped_90_plus_in_2026():
    assert birth_year_and_group("1930-06-15", REFERENCE_2026) == (None, AGE_GROUP_90_PLUS)
    assert birth_year_and_group("1930", REFERENCE_2026) == (None, AGE_GROUP_90_PLUS)


def test_an_89_year_old_keeps_the_birth_year():
    assert birth_year_and_group("1936-06-15", REFERENCE_2026) == (1936, None)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (dt.date(2026, 6, 14), (1936, None)),  # the day before the 90th birthday: 89
        (dt.date(2026, 6, 15), (None, AGE_GROUP_90_PLUS)),  # the 90th birthday
        (dt.date(2026, 6, 16), (None, AGE_GROUP_90_PLUS)),
    ],
)
def test_exact_90th_birthday_edge(reference, expected):
    assert birth_year_and_group("1936-06-15", reference) == expected


def test_the_date_of_death_is_the_reference_for_the_deceased():
    died_at_89 = dt.date(2019, 6, 14)
    assert birth_year_and_group("1930-06-15", died_at_89) == (1930, None)
    assert birth_year_and_group("1930-06-15", dt.date(2020, 6, 15)) == (None, AGE_GROUP_90_PLUS)


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        ("1936", (None, AGE_GROUP_90_PLUS)),  # could be 90 on 2026-03-01 (born in January)
        ("1936-01", (None, AGE_GROUP_90_PLUS)),
        ("1937", (1937, None)),  # at most 89 on 2026-03-01
        ("1937-12", (1937, None)),
    ],
)
def test_partial_birth_dates_that_may_be_90_are_grouped(birth_date, expected):
    assert birth_year_and_group(birth_date, REFERENCE_2026) == expected


@pytest.mark.parametrize("birth_date", [None, "", "unknown"])
def test_missing_birth_date_gives_nothing(birth_date):
    assert birth_year_and_group(birth_date, REFERENCE_2026) == (None, None)


@given(birth=st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2025, 12, 31)))
def test_nobody_90_or_older_keeps_a_birth_year(birth):
    year, group = birth_year_and_group(birth.isoformat(), REFERENCE_2026)
    age = REFERENCE_2026.year - birth.year - ((birth.month, birth.day) > (3, 1))
    if age >= 90:
        assert (year, group) == (None, AGE_GROUP_90_PLUS)
    else:
        assert (year, group) == (birth.year, None)
