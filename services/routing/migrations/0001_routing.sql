-- Routing: policy, agents, contacts, work, offers, assignments, the desktop feed, pool leases and the audit.

-- The routing policy (RULES.md "Routing" and the capacity, offer and relaxation numbers): one JSON document
-- per version; the newest version applies. Every edit is a new row, so the table is its own history.
CREATE TABLE routing_policy (
    version     integer     PRIMARY KEY,
    document    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    note        text
);

INSERT INTO routing_policy (version, document, created_at, created_by, note) VALUES (1, '{
  "class_base": {"urgent": 1000, "complex": 500, "routine": 100, "followup": 500},
  "grade_bonus": {"strategic": 300, "key": 150, "basic": 0},
  "sla_warning_bonus": 200,
  "sla_escalation_bonus": 300,
  "age_points_per_minute": 1.0,
  "tiers": {
    "front_line":   {"classes": ["routine"],            "grades": ["basic", "key"]},
    "senior":       {"classes": ["routine", "complex"], "grades": ["basic", "key", "strategic"]},
    "tech_support": {"classes": ["complex"],            "grades": ["basic", "key", "strategic"]},
    "emergency":    {"classes": ["urgent"],             "grades": ["basic", "key", "strategic"]},
    "supervisor":   {"classes": ["followup"],           "grades": ["basic", "key", "strategic"]}
  },
  "default_capacity": {"phone": 1, "chat": 3, "email": 5, "web": 5, "sms": 0, "social": 0, "onsite": 0},
  "wrap_up_s": {"phone": 60, "chat": 30, "email": 0, "web": 0, "sms": 0, "social": 30, "onsite": 60},
  "offer_timeout_s": 20,
  "max_offers": 3,
  "first_owner_bonus": 2,
  "last_agent_bonus": 1,
  "preferred_hold_s": 60,
  "disconnect_grace_s": 30,
  "missed_offer_sets_away": true,
  "relaxation": [
    {"after_s": 60,  "level_drop": 1},
    {"after_s": 180, "level_drop": 2},
    {"after_s": 300, "level_drop": 4, "primary_only": true}
  ],
  "max_scan": 512
}', now(), 'migration', 'RULES.md defaults');

CREATE TABLE agent (
    agent_id         text        PRIMARY KEY,
    display_name     text        NOT NULL,
    pool             text        NOT NULL DEFAULT 'default',
    tier             text        NOT NULL,
    team             text,
    languages        text[]      NOT NULL DEFAULT '{}',
    skills           jsonb       NOT NULL DEFAULT '{}',
    capacity         jsonb       NOT NULL DEFAULT '{}',
    presence         text        NOT NULL DEFAULT 'offline'
                     CHECK (presence IN ('offline', 'available', 'away')),
    presence_reason  text,
    presence_at      timestamptz NOT NULL,
    disconnected_at  timestamptz,
    idle_since       timestamptz NOT NULL,
    active           boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX agent_pool_idx ON agent (pool, updated_at);

-- What the desktop shows about a contact; `reply_to` (PII) only serves the end notice.
CREATE TABLE contact (
    contact_id      uuid        PRIMARY KEY,
    customer_id     uuid        NOT NULL,
    grade           text        NOT NULL,
    channel         text        NOT NULL,
    subject         text,
    text            text        NOT NULL,
    language        text,
    category        text        NOT NULL,
    priority_class  text        NOT NULL,
    emergency       boolean     NOT NULL DEFAULT false,
    attributes      jsonb       NOT NULL DEFAULT '{}',
    reply_to        jsonb       NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL
);
CREATE INDEX contact_customer_idx ON contact (customer_id);

CREATE TABLE contact_message (
    message_id     uuid        PRIMARY KEY,
    contact_id     uuid        NOT NULL,
    from_customer  boolean     NOT NULL,
    text           text        NOT NULL,
    received_at    timestamptz NOT NULL
);
CREATE INDEX contact_message_contact_idx ON contact_message (contact_id, received_at);

CREATE TABLE suggestion (
    contact_id  uuid        PRIMARY KEY,
    articles    jsonb       NOT NULL,
    at          timestamptz NOT NULL
);

CREATE TABLE customer_last_agent (
    customer_id  uuid        PRIMARY KEY,
    agent_id     text        NOT NULL,
    at           timestamptz NOT NULL
);

CREATE TABLE work_item (
    work_id             uuid        PRIMARY KEY,
    contact_id          uuid        NOT NULL,
    kind                text        NOT NULL CHECK (kind IN ('contact', 'followup', 'manual')),
    pool                text        NOT NULL,
    channel             text        NOT NULL,
    customer_id         uuid,
    grade               text        NOT NULL,
    work_class          text        NOT NULL,
    category            text,
    language            text,
    requirements        jsonb       NOT NULL DEFAULT '[]',
    state               text        NOT NULL,
    enqueued_at         timestamptz NOT NULL,
    sla_warned          boolean     NOT NULL DEFAULT false,
    escalation_level    integer     NOT NULL DEFAULT 0,
    target_agent_id     text,
    hold_until          timestamptz,
    target_team         text,
    first_owner_id      text,
    owner_id            text,
    slot_agent_id       text,
    excluded            text[]      NOT NULL DEFAULT '{}',
    offers_failed       integer     NOT NULL DEFAULT 0,
    pending_department  text,
    pending_until       timestamptz,
    wrap_up_until       timestamptz,
    solution_at         timestamptz,
    resolution_code     text,
    final_note          text,
    fcr                 boolean,
    customer_notified   boolean     NOT NULL DEFAULT false,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    reopened            integer     NOT NULL DEFAULT 0,
    reason              text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
-- One open work item per contact and kind: redelivered or duplicated contacts never queue twice.
CREATE UNIQUE INDEX work_item_open_contact_idx ON work_item (contact_id, kind) WHERE state <> 'closed';
CREATE INDEX work_item_pool_state_idx ON work_item (pool, state);
CREATE INDEX work_item_pool_updated_idx ON work_item (pool, updated_at);
CREATE INDEX work_item_slot_idx ON work_item (slot_agent_id) WHERE slot_agent_id IS NOT NULL;
CREATE INDEX work_item_owner_idx ON work_item (owner_id) WHERE owner_id IS NOT NULL;

CREATE TABLE offer (
    offer_id     uuid        PRIMARY KEY,
    work_id      uuid        NOT NULL REFERENCES work_item (work_id),
    agent_id     text        NOT NULL,
    pool         text        NOT NULL,
    epoch        bigint      NOT NULL,
    status       text        NOT NULL CHECK (status IN ('live', 'accepted', 'declined', 'expired', 'withdrawn')),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    reason       text,
    forced_by    text,
    decision     jsonb       NOT NULL DEFAULT '{}'
);
-- At most one live offer per work item, whatever any instance believes.
CREATE UNIQUE INDEX offer_one_live_idx ON offer (work_id) WHERE status = 'live';
CREATE INDEX offer_work_idx ON offer (work_id, created_at);
CREATE INDEX offer_live_agent_idx ON offer (agent_id) WHERE status = 'live';

CREATE TABLE assignment (
    assignment_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_id        uuid        NOT NULL REFERENCES work_item (work_id),
    agent_id       text        NOT NULL,
    via            text        NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    end_reason     text,
    override_by    text
);
-- At most one current assignment per work item.
CREATE UNIQUE INDEX assignment_one_current_idx ON assignment (work_id) WHERE ended_at IS NULL;

-- Every step of a work item, for the explanation and the supervisor's trail.
CREATE TABLE work_history (
    work_history_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_id          uuid        NOT NULL,
    at               timestamptz NOT NULL,
    action           text        NOT NULL,
    actor            text        NOT NULL,
    detail           jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX work_history_work_idx ON work_history (work_id, work_history_id);

-- What each agent's desktop is sent, in order: a reconnecting desktop resumes after the last id it saw.
CREATE TABLE desktop_message (
    desktop_message_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id            text        NOT NULL,
    kind                text        NOT NULL,
    body                jsonb       NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX desktop_message_agent_idx ON desktop_message (agent_id, desktop_message_id);

-- Single writer per pool: the holder of the lease decides offers; `epoch` fences a deposed holder.
CREATE TABLE pool_lease (
    pool        text        PRIMARY KEY,
    holder      text        NOT NULL,
    epoch       bigint      NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE audit (
    audit_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    action    text        NOT NULL,
    target    text        NOT NULL,
    detail    jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_target_idx ON audit (target, at);
