"""Fixtures shared by the whole suite: real PostgreSQL and Redis, or a loud skip.

Locally a missing service skips the tests that need it with the reason in the
summary; in CI (``NEUROSCREEN_REQUIRE_SERVICES=1``) it fails them instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "services/intake", ROOT / "services/screening", ROOT / "services/notify"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
sys.path.insert(0, str(ROOT / "tests"))

# Tests must never read a developer's own environment by accident.
for key in list(os.environ):
    if key.startswith("NEUROSCREEN_") and not key.startswith(
        ("NEUROSCREEN_TEST_", "NEUROSCREEN_REQUIRE")
    ):
        del os.environ[key]

pytest_plugins = ["support.services", "ehr_server"]
