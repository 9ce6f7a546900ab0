"""Fixtures for Part B's rings: the part dir on sys.path, settings, temp stores, the native stack."""
from __future__ import annotations

import sys
from pathlib import Path


PART_DIR = Path(__file__).resolve().parents[1]
ROOT = PART_DIR.parent
for p in (str(ROOT), str(PART_DIR), str(PART_DIR / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

from common.testing import native_stack_fixture, settings, tmp_settings  # noqa: E402,F401

native_stack = native_stack_fixture("async-rabbitmq")
