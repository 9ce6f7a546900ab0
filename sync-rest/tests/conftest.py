"""Fixtures for Part A's rings: the part dir on sys.path, settings, Flask apps with temp storage, the native stack."""
from __future__ import annotations

import sys
from pathlib import Path


PART_DIR = Path(__file__).resolve().parents[1]
ROOT = PART_DIR.parent
for p in (str(ROOT), str(PART_DIR)):
    if p not in sys.path:
        sys.path.insert(0, p)

from common.testing import native_stack_fixture, settings, tmp_settings  # noqa: E402,F401

native_stack = native_stack_fixture("sync-rest")
