-- The outbox empties many times a second. A vacuum that finds it empty would truncate it to no pages, and a
-- statement prepared then (our connections use generic plans) is planned for a table of no pages: a
-- sequential scan, kept by that connection until the table's statistics next change, however large the
-- table has grown meanwhile. Keeping the pages keeps every plan on the index (and spares the exclusive lock
-- that truncation takes).
ALTER TABLE outbox SET (vacuum_truncate = false);
