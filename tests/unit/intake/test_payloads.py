"""A channel payload that cannot become a contact is a 4xx problem naming the field, never a server error."""

from __future__ import annotations

import pytest

from services.intake.api.payloads import inbound_for
from services.intake.config import IntakeSettings
from shared.errors import Problem


@pytest.mark.parametrize("raw", ["ý", "not base64!", "中文"])
def test_a_raw_email_that_is_not_base64_is_a_validation_problem(raw: str) -> None:
    with pytest.raises(Problem) as caught:
        inbound_for("email", {"raw": raw}, IntakeSettings())
    assert (caught.value.status, caught.value.kind, caught.value.detail) == (422, "validation", "raw: not base64")
