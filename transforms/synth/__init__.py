"""Synthetic EHR chart exports of an autonomic clinic (FHIR R4 NDJSON, Bundles, CSV), fake PHI.

Two profiles: `paper` plants the published 29-patient LDN cohort (study-ldn.md) among distractors,
so the study tables must reproduce the published numbers; `clinic` draws any number of patients
with realistic rates. `defects=True` adds the faults listed in `defects.py`.

```python
from transforms.synth import generate, write_export

export = generate("paper", seed=0)
write_export(export, "ndjson", "out/ndjson")
export.answer_key.cohort  # what the study must find (never written to the files)
```
"""

from __future__ import annotations

from .chart import QuestionnaireForm
from .clinic import clinic_charts
from .defects import plant_defects
from .export import SyntheticExport
from .paper import paper_charts
from .writers import FORMATS, write_export

__all__ = ["FORMATS", "PROFILES", "SyntheticExport", "generate", "write_export"]

PROFILES = ("paper", "clinic")
DEFAULT_CLINIC_PATIENTS = 1000


def generate(
    profile: str = "paper",
    patients: int | None = None,
    seed: int = 0,
    defects: bool = False,
    questionnaire_url: str = "http://example.org/fhir/Questionnaire/compass-31",
    link_id_prefix: str = "q",
) -> SyntheticExport:
    """Generate a synthetic chart export.

    Args:
        profile: `paper` (the published cohort among distractors and ordinary patients) or
            `clinic` (a clinic population).
        patients: number of patients; None for the profile's default (60 for `paper`, which
            needs at least 49; 1000 for `clinic`).
        seed: everything is drawn from it; the same seed gives the same export, byte for byte.
        defects: also plant the faults described in `transforms/synth/defects.py`.
        questionnaire_url: canonical of the COMPASS-31 Questionnaire the responses answer; also
            the system of every answer Coding.
        link_id_prefix: prefix of the COMPASS-31 linkIds (`q` gives `q1` .. `q31`).

    Returns:
        The export: resources per patient, the answer key (paper) and the planted faults.

    Raises:
        ValueError: for an unknown profile or too few patients.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if patients is not None and patients < 1:
        raise ValueError("patients must be a positive number")
    form = QuestionnaireForm(questionnaire_url, link_id_prefix)
    answer_key = None
    if profile == "paper":
        charts, answer_key = paper_charts(seed, patients, form)
    else:
        charts = clinic_charts(seed, patients or DEFAULT_CLINIC_PATIENTS, form)
    export = SyntheticExport(
        profile=profile,
        seed=seed,
        questionnaire_url=questionnaire_url,
        link_id_prefix=link_id_prefix,
        patients=charts,
        answer_key=answer_key,
    )
    if defects:
        export.defects, export.malformed_ids = plant_defects(charts, seed, profile, form)
    return export
