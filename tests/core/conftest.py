"""Shared fixtures for the core tests: tiny, seeded data and an isolated user folder."""

from __future__ import annotations

import pytest
from tiny_data import tiny_splits

from vaestudio.core.data.datasets import DatasetSplits


@pytest.fixture
def splits() -> DatasetSplits:
    return tiny_splits()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VAESTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
