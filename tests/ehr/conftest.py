"""Makes tests/ehr_server.py importable from tests/ehr and provides its fixtures here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ehr_server import ehr, ehr_session  # noqa: F401 - fixtures re-exported for pytest
