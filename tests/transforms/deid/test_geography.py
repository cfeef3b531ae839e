"""ZIP3 generalisation (deid.md section 5): the Python rule and its SQL twin agree."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from transforms.deid.geography import RESTRICTED_ZIP3, zip3, zip3_sql

SPEC_RESTRICTED = [
    "036",
    "059",
    "063",
    "102",
    "202",
    "203",
    "204",
    "205",
    "369",
    "556",
    "692",
    "753",
    "772",
    "790",
    "821",
    "823",
    "830",
    "831",
    "878",
    "879",
    "884",
    "890",
    "893",
]

# (postal code, country, expected zip3)
CASES = [
    *((f"{prefix}01", "US", "000") for prefix in SPEC_RESTRICTED),
    *((f"{prefix}01-1234", None, "000") for prefix in SPEC_RESTRICTED),
    *((f"{prefix}011234", "USA", "000") for prefix in SPEC_RESTRICTED),
    ("02139", "US", "021"),
    ("02139", None, "021"),
    ("02139", "", "021"),
    ("02139", " usa ", "021"),
    ("02139", "United States", "021"),
    ("02139", "united states of america", "021"),
    ("02139-4307", "US", "021"),  # ZIP+4 with dash
    ("021394307", "US", "021"),  # ZIP+4 without dash
    ("  02139  ", "US", "021"),  # whitespace trimmed
    (" 03601-0001 ", None, "000"),
    ("03700", "US", "037"),  # neighbours of restricted prefixes are kept
    ("20100", "US", "201"),
    ("20600", "US", "206"),
    ("02139", "CA", None),  # non-US
    ("02139", "Canada", None),
    ("10115", "DE", None),
    ("K1A 0B1", "CA", None),
    ("K1A 0B1", None, None),
    ("0213", "US", None),  # fewer than 5 digits
    ("021", "US", None),
    ("2", "US", None),
    ("", "US", None),
    ("ABCDE", "US", None),  # letters
    ("12a45", "US", None),
    ("02139-43", "US", None),  # malformed ZIP+4
    ("0213943070", "US", None),
    ("02139 4307", "US", None),
    (None, "US", None),
]


def sql_zip3(cases: list[tuple[str | None, str | None]]) -> list[str | None]:
    """``zip3_sql`` evaluated in DuckDB over a table of (postal, country), in order."""
    table = pa.table(
        {
            "i": pa.array(range(len(cases)), pa.int64()),
            "postal": pa.array([p for p, _ in cases], pa.string()),
            "country": pa.array([c for _, c in cases], pa.string()),
        }
    )
    with duckdb.connect() as con:
        con.register("cases", table)
        expression = zip3_sql('"postal"', '"country"')
        return [r[0] for r in con.sql(f"SELECT {expression} FROM cases ORDER BY i").fetchall()]


def test_restricted_list_is_the_23_prefixes_of_the_spec():
    assert sorted(RESTRICTED_ZIP3) == SPEC_RESTRICTED
    assert len(SPEC_RESTRICTED) == 23


@pytest.mark.parametrize(("postal", "country", "expected"), CASES)
def test_zip3(postal, country, expected):
    assert zip3(postal, country) == expected


def test_zip3_sql_agrees_with_zip3_on_every_case():
    got = sql_zip3([(postal, country) for postal, country, _ in CASES])
    assert got == [expected for _, _, expected in CASES]


@pytest.mark.parametrize("prefix", SPEC_RESTRICTED)
def test_every_restricted_prefix_becomes_000_in_python_and_sql(prefix):
    postal = f"{prefix}42"
    assert zip3(postal) == "000"
    assert sql_zip3([(postal, None)]) == ["000"]


def test_non_ascii_digits_are_not_a_zip():
    postal = "\uff10\uff13\uff16\uff10\uff11"  # fullwidth 03601
    assert zip3(postal, "US") is None
    assert sql_zip3([(postal, "US")]) == [None]


@pytest.mark.parametrize("postal", ["\t02139", "02139\n"])
def test_python_and_sql_agree_on_other_whitespace(postal):
    assert sql_zip3([(postal, "US")]) == [zip3(postal, "US")]
