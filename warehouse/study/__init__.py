"""The chart-review study: its config (ldn.yaml), and the builder of the study.* tables.

```python
from warehouse.study import build_study, load_study_config

with open_warehouse(path) as con:
    rows = build_study(con)  # the shipped ldn.yaml; or build_study(con, load_study_config(p))
```

Inside the nightly load, pass it as a ``before_commit`` step of ``load_run`` so the study is
published in the load's transaction.
"""

from .build import (
    COMPARISONS,
    MODELS_DIR,
    SCORES,
    STUDY_SCHEMA,
    StudyBuildError,
    build_study,
    compass31_scores,
    study_models,
    study_table_docs,
    study_table_names,
    study_tests,
)
from .config import (
    COMORBIDITIES,
    DEFAULT_CONFIG,
    REQUIRED_LISTS,
    CodeEntry,
    CodeList,
    StudyConfig,
    StudyConfigError,
    StudyParameters,
    load_study_config,
    study_config_from_mapping,
)

__all__ = [
    "COMORBIDITIES",
    "COMPARISONS",
    "DEFAULT_CONFIG",
    "MODELS_DIR",
    "REQUIRED_LISTS",
    "SCORES",
    "STUDY_SCHEMA",
    "CodeEntry",
    "CodeList",
    "StudyBuildError",
    "StudyConfig",
    "StudyConfigError",
    "StudyParameters",
    "build_study",
    "compass31_scores",
    "load_study_config",
    "study_config_from_mapping",
    "study_models",
    "study_table_docs",
    "study_table_names",
    "study_tests",
]
