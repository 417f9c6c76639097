-- Routing's audit moves to the one audit table every service has (shared migration 0010, written by
-- shared/audit.py), in order; the service's own table goes.
INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, '', action, target, detail FROM audit ORDER BY audit_id;
DROP TABLE audit;
