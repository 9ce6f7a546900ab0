"""Fixtures for Part B's rings: the part dir on sys.path, settings, temp stores, the native stack."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
ROOT = PART_DIR.parent
for p in (str(ROOT), str(PART_DIR), str(PART_DIR / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from common.settings import Settings  # noqa: E402
from common.stack import NativeStack  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text")


@pytest.fixture(scope="session")
def native_stack(settings):
    """The whole part started natively (as `make up PART=async-rabbitmq`), stopped at the end."""
    stack = NativeStack("async-rabbitmq", settings)
    stack.up()
    yield stack
    stack.down()
