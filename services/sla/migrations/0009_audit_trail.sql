-- SLA's audit of policy and calendar changes joins the one audit table shape (issue 20, shared migration 0010):
-- the target is "<entity>:<entity_id>" ("policy:…", "calendar:…"; entity names never contain ':'), the role
-- is kept, and the entries keep their order.
INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, role, action, entity || ':' || entity_id, detail FROM audit_entry ORDER BY audit_id;
DROP TABLE audit_entry;
