-- Abandoned contacts and callbacks (issue 15): waiting work can be closed as abandoned, or wait for a booked
-- callback time (`scheduled` until `scheduled_until`; the dispatcher's timer queues it then, also after a
-- restart, since the time is here); the callback's number and attempts are kept beside the work.
ALTER TABLE work_item ADD COLUMN scheduled_until timestamptz;
ALTER TABLE work_item ADD COLUMN abandoned_at timestamptz;
CREATE INDEX work_item_created_idx ON work_item (created_at) WHERE kind = 'contact';

CREATE TABLE callback (
    work_id       uuid        PRIMARY KEY REFERENCES work_item (work_id),
    mode          text        NOT NULL CHECK (mode IN ('keep_place', 'scheduled')),
    phone         text,       -- PII: the number to call; shown masked on desktops, given to the phone adapter
    requested_at  timestamptz NOT NULL,
    due_at        timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_outcome  text,
    last_at       timestamptz,
    done_at       timestamptz
);
