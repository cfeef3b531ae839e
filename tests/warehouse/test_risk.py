"""k-anonymity measurement: hand-counted classes with NULLs and 90+, audit.risk rows, refusals."""

from __future__ import annotations

import duckdb
import pytest

from warehouse import LedgerError, start_run
from warehouse.risk import QI_SETS, measure_risk

RUN = "run-1"


def add_patients(
    con: duckdb.DuckDBPyConnection,
    count: int,
    *,
    birth_year: int | None = 1960,
    age_group: str | None = None,
    sex: str | None = "female",
    race: str | None = "2106-3",
    ethnicity: str | None = "2186-5",
    zip3: str | None = "021",
    state: str | None = "MA",
    country: str | None = "US",
) -> None:
    """Insert ``count`` patients with the same quasi-identifiers and fresh ids into core.patients."""
    con.execute(
        """
        INSERT INTO core.patients BY NAME
        SELECT
            printf('p%04d', (SELECT count(*) FROM core.patients) + i) AS patient_id,
            $birth_year::INTEGER AS birth_year,
            $age_group::VARCHAR AS age_group,
            $sex::VARCHAR AS sex,
            $race::VARCHAR AS race,
            $ethnicity::VARCHAR AS ethnicity,
            $zip3::VARCHAR AS zip3,
            $state::VARCHAR AS state,
            $country::VARCHAR AS country,
            false AS deceased,
            NULL::DATE AS deceased_date,
            'run-1' AS _run_id,
            repeat('a', 64) AS _source_file_hash,
            i + 1 AS _source_line,
            TIMESTAMP '2024-01-01 00:00:00' AS _loaded_at
        FROM range($count) AS r(i)
        """,
        {
            "count": count,
            "birth_year": birth_year,
            "age_group": age_group,
            "sex": sex,
            "race": race,
            "ethnicity": ethnicity,
            "zip3": zip3,
            "state": state,
            "country": country,
        },
    )


@pytest.fixture
def run(writer) -> duckdb.DuckDBPyConnection:
    """The writer with run RUN recorded in audit.runs."""
    start_run(writer, RUN, "ED", "hmac", False, "fingerprint", "config")
    return writer


def test_measure_risk_matches_a_hand_count(run):
    add_patients(run, 5)  # 1960 F 021, race 2106-3
    add_patients(run, 3, race="2054-5")  # same basic class, own extended class
    add_patients(run, 2, birth_year=None, age_group="90+", sex="male")  # 90+: one value
    add_patients(run, 1, birth_year=None, sex="male")  # unknown age: NULL, not 90+
    add_patients(run, 3, birth_year=1970, zip3=None)  # NULL zip3: a value of its own
    add_patients(run, 3, birth_year=1970, zip3=None, race=None)

    rows = {row.qi_set: row for row in measure_risk(run, RUN)}

    # basic: {1960 F 021}: 8, {90+ M 021}: 2, {NULL M 021}: 1, {1970 F NULL}: 6
    basic = rows["qi_basic"]
    assert (basic.patients, basic.classes, basic.min_class_size) == (17, 4, 1)
    assert (basic.classes_below_k, basic.patients_below_k) == (2, 3)
    assert basic.share_below_k == pytest.approx(3 / 17)
    # extended: 5, 3, 2, 1, 3, 3 (race NULL apart from race 2106-3)
    extended = rows["qi_extended"]
    assert (extended.patients, extended.classes, extended.min_class_size) == (17, 6, 1)
    assert (extended.classes_below_k, extended.patients_below_k) == (5, 12)
    assert extended.share_below_k == pytest.approx(12 / 17)
    assert list(rows) == list(QI_SETS)
    assert {(row.run_id, row.k) for row in rows.values()} == {(RUN, 5)}


def test_audit_risk_holds_counts_only_and_a_rerun_replaces_its_rows(run):
    add_patients(run, 6)
    add_patients(run, 12, sex="male")
    measure_risk(run, RUN)
    add_patients(run, 1, sex="other")
    measure_risk(run, RUN)
    measure_risk(run, RUN, k=11)

    columns = [
        name
        for (name,) in run.execute(
            """
            SELECT column_name FROM duckdb_columns()
            WHERE schema_name = 'audit' AND table_name = 'risk' ORDER BY column_index
            """
        ).fetchall()
    ]
    assert columns == [
        "run_id",
        "measured_at",
        "qi_set",
        "k",
        "patients",
        "classes",
        "min_class_size",
        "classes_below_k",
        "patients_below_k",
    ]
    stored = run.execute(
        """
        SELECT qi_set, k, patients, classes, min_class_size, classes_below_k, patients_below_k
        FROM audit.risk ORDER BY k, qi_set
        """
    ).fetchall()
    assert stored == [
        ("qi_basic", 5, 19, 3, 1, 1, 1),
        ("qi_extended", 5, 19, 3, 1, 1, 1),
        ("qi_basic", 11, 19, 3, 1, 2, 7),
        ("qi_extended", 11, 19, 3, 1, 2, 7),
    ]


def test_measure_risk_on_no_patients_gives_zero_counts(run):
    rows = measure_risk(run, RUN)

    assert [(r.patients, r.classes, r.min_class_size, r.patients_below_k) for r in rows] == [
        (0, 0, None, 0),
        (0, 0, None, 0),
    ]
    assert all(row.share_below_k == 0.0 for row in rows)


def test_measure_risk_refuses_an_unknown_run_and_k_below_2(run):
    with pytest.raises(LedgerError, match="not recorded"):
        measure_risk(run, "no-such-run")
    with pytest.raises(ValueError, match="at least 2"):
        measure_risk(run, RUN, k=1)
