-- Feedback's audit moves to the one audit table of every service (shared migration 0010, issue 20): every
-- audit_entry row, in its order, with its subject as the target and its role kept; then audit_entry goes.
INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, role, action, subject, detail FROM audit_entry ORDER BY audit_entry_id;
DROP TABLE audit_entry;
