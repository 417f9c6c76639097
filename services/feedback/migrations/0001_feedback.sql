-- Survey policies, one per contact channel. Seeded with the defaults of RULES.md (Feedback); admins edit them
-- through /v1/surveys/policies, every change audited.
CREATE TABLE survey_policy (
    channel          text             PRIMARY KEY,
    enabled          boolean          NOT NULL,
    invite_channel   text             NOT NULL CHECK (invite_channel IN ('sms', 'email', 'chat')),
    delay            interval         NOT NULL,
    expiry           interval         NOT NULL,
    quiet_start      time,
    quiet_end        time,
    time_zone        text             NOT NULL,
    frequency_cap    interval         NOT NULL,
    sampling_rate    double precision NOT NULL CHECK (sampling_rate BETWEEN 0 AND 1),
    questions        jsonb            NOT NULL,
    languages        text[]           NOT NULL,
    low_csat_max     smallint         NOT NULL,
    low_nps_max      smallint         NOT NULL,
    version          integer          NOT NULL DEFAULT 1,
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    updated_by       text             NOT NULL DEFAULT 'migration 0001',
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

WITH seed (questions) AS (
    SELECT '[
      {"key": "csat", "required": true,
       "prompt": {"zh-Hans": "您对本次服务满意吗？", "zh-Hant": "您對本次服務滿意嗎？",
                  "en": "How satisfied are you with the service you received?"},
       "options": [
         {"value": 5, "points": 100, "labels": {"zh-Hans": "非常满意", "zh-Hant": "非常滿意", "en": "Very satisfied"}},
         {"value": 4, "points": 80, "labels": {"zh-Hans": "满意", "zh-Hant": "滿意", "en": "Satisfied"}},
         {"value": 3, "points": 60, "labels": {"zh-Hans": "一般", "zh-Hant": "一般", "en": "Neutral"}},
         {"value": 2, "points": 40, "labels": {"zh-Hans": "不满意", "zh-Hant": "不滿意", "en": "Dissatisfied"}},
         {"value": 1, "points": 20,
          "labels": {"zh-Hans": "非常不满意", "zh-Hant": "非常不滿意", "en": "Very dissatisfied"}}
       ]},
      {"key": "solved", "required": false,
       "prompt": {"zh-Hans": "您的问题解决了吗？", "zh-Hant": "您的問題解決了嗎？", "en": "Was your problem solved?"},
       "options": [
         {"value": 1, "points": null, "labels": {"zh-Hans": "已解决", "zh-Hant": "已解決", "en": "Yes"}},
         {"value": 0, "points": null, "labels": {"zh-Hans": "未解决", "zh-Hant": "未解決", "en": "No"}}
       ]},
      {"key": "nps", "required": false,
       "prompt": {"zh-Hans": "您有多大可能向朋友或同事推荐我们的服务？（0 = 完全不可能，10 = 非常可能）",
                  "zh-Hant": "您有多大可能向朋友或同事推薦我們的服務？（0 = 完全不可能，10 = 非常可能）",
                  "en": "How likely are you to recommend us to a friend or colleague? (0 = not at all, 10 = extremely)"},
       "options": [
         {"value": 0, "points": null, "labels": {"zh-Hans": "0", "zh-Hant": "0", "en": "0"}},
         {"value": 1, "points": null, "labels": {"zh-Hans": "1", "zh-Hant": "1", "en": "1"}},
         {"value": 2, "points": null, "labels": {"zh-Hans": "2", "zh-Hant": "2", "en": "2"}},
         {"value": 3, "points": null, "labels": {"zh-Hans": "3", "zh-Hant": "3", "en": "3"}},
         {"value": 4, "points": null, "labels": {"zh-Hans": "4", "zh-Hant": "4", "en": "4"}},
         {"value": 5, "points": null, "labels": {"zh-Hans": "5", "zh-Hant": "5", "en": "5"}},
         {"value": 6, "points": null, "labels": {"zh-Hans": "6", "zh-Hant": "6", "en": "6"}},
         {"value": 7, "points": null, "labels": {"zh-Hans": "7", "zh-Hant": "7", "en": "7"}},
         {"value": 8, "points": null, "labels": {"zh-Hans": "8", "zh-Hant": "8", "en": "8"}},
         {"value": 9, "points": null, "labels": {"zh-Hans": "9", "zh-Hant": "9", "en": "9"}},
         {"value": 10, "points": null, "labels": {"zh-Hans": "10", "zh-Hant": "10", "en": "10"}}
       ]},
      {"key": "comment", "required": false,
       "prompt": {"zh-Hans": "还有什么想告诉我们的吗？（选填）", "zh-Hant": "還有什麼想告訴我們的嗎？（選填）",
                  "en": "Anything else you would like to tell us? (optional)"},
       "options": []}
    ]'::jsonb
)
INSERT INTO survey_policy (
    channel, enabled, invite_channel, delay, expiry, quiet_start, quiet_end, time_zone, frequency_cap,
    sampling_rate, questions, languages, low_csat_max, low_nps_max
)
SELECT p.channel, p.enabled, p.invite_channel, p.delay::interval, interval '72 hours',
       p.quiet_start::time, p.quiet_end::time, 'Asia/Shanghai', interval '7 days', 1.0,
       seed.questions, ARRAY['zh-Hans', 'zh-Hant', 'en'], 2, 6
FROM seed, (VALUES
    -- chat: inline questions at once; phone (and SMS, on-site): an SMS link after 10 min, never 21:00–08:00;
    -- email and web: an e-mail link after 1 h. Social has no outbound channel of its own yet: off.
    ('chat',   true,  'chat',  '0 minutes',  NULL,    NULL),
    ('phone',  true,  'sms',   '10 minutes', '21:00', '08:00'),
    ('sms',    true,  'sms',   '10 minutes', '21:00', '08:00'),
    ('onsite', true,  'sms',   '10 minutes', '21:00', '08:00'),
    ('email',  true,  'email', '1 hour',     NULL,    NULL),
    ('web',    true,  'email', '1 hour',     NULL,    NULL),
    ('social', false, 'chat',  '0 minutes',  NULL,    NULL)
) AS p (channel, enabled, invite_channel, delay, quiet_start, quiet_end);

-- Every admin change (who, what, when) and every read of unmasked survey comments.
CREATE TABLE audit_entry (
    audit_entry_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor           text        NOT NULL,
    role            text        NOT NULL,
    action          text        NOT NULL,
    subject         text        NOT NULL,
    detail          jsonb       NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL
);
CREATE INDEX audit_entry_at_idx ON audit_entry (at);

-- What feedback knows of each contact, projected from intake.contacts and routing.work (never another
-- service's tables). Holds PII (phone, e-mail): the address an invitation goes to.
CREATE TABLE contact_fact (
    contact_id    uuid        PRIMARY KEY,
    channel       text        NOT NULL,
    customer_id   uuid        NOT NULL,
    original_customer_id uuid NOT NULL,  -- as intake first said; customer_id follows merges
    grade         text        NOT NULL,
    category      text,
    language      text,
    phone         text,
    email         text,
    chat_session  text,
    time_zone     text,
    agent_id      text,
    team          text,
    updated_at    timestamptz NOT NULL
);

-- One row per resolution of a contact: the durable timer of its invitation and what became of it.
CREATE TABLE invitation (
    invitation_id      uuid        PRIMARY KEY,
    contact_id         uuid        NOT NULL,
    work_id            uuid        NOT NULL,
    resolved_at        timestamptz NOT NULL,
    status             text        NOT NULL CHECK (status IN
                           ('waiting_contact', 'scheduled', 'sent', 'answered', 'expired', 'cancelled', 'skipped')),
    reason             text,
    channel            text,
    customer_id        uuid,
    original_customer_id uuid,           -- as first planned; customer_id follows merges (the cap)
    grade              text,
    category           text,
    agent_id           text        NOT NULL,
    team               text,
    fcr                boolean     NOT NULL,
    customer_notified  boolean     NOT NULL,
    invite_channel     text,
    recipient          text,
    language           text,
    time_zone          text,
    policy_version     integer,
    due_at             timestamptz,
    sent_at            timestamptz,
    expires_at         timestamptz,
    closed_at          timestamptz,
    message_id         uuid        UNIQUE,
    delivery           text,
    delivery_at        timestamptz,
    -- The answer's scores, copied here when it comes, so figures read one table (survey_response keeps the
    -- answer itself: source, comment, follow-up reasons).
    csat               smallint,
    csat_points        real,
    nps                smallint,
    solved             boolean,
    created_at         timestamptz NOT NULL,
    UNIQUE (contact_id, resolved_at)
);
CREATE INDEX invitation_due_idx ON invitation (due_at) WHERE status = 'scheduled';
CREATE INDEX invitation_expiry_idx ON invitation (expires_at) WHERE status = 'sent';
CREATE INDEX invitation_customer_idx ON invitation (customer_id, sent_at);
CREATE INDEX invitation_sent_at_idx ON invitation (sent_at);
CREATE INDEX invitation_recipient_idx ON invitation (invite_channel, recipient, sent_at) WHERE status = 'sent';
CREATE INDEX invitation_waiting_idx ON invitation (contact_id) WHERE status = 'waiting_contact';

-- One answer per invitation (the page, or an adapter for SMS replies, IVR digits and chat buttons).
CREATE TABLE survey_response (
    survey_response_id  uuid        PRIMARY KEY,
    invitation_id       uuid        NOT NULL UNIQUE REFERENCES invitation (invitation_id),
    source              text        NOT NULL,
    csat                smallint,
    csat_points         real,
    nps                 smallint,
    solved              boolean,
    comment             text,
    followup_reasons    text[]      NOT NULL DEFAULT '{}',
    answered_at         timestamptz NOT NULL
);
CREATE INDEX survey_response_answered_at_idx ON survey_response (answered_at);

-- Delivery receipts from channel adapters for the invitations they were asked to deliver.
CREATE TABLE delivery_receipt (
    delivery_receipt_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id           uuid        NOT NULL,
    status               text        NOT NULL,
    detail               text,
    reported_at          timestamptz NOT NULL,
    reported_by          text        NOT NULL,
    received_at          timestamptz NOT NULL
);
CREATE INDEX delivery_receipt_message_idx ON delivery_receipt (message_id);
