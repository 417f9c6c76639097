-- The customer's value tier, risk level and lifecycle stage as contact.received carried them (RULES.md: separate
-- attributes, used by rules and reports), for the attainment figures' breakdowns. Contacts received before
-- this migration have none.
ALTER TABLE sla_contact ADD COLUMN value_tier text;
ALTER TABLE sla_contact ADD COLUMN risk_level text;
ALTER TABLE sla_contact ADD COLUMN lifecycle_stage text;
