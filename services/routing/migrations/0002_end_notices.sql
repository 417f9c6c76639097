-- Every end notice (LC-04) routing asked for, so a delivery receipt (reported by intake) can tell which work it
-- belongs to: a failed notice un-sets "customer notified" and the three clears are no longer met until a new
-- notice is delivered.
CREATE TABLE end_notice (
    message_id    uuid        PRIMARY KEY,
    work_id       uuid        NOT NULL REFERENCES work_item (work_id),
    status        text        NOT NULL DEFAULT 'requested',
    reason        text,
    requested_at  timestamptz NOT NULL,
    status_at     timestamptz NOT NULL
);
CREATE INDEX end_notice_work_idx ON end_notice (work_id, requested_at DESC);
