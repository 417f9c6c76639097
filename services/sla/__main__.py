"""`python -m services.sla serve|migrate`."""

from __future__ import annotations

import sys

from services.sla.app import spec
from services.sla.config import SlaSettings
from shared.app import main

if __name__ == "__main__":
    sys.exit(main(spec(), SlaSettings(), sys.argv[1:]))
