-- The conversation: intake already holds every message the customer sent and the thread keys their answers come
-- back by, so it also holds what agents send (replies), what they note (internal notes), the fate of every
-- outbound message (delivery receipts, for all services' messages), what the rest of the system did with the
-- contact (routing steps, SLA alerts, survey answers: the timeline), and who owns the work now.

ALTER TABLE contact ADD COLUMN work_id uuid;
ALTER TABLE contact ADD COLUMN owner_id text;
ALTER TABLE contact ADD COLUMN team text;
ALTER TABLE contact ADD COLUMN work_state text;
ALTER TABLE contact ADD COLUMN first_reply_at timestamptz;
ALTER TABLE contact ADD COLUMN search_terms text[];     -- folded words and Chinese characters and pairs
ALTER TABLE contact ADD COLUMN indexed_at timestamptz;   -- the last_message_at search_terms were made from
CREATE INDEX contact_owner_idx ON contact (owner_id, last_message_at DESC) WHERE owner_id IS NOT NULL;
CREATE INDEX contact_customer_idx ON contact (customer_id, created_at DESC);
CREATE INDEX contact_created_idx ON contact (created_at DESC, contact_id);
CREATE INDEX contact_search_idx ON contact USING gin (search_terms);
CREATE INDEX contact_unindexed_idx ON contact (last_message_at) WHERE indexed_at IS NULL OR indexed_at < last_message_at;

-- What agents send. One row per reply, with the request it became on outbound.messages (message_id) and its
-- delivery state from the adapter's receipts.
CREATE TABLE reply (
    reply_id       uuid        PRIMARY KEY,
    contact_id     uuid        NOT NULL REFERENCES contact (contact_id),
    author         text        NOT NULL,
    author_role    text        NOT NULL,
    channel        text        NOT NULL,
    recipient      text        NOT NULL,   -- PII: an address, number or session; never logged
    subject        text,
    text           text        NOT NULL,
    html           text,
    attachments    jsonb       NOT NULL DEFAULT '[]',
    headers        jsonb       NOT NULL DEFAULT '{}',   -- e-mail: Message-ID, In-Reply-To, References
    solution       boolean     NOT NULL DEFAULT false,
    based_on       jsonb,                               -- {"canned_response_id": …} or {"article_id": …}
    created_at     timestamptz NOT NULL
);
CREATE INDEX reply_contact_idx ON reply (contact_id, created_at);

CREATE TABLE note (
    note_id      uuid        PRIMARY KEY,
    contact_id   uuid        NOT NULL REFERENCES contact (contact_id),
    author       text        NOT NULL,
    author_role  text        NOT NULL,
    text         text        NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX note_contact_idx ON note (contact_id, created_at);

-- Every message any service asked channel adapters to deliver (intake's replies are written with their reply;
-- routing's end notices and feedback's invitations are learnt from outbound.messages), and its delivery state.
CREATE TABLE outbound_message (
    message_id   uuid        PRIMARY KEY,
    contact_id   uuid,
    origin       text        NOT NULL,              -- the service that asked: intake, routing, feedback
    kind         text        NOT NULL,              -- reply, end_notice, survey, …
    channel      text        NOT NULL,
    status       text        NOT NULL DEFAULT 'requested'
                 CHECK (status IN ('requested', 'accepted', 'sent', 'delivered', 'read', 'failed', 'bounced')),
    reason       text,
    status_at    timestamptz NOT NULL,
    requested_at timestamptz NOT NULL
);
CREATE INDEX outbound_message_contact_idx ON outbound_message (contact_id, requested_at);

-- Each receipt as the adapter sent it; a repeat (same message, status and time) is the same row.
CREATE TABLE delivery_receipt (
    message_id   uuid        NOT NULL REFERENCES outbound_message (message_id),
    status       text        NOT NULL,
    reported_at  timestamptz NOT NULL,
    reason       text,
    adapter      text        NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (message_id, status, reported_at)
);

-- What other services did with the contact, from their events: one row per consumed event.
CREATE TABLE contact_step (
    event_id    uuid        PRIMARY KEY,
    contact_id  uuid        NOT NULL,
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    actor       text,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX contact_step_contact_idx ON contact_step (contact_id, at);
