"""Exports shared by the generator tests: generated and written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.synth import FORMATS, SyntheticExport, generate, write_export


def _write_all(export: SyntheticExport, root: Path) -> dict[str, Path]:
    folders = {}
    for fmt in FORMATS:
        write_export(export, fmt, root / fmt)
        folders[fmt] = root / fmt
    return folders


@pytest.fixture(scope="session")
def paper_export() -> SyntheticExport:
    return generate("paper", seed=0)


@pytest.fixture(scope="session")
def clinic_export() -> SyntheticExport:
    return generate("clinic", patients=120, seed=1)


@pytest.fixture(scope="session")
def defect_export() -> SyntheticExport:
    return generate("paper", seed=0, defects=True)


@pytest.fixture(scope="session")
def paper_files(paper_export, tmp_path_factory) -> dict[str, Path]:
    return _write_all(paper_export, tmp_path_factory.mktemp("paper"))


@pytest.fixture(scope="session")
def defect_files(defect_export, tmp_path_factory) -> dict[str, Path]:
    return _write_all(defect_export, tmp_path_factory.mktemp("defects"))
