-- Canned responses: supervisor- and admin-managed reply templates in Simplified Chinese, Traditional Chinese
-- and English, with variables ({customer_name}, {contact_ref}, {agent_name}, {date}, {subject}); agents search
-- them from the desktop and start a reply from one. Every change is in audit_log.
CREATE TABLE canned_response (
    canned_response_id  uuid        PRIMARY KEY,
    title               text        NOT NULL,
    texts               jsonb       NOT NULL,   -- {"zh-Hans": "…", "zh-Hant": "…", "en": "…"}
    tags                text[]      NOT NULL DEFAULT '{}',
    search_terms        text[]      NOT NULL DEFAULT '{}',
    version             integer     NOT NULL DEFAULT 1,
    active              boolean     NOT NULL DEFAULT true,
    updated_by          text        NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX canned_response_terms_idx ON canned_response USING gin (search_terms) WHERE active;
