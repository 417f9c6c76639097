-- Feedback's RULES.md numbers outside the survey policies, as data admins edit (GET/PUT /v1/feedback/settings)
-- instead of an environment setting: every PUT is a new version, the highest is in force. Seeded with the default
-- the setting had: survey comments are kept one year (RULES.md, Security).
CREATE TABLE feedback_settings (
    version     integer     PRIMARY KEY,
    document    jsonb       NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO feedback_settings (version, document, updated_by, updated_at)
VALUES (1, '{"comment_retention_days": 365}', 'migration', now());
INSERT INTO audit_entry (actor, role, action, subject, detail, at)
VALUES ('migration', 'system', 'feedback_settings.seed', 'feedback_settings', '{"version": 1, "source": "RULES.md"}',
        now());
