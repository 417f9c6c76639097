"""`python -m services.routing serve|migrate`."""

from __future__ import annotations

import sys

from services.routing.app import spec
from services.routing.config import RoutingSettings
from shared.app import main

if __name__ == "__main__":
    sys.exit(main(spec(), RoutingSettings(), sys.argv[1:]))
