-- The customer's value tier, risk level and lifecycle stage as contact.received carried them (RULES.md: separate
-- attributes, used by rules and reports), for the satisfaction figures' breakdowns. Contacts projected before
-- this migration have none.
ALTER TABLE contact_fact ADD COLUMN value_tier text;
ALTER TABLE contact_fact ADD COLUMN risk_level text;
ALTER TABLE contact_fact ADD COLUMN lifecycle_stage text;
