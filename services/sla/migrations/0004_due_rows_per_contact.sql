-- A contact has a dozen due rows at most (its clocks' warnings, breaches and escalation levels). ANALYZE run
-- while sla_due held a few contacts' rows recorded contact_id as having a handful of distinct values, and a
-- plan prepared with those statistics expected "contact_id = $1" to match thousands of rows: a sequential
-- scan, kept by its connection until the next ANALYZE. A relative figure stays right as the table grows.
ALTER TABLE sla_due ALTER COLUMN contact_id SET (n_distinct = -0.05);
ANALYZE sla_due;  -- the figure takes effect at the next ANALYZE: now, not whenever autovacuum comes
