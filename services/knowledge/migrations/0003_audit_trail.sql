-- The audit of article and search-admin changes moves into the one audit table every service has
-- (`audit_trail`, shared migration 0010), written and read through `shared/audit.py` only. Knowledge records no
-- role: every row keeps an empty one, in the order it was written.
INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, '', action, target, detail FROM audit_log ORDER BY audit_id;
DROP TABLE audit_log;
