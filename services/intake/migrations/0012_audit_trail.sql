-- Intake's audit moves into the one audit table every service has (shared migration 0010, issue 20): every
-- entry of `audit_log` in its order, role unknown (''), and `audit_log` goes. Written and read by
-- `shared/audit.py` only from now on.
INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, '', action, target, detail FROM audit_log ORDER BY audit_id;
DROP TABLE audit_log;
