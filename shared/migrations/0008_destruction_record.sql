-- Every purge of personal data or records by retention (RULES.md "Security": contact content 3 years, audit
-- 6 years, survey comments 1 year, …) leaves a destruction record: what, how many, older than when, under
-- which retention. The record holds no personal data and is itself kept like the audit.
CREATE TABLE destruction_record (
    destruction_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    what            text        NOT NULL,
    rows            integer     NOT NULL,
    cutoff          timestamptz NOT NULL,
    retention_days  numeric     NOT NULL
);
CREATE INDEX destruction_record_at_idx ON destruction_record (at);
