-- Business calendars: 24x7, or weekly working hours in a time zone with holidays and make-up working days.
CREATE TABLE calendar (
    calendar_id    text        PRIMARY KEY,
    name           text        NOT NULL,
    always_open    boolean     NOT NULL,
    time_zone      text        NOT NULL,
    weekly         jsonb       NOT NULL DEFAULT '[[], [], [], [], [], [], []]',  -- Monday first: [["09:00", "18:00"]]
    workday_hours  jsonb       NOT NULL DEFAULT '[]',   -- hours on make-up days; empty = Monday's
    holidays       jsonb       NOT NULL DEFAULT '[]',   -- [{"date": "2026-10-01", "name": "国庆节"}]
    workdays       jsonb       NOT NULL DEFAULT '[]',   -- make-up working days (调休), same shape
    version        integer     NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL
);

-- SLA policies: the current version of each row, keyed by grade × priority class × channel (NULL = any).
CREATE TABLE sla_policy (
    policy_id       uuid        PRIMARY KEY,
    name            text        NOT NULL,
    grade           text,
    priority_class  text,
    channel         text,
    active          boolean     NOT NULL,
    version         integer     NOT NULL,
    definition      jsonb       NOT NULL,  -- calendar_id, warning_fraction, ladder, clocks
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
CREATE UNIQUE INDEX sla_policy_keys_idx ON sla_policy (grade, priority_class, channel) NULLS NOT DISTINCT
    WHERE active;

-- Every version of every policy, the current one included: what a contact started under stays readable.
CREATE TABLE sla_policy_version (
    policy_id       uuid        NOT NULL REFERENCES sla_policy,
    version         integer     NOT NULL,
    name            text        NOT NULL,
    grade           text,
    priority_class  text,
    channel         text,
    active          boolean     NOT NULL,
    definition      jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    PRIMARY KEY (policy_id, version)
);

-- Who changed what, when: every admin change to policies and calendars.
CREATE TABLE audit_entry (
    audit_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL,
    role        text        NOT NULL,
    action      text        NOT NULL,
    entity      text        NOT NULL,
    entity_id   text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_entry_entity_idx ON audit_entry (entity, entity_id, audit_id);

-- What SLA knows of a contact. A row may exist before contact.received (events of other topics can overtake
-- it); `received_at` is NULL until then. Locking this row serialises every handler of one contact.
CREATE TABLE sla_contact (
    contact_id      uuid        PRIMARY KEY,
    customer_id     uuid,
    channel         text,
    grade           text,
    priority_class  text,
    category        text,
    emergency       boolean     NOT NULL DEFAULT false,
    received_at     timestamptz,
    agent_id        text,
    updated_at      timestamptz NOT NULL
);

-- One row per (contact, clock): its frozen terms (`spec`), state and the time it has run and been paused.
CREATE TABLE sla_clock (
    contact_id      uuid              NOT NULL REFERENCES sla_contact,
    clock           text              NOT NULL,
    policy_id       uuid              NOT NULL,
    policy_version  integer           NOT NULL,
    spec            jsonb             NOT NULL,
    target_s        double precision  NOT NULL,
    state           text              NOT NULL CHECK (state IN ('running', 'paused', 'met', 'missed', 'cancelled')),
    started_at      timestamptz       NOT NULL,
    since           timestamptz       NOT NULL,
    elapsed_s       double precision  NOT NULL,
    paused_s        double precision  NOT NULL,
    due_at          timestamptz,      -- the breach instant while running
    breached_at     timestamptz,
    fired           text[]            NOT NULL DEFAULT '{}',
    stopped_by      text,
    grade           text,             -- the contact's keys at the last (re)target, for the figures
    priority_class  text,
    channel         text,
    updated_at      timestamptz       NOT NULL,
    PRIMARY KEY (contact_id, clock)
);
CREATE INDEX sla_clock_at_risk_idx ON sla_clock (due_at) WHERE state = 'running' AND breached_at IS NULL;
CREATE INDEX sla_clock_started_idx ON sla_clock (started_at);

-- Every clock transition with its cause: the event (type and id) or the timer or an API call.
CREATE TABLE sla_transition (
    transition_id   bigint            GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id      uuid              NOT NULL,
    clock           text              NOT NULL,
    action          text              NOT NULL,
    from_state      text,
    to_state        text              NOT NULL,
    at              timestamptz       NOT NULL,
    elapsed_s       double precision  NOT NULL,
    paused_s        double precision  NOT NULL,
    due_at          timestamptz,
    cause           text              NOT NULL,
    cause_event_id  uuid,
    detail          jsonb             NOT NULL DEFAULT '{}',
    recorded_at     timestamptz       NOT NULL
);
CREATE INDEX sla_transition_contact_idx ON sla_transition (contact_id, transition_id);

-- Durable due moments of running clocks. `key_hash` is the Kafka partitioner's hash of the contact id: the
-- instance that owns the contact's partition of intake.contacts fires them.
CREATE TABLE sla_due (
    contact_id   uuid        NOT NULL,
    clock        text        NOT NULL,
    alert        text        NOT NULL,  -- warning | breach | escalation:<level>
    kind         text        NOT NULL,
    level        integer     NOT NULL,
    target_role  text,
    due_at       timestamptz NOT NULL,
    breach_at    timestamptz NOT NULL,
    key_hash     integer     NOT NULL,
    PRIMARY KEY (contact_id, clock, alert),
    FOREIGN KEY (contact_id, clock) REFERENCES sla_clock
);
CREATE INDEX sla_due_at_idx ON sla_due (due_at);

-- What has fired: the exactly-once record, written in the same transaction as the outbox row it announces.
CREATE TABLE sla_fired (
    contact_id  uuid        NOT NULL,
    clock       text        NOT NULL,
    alert       text        NOT NULL,
    due_at      timestamptz NOT NULL,
    fired_at    timestamptz NOT NULL,
    event_id    uuid        NOT NULL,
    PRIMARY KEY (contact_id, clock, alert)
);
CREATE INDEX sla_fired_at_idx ON sla_fired (fired_at);

-- Events that arrived before the contact's contact.received; replayed, in order, once it comes.
CREATE TABLE sla_early_event (
    contact_id  uuid        NOT NULL,
    event_id    uuid        NOT NULL,
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    at          timestamptz NOT NULL,
    stashed_at  timestamptz NOT NULL,
    PRIMARY KEY (contact_id, event_id)
);
