-- A row the broker refuses for good (larger than a topic takes, an invalid topic) is parked: kept with its error
-- (`last_error`) and when, but no longer taken by the relay, so the rows behind it are published. An operator
-- who has made room for it (a larger limit) publishes it again by clearing `parked_at`.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
