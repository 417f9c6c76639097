"""`python -m services.feedback serve|migrate`."""

from __future__ import annotations

import sys

from services.feedback.app import spec
from services.feedback.config import FeedbackSettings
from shared.app import main

if __name__ == "__main__":
    sys.exit(main(spec(), FeedbackSettings(), sys.argv[1:]))
