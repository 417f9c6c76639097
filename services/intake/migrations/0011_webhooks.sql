-- Outbound messages as signed webhooks, for adapters that do not read Kafka (docs/adapters.md §6).
-- An endpoint takes the messages of its channels (and kinds, when listed); it signs with `secret` and, for a
-- while after a rotation, with `previous_secret` too. The secrets are kept as they are: signing needs them.
CREATE TABLE webhook_endpoint (
    endpoint_id      uuid        PRIMARY KEY,
    name             text        NOT NULL UNIQUE,
    url              text        NOT NULL,
    channels         text[]      NOT NULL,
    kinds            text[]      NOT NULL DEFAULT '{}',
    secret           text        NOT NULL,
    previous_secret  text,
    previous_until   timestamptz,
    enabled          boolean     NOT NULL DEFAULT true,
    disabled_reason  text,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- One delivery per message and endpoint (a redelivered message finds its row). `body` is the CloudEvents
-- envelope exactly as on the topic; it holds personal data and is purged with the delivery
-- (`webhook_retention_days`). While `pending`, `next_attempt_at` is when a sender may take it; a sender that
-- takes it moves it past its own deadline (a lease), so a sender that dies mid-attempt only delays it.
CREATE TABLE webhook_delivery (
    delivery_id      uuid        PRIMARY KEY,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoint (endpoint_id) ON DELETE CASCADE,
    message_id       uuid        NOT NULL,
    contact_id       uuid,
    channel          text        NOT NULL,
    kind             text,
    body             bytea       NOT NULL,
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    round_start      integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    UNIQUE (endpoint_id, message_id)
);
COMMENT ON COLUMN webhook_delivery.round_start IS 'attempts when it was last replayed: the retry schedule starts again from there';
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_delivery_state_idx ON webhook_delivery (state, created_at);
CREATE INDEX webhook_delivery_message_idx ON webhook_delivery (message_id);

-- Every attempt: when, how long, what came back. `response` is a masked snippet (`domain/webhooks.snippet`).
CREATE TABLE webhook_attempt (
    delivery_id      uuid        NOT NULL REFERENCES webhook_delivery (delivery_id) ON DELETE CASCADE,
    attempt          integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer     NOT NULL,
    status           integer,
    error            text,
    response         text,
    PRIMARY KEY (delivery_id, attempt)
);
