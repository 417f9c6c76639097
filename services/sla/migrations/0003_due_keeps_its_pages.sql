-- sla_due is emptied as clocks stop. Autovacuum truncated an emptied table to no pages; the generic plan of
-- "DELETE FROM sla_due WHERE contact_id = $1 AND clock = ANY($2)" prepared then was a sequential scan, which
-- each connection kept while the table grew: 1.25 ms and 251 buffers per call at 200 contacts/s, the largest
-- cost in the whole database. Keeping the pages keeps the plan on the primary key (see shared 0005).
ALTER TABLE sla_due SET (vacuum_truncate = false);
