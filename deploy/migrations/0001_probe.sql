-- The effect of a probe event, written by the probe consumer in the same transaction as its inbox row.
CREATE TABLE probe_effect (
    event_id    uuid        PRIMARY KEY,
    probe_id    uuid        NOT NULL,
    sequence    integer     NOT NULL,
    sent_at     timestamptz NOT NULL,
    handled_at  timestamptz NOT NULL
);
CREATE INDEX probe_effect_probe_idx ON probe_effect (probe_id);
