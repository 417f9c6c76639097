-- One audit table shape in every service's database (issue 20): who did what to which target, when, in what
-- role, with what detail. Written by `shared/audit.py` only. Each service's own migration moves the rows of its
-- older audit table here and drops it; the access audit (keys, users, revocations) moves here now.
-- `target` is "<kind>:<id>" where a service names kinds (SLA's "policy:…", intake's "webhook:…"), or the id
-- alone where the service audits one kind of thing.
CREATE TABLE audit_trail (
    audit_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    role      text        NOT NULL DEFAULT '',
    action    text        NOT NULL,
    target    text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_trail_at_idx ON audit_trail (at);
CREATE INDEX audit_trail_target_idx ON audit_trail (target text_pattern_ops, audit_id);

INSERT INTO audit_trail (at, actor, role, action, target, detail)
SELECT at, actor, '', action, target, detail FROM access_audit ORDER BY access_audit_id;
DROP TABLE access_audit;
