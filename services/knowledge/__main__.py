"""`python -m services.knowledge serve|migrate`."""

from __future__ import annotations

import sys

from services.knowledge.app import spec
from services.knowledge.config import KnowledgeSettings
from shared.app import main

if __name__ == "__main__":
    sys.exit(main(spec(), KnowledgeSettings(), sys.argv[1:]))
