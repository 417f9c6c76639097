"""Which customers' contacts get tracked registration (002 §2.2: 高风险客户 get special registration)."""

from __future__ import annotations

from services.intake.domain.customer import tracked_reason


def test_a_high_risk_customers_contact_is_tracked_and_says_why() -> None:
    assert tracked_reason({"grade": "basic", "risk_level": "high"}) == "risk_level:high"


def test_other_risk_levels_and_unknown_customers_are_not_tracked() -> None:
    assert tracked_reason({"grade": "strategic", "risk_level": "mid"}) is None
    assert tracked_reason({"grade": "basic", "risk_level": "low", "value_tier": "high"}) is None
    assert tracked_reason({"grade": "basic"}) is None
