-- The trace a subject's (a contact's) journey began in, as this service first saw it. Work that happens later
-- and on its own — a dispatcher's offer, an SLA timer, a scheduled survey, an agent's click — continues that
-- trace instead of starting a new one, so ops follow one contact in one trace.
CREATE TABLE journeys (
    subject        text        PRIMARY KEY,
    trace          jsonb       NOT NULL,
    first_seen_at  timestamptz NOT NULL
);
