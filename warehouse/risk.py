"""k-anonymity of core.patients over the quasi-identifier sets of deid.md section 8, in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache

import duckdb

from .errors import LedgerError
from .schema import SQL_DIR
from .sqltools import transaction, utc_now

INTERNAL_K = 5
# The age quasi-identifier: the birth year, or age_group when it is NULL. The 90+ rule stores
# birth_year NULL with age_group '90+', so everyone 90 or older shares one value, '90+', while
# an unknown birth date (both NULL) is the separate value NULL.
QI_AGE = "coalesce(CAST(birth_year AS VARCHAR), age_group)"
QI_SETS: dict[str, tuple[str, ...]] = {
    "qi_basic": (QI_AGE, "sex", "zip3"),
    "qi_extended": (QI_AGE, "sex", "zip3", "race", "ethnicity"),
}
PATIENTS_TABLE = "core.patients"


@dataclass(frozen=True)
class ClassSummary:
    """The equivalence classes of one quasi-identifier set, reduced to counts.

    Attributes:
        patients: patients measured (one row each).
        classes: equivalence classes (distinct value combinations, NULL counted as a value).
        min_class_size: members of the smallest class; None when there are no patients.
        classes_below_k: classes with fewer than k members.
        patients_below_k: patients in those classes.
    """

    patients: int
    classes: int
    min_class_size: int | None
    classes_below_k: int
    patients_below_k: int


@dataclass(frozen=True)
class RiskRow:
    """One row of ``audit.risk``: a run's k-anonymity for one quasi-identifier set.

    Attributes:
        run_id: the run measured (``audit.runs``).
        measured_at: when (UTC).
        qi_set: the quasi-identifier set's name (``QI_SETS``).
        k: the threshold the below-k counts use.
        patients: patients measured.
        classes: equivalence classes.
        min_class_size: members of the smallest class; None when there are no patients.
        classes_below_k: classes with fewer than k members.
        patients_below_k: patients in those classes.
    """

    run_id: str
    measured_at: datetime
    qi_set: str
    k: int
    patients: int
    classes: int
    min_class_size: int | None
    classes_below_k: int
    patients_below_k: int

    @property
    def share_below_k(self) -> float:
        """The share of patients in classes below k (0.0 when there are no patients)."""
        return self.patients_below_k / self.patients if self.patients else 0.0


def measure_risk(con: duckdb.DuckDBPyConnection, run_id: str, k: int = INTERNAL_K) -> list[RiskRow]:
    """Measure k-anonymity of core.patients for every set in ``QI_SETS`` and store it.

    Measuring again in the same run with the same k replaces that run's rows: the latest
    measurement of a run is the one its report shows.

    Args:
        con: the read-write warehouse connection, outside any transaction.
        run_id: a run recorded in ``audit.runs``.
        k: the threshold (deid.md: 5 inside the warehouse, where it is reported, not enforced).

    Returns:
        One row per quasi-identifier set, in ``QI_SETS`` order, as stored in ``audit.risk``.

    Raises:
        ValueError: k below 2 (every class has at least one member).
        LedgerError: the run is not recorded in ``audit.runs``.
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, not {k}")
    recorded = con.execute("SELECT count(*) FROM audit.runs WHERE run_id = ?", [run_id]).fetchall()
    if not recorded[0][0]:
        raise LedgerError(f"run {run_id!r} is not recorded in audit.runs")
    measured_at = utc_now()
    with transaction(con):
        ensure_risk_tables(con)
        rows = [
            RiskRow(
                run_id,
                measured_at,
                name,
                k,
                **asdict(summarise_classes(con, PATIENTS_TABLE, qi, k)),
            )
            for name, qi in QI_SETS.items()
        ]
        con.executemany(
            """
            INSERT OR REPLACE INTO audit.risk (run_id, measured_at, qi_set, k, patients, classes,
                                               min_class_size, classes_below_k, patients_below_k)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                (
                    row.run_id,
                    row.measured_at,
                    row.qi_set,
                    row.k,
                    row.patients,
                    row.classes,
                    row.min_class_size,
                    row.classes_below_k,
                    row.patients_below_k,
                )
                for row in rows
            ],
        )
    return rows


def summarise_classes(
    con: duckdb.DuckDBPyConnection, source: str, qi_columns: Sequence[str], k: int
) -> ClassSummary:
    """Count the equivalence classes of ``qi_columns`` over ``source`` (``sql/risk.sql``).

    Args:
        con: a warehouse connection.
        source: a patient-level relation, one row per patient: a table name or a parenthesised
            subquery; trusted SQL, never user input.
        qi_columns: the quasi-identifier column expressions; trusted SQL.
        k: the threshold of the below-k counts.
    """
    query = _sql("risk.sql").format(source=source, qi_columns=", ".join(qi_columns))
    return ClassSummary(*con.execute(query, {"k": k}).fetchall()[0])


def below_k_query(source: str, qi_columns: Sequence[str]) -> str:
    """The query of the ``patient_id`` values in classes below ``$k`` (``sql/risk_below_k.sql``).

    Args:
        source: a patient-level relation with a ``patient_id`` column; trusted SQL.
        qi_columns: the quasi-identifier column expressions; trusted SQL.
    """
    return _sql("risk_below_k.sql").format(source=source, qi_columns=", ".join(qi_columns))


def ensure_risk_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``audit.risk`` and ``audit.exports`` when missing (``sql/audit_risk.sql``).

    Args:
        con: the read-write warehouse connection; inside the caller's transaction, the tables
            appear only if it commits.
    """
    con.execute(_sql("audit_risk.sql"))


@cache
def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")
