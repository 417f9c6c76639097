-- Housekeeping forgets journeys by age (`shared/housekeeping.py`).
CREATE INDEX journeys_first_seen_at_idx ON journeys (first_seen_at);
