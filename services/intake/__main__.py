"""`python -m services.intake serve|migrate`."""

from __future__ import annotations

import sys

from services.intake.app import spec
from services.intake.config import IntakeSettings
from shared.app import main

if __name__ == "__main__":
    sys.exit(main(spec(), IntakeSettings(), sys.argv[1:]))
