-- The threading windows of RULES.md as data admins edit (GET/PUT /v1/intake/settings), no longer environment
-- settings: every PUT is a new version, the highest is in force. Seeded with the defaults the settings had:
-- reopen within 7 days, the same e-mail subject within 7 days, an open contact on SMS or social within 24 h and
-- on chat within 30 min.
CREATE TABLE thread_settings (
    version     integer     PRIMARY KEY,
    document    jsonb       NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO thread_settings (version, document, updated_by, updated_at) VALUES (1,
 '{"reopen_window_s": 604800, "email_subject_window_s": 604800,
   "customer_windows_s": {"chat": 1800, "sms": 86400, "social": 86400}}',
 'migration', now());
INSERT INTO audit_log (actor, action, target, detail, at)
VALUES ('migration', 'intake.settings.seed', 'intake:settings', '{"version": 1, "source": "RULES.md"}', now());
