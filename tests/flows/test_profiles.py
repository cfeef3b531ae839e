"""De-identification profiles end to end: SH keeps no date finer than a year, ED keeps intervals."""

from __future__ import annotations

import pytest

from tests.flows.conftest import Workspace
from transforms.synth import generate, write_export

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

# Dates written as text: ISO, US numeric, and month names with a day.
DATE_IN_TEXT = r"(\d{4}-\d{2}-\d{2})|(\d{1,2}/\d{1,2}/\d{2,4})|((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2})"
# Process metadata, not a date of an individual: when the row was loaded.
LOAD_TIME = "_loaded_at"

# "Follow-up 90-270 days after the prescription" on the warehouse: the first naltrexone order
# with a daily dose of at most 5 mg, then any COMPASS-31 response 90 to 270 days later.
FOLLOW_UP_PATIENTS = """
WITH ldn AS (
    SELECT patient_id, min(authored_date) AS prescribed
    FROM core.meds
    WHERE rxnorm_code = '7243' AND dose_value * coalesce(frequency_per_day, 1) <= 5
    GROUP BY patient_id
)
SELECT DISTINCT ldn.patient_id
FROM ldn JOIN core.questionnaire_responses r USING (patient_id)
WHERE r.authored_date - ldn.prescribed BETWEEN 90 AND 270
ORDER BY 1
"""


@pytest.fixture(scope="module")
def paper_export():
    return generate(profile="paper", seed=3)


def run_profile(tmp_path, export, profile: str, key_from: Workspace | None = None) -> Workspace:
    workspace = Workspace(tmp_path / profile)
    if key_from is not None:  # one key: the same pseudonyms in both warehouses
        (workspace.vault / "deid.key").write_bytes((key_from.vault / "deid.key").read_bytes())
    write_export(export, "ndjson", workspace.inbox)
    summary = workspace.run(profile=profile)
    assert summary["status"] == "succeeded" and summary["profile"] == profile
    return workspace


def test_safe_harbor_keeps_no_date_finer_than_a_year(tmp_path, paper_export):
    workspace = run_profile(tmp_path, paper_export, "SH")
    columns = workspace.query(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'core' AND (data_type IN ('DATE', 'VARCHAR') OR data_type LIKE 'TIMESTAMP%')"
    )
    assert columns, "nothing was checked"
    for schema, table, column, data_type in columns:
        if data_type != "VARCHAR":
            assert column == LOAD_TIME, f"{schema}.{table}.{column} is a {data_type} under SH"
            continue
        (hits,) = workspace.query(
            f'SELECT count(*) FROM "{schema}"."{table}" WHERE regexp_matches("{column}", ?)',
            [DATE_IN_TEXT],
        )[0]
        assert hits == 0, f"{schema}.{table}.{column} holds dates"
    years = workspace.query("SELECT min(start_date), max(start_date) FROM core.visits")[0]
    assert 1990 < years[0] <= years[1] < 2030  # years, as integers
    assert workspace.query("SELECT profile FROM audit.runs") == [("SH",)]


def test_date_shift_keeps_the_follow_up_window_selection(tmp_path, paper_export):
    real = run_profile(tmp_path, paper_export, "LDS")
    shifted = run_profile(tmp_path, paper_export, "ED", key_from=real)
    real_patients = real.query(FOLLOW_UP_PATIENTS)
    assert len(real_patients) >= 29  # the cohort, and the distractors with a window visit
    assert shifted.query(FOLLOW_UP_PATIENTS) == real_patients
    # the shift moved the dates: the two warehouses differ on every visit date
    (same,) = real.query(
        f"SELECT count(*) FROM core.visits r JOIN (SELECT * FROM read_parquet('{_visits_parquet(shifted, tmp_path)}')) s "
        "USING (visit_id) WHERE r.start_date = s.start_date"
    )[0]
    assert same == 0


def _visits_parquet(workspace: Workspace, tmp_path) -> str:
    path = tmp_path / "ed_visits.parquet"
    import duckdb

    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        con.execute(
            f"COPY (SELECT visit_id, start_date FROM core.visits) TO '{path}' (FORMAT parquet)"
        )
    return str(path)


def test_random_crosswalk_pseudonyms_are_random_but_stable(tmp_path, paper_export):
    workspace = Workspace(tmp_path / "crosswalk")
    write_export(paper_export, "ndjson", workspace.inbox)
    workspace.run(pseudonym_mode="random_crosswalk")
    first = workspace.tables(exclude_columns=("_run_id", "_loaded_at"))
    workspace.run(pseudonym_mode="random_crosswalk", full=True)
    assert (
        workspace.tables(exclude_columns=("_run_id", "_loaded_at")) == first
    )  # the vault keeps them

    hmac_workspace = Workspace(tmp_path / "hmac")
    (hmac_workspace.vault / "deid.key").write_bytes((workspace.vault / "deid.key").read_bytes())
    write_export(paper_export, "ndjson", hmac_workspace.inbox)
    hmac_workspace.run()
    random_ids = {row[0] for row in workspace.query("SELECT patient_id FROM core.patients")}
    keyed_ids = {row[0] for row in hmac_workspace.query("SELECT patient_id FROM core.patients")}
    assert len(random_ids) == len(keyed_ids) == 60
    assert random_ids.isdisjoint(keyed_ids)
    assert workspace.query("SELECT DISTINCT pseudonym_mode FROM audit.runs") == [
        ("random_crosswalk",)
    ]
