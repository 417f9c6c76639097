"""`python -m services.web serve|migrate`."""

from __future__ import annotations

import sys

from services.web.app import main
from services.web.config import WebSettings

if __name__ == "__main__":
    sys.exit(main(WebSettings(), sys.argv[1:]))
