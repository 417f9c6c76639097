-- Tokens cannot be taken back once issued, so a user who must lose access is revoked by subject: every token
-- issued to them before `revoked_at` is refused (within a minute: services cache this list for 30 s), open
-- desktop sockets included. And who created or revoked adapter keys and users, when: the access audit.
CREATE TABLE revoked_subject (
    subject     text        PRIMARY KEY,
    revoked_at  timestamptz NOT NULL,
    revoked_by  text        NOT NULL,
    reason      text
);

CREATE TABLE access_audit (
    access_audit_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL,
    actor            text        NOT NULL,
    action           text        NOT NULL,
    target           text        NOT NULL,
    detail           jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX access_audit_at_idx ON access_audit (at);
