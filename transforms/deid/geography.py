"""ZIP3 generalisation with the restricted prefixes of deid.md section 5."""

from __future__ import annotations

import re

# Union of the HHS 2000-census list, the 2020-census list and Microsoft's anonymizer list:
# three-digit ZIP areas with 20,000 people or fewer.
RESTRICTED_ZIP3 = frozenset(
    [
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
)
RESTRICTED_ZIP3_VERSION = "hhs2000+hhs2020+presidio-2024"
US_COUNTRY_NAMES = {"", "US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}
_US_ZIP = re.compile(r"([0-9]{5})(?:-?[0-9]{4})?", re.ASCII)
_SPACES = " "  # both implementations trim spaces only: a tab or newline makes the code invalid


def zip3(postal_code: str | None, country: str | None = None) -> str | None:
    """First three digits of a US ZIP (or ZIP+4); restricted areas '000'; others None."""
    if postal_code is None:
        return None
    if (country or "").strip(_SPACES).upper() not in US_COUNTRY_NAMES:
        return None
    match = _US_ZIP.fullmatch(postal_code.strip(_SPACES))
    if not match:
        return None
    prefix = match[1][:3]
    return "000" if prefix in RESTRICTED_ZIP3 else prefix


def zip3_sql(postal_sql: str, country_sql: str) -> str:
    """The same rule as a DuckDB expression (no UDF round trip for the commonest case)."""
    restricted = ", ".join(f"'{p}'" for p in sorted(RESTRICTED_ZIP3))
    us = ", ".join(f"'{c}'" for c in sorted(US_COUNTRY_NAMES))
    return (
        f"CASE WHEN upper(trim(coalesce({country_sql}, ''))) NOT IN ({us}) THEN NULL "
        f"WHEN NOT regexp_full_match(trim({postal_sql}), '[0-9]{{5}}(-?[0-9]{{4}})?') THEN NULL "
        f"WHEN substr(trim({postal_sql}), 1, 3) IN ({restricted}) THEN '000' "
        f"ELSE substr(trim({postal_sql}), 1, 3) END"
    )
