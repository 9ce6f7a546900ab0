"""pytest fixtures the parts share (imported into each part's tests/conftest.py)."""
from __future__ import annotations

import pytest

from .settings import Settings
from .stack import NativeStack


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text")


def native_stack_fixture(part: str):
    """A session fixture: the whole part started natively (as `make up PART=<part>`), stopped at the end."""

    @pytest.fixture(scope="session")
    def native_stack(settings):
        stack = NativeStack(part, settings)
        stack.up()
        yield stack
        stack.down()

    return native_stack
