-- Emergency paging (CH-16): the on-call list admins keep (PUT /v1/on-call/{id}), and one row per emergency contact
-- that is its durable timer: paged (SMS through outbound.messages) once `emergency_page_after_s` passed without
-- an emergency-tier agent accepting the work or acknowledging the alert; `paged_at` or `acknowledged_at` set means
-- it is settled, so a restart never pages twice.
CREATE TABLE on_call (
    on_call_id  text        PRIMARY KEY,
    name        text        NOT NULL,
    phone       text        NOT NULL,   -- E.164; personal data: never logged, masked in the audit
    active      boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL
);

CREATE TABLE emergency_page (
    contact_id       uuid        PRIMARY KEY,
    work_id          uuid        NOT NULL REFERENCES work_item (work_id),
    pool             text        NOT NULL,
    due_at           timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    paged_at         timestamptz,
    recipients       integer,
    created_at       timestamptz NOT NULL
);
CREATE INDEX emergency_page_pending_idx ON emergency_page (pool, due_at)
    WHERE paged_at IS NULL AND acknowledged_at IS NULL;

-- The policy names the wait (RULES.md gives none; two minutes), which it read from its default until now.
INSERT INTO routing_policy (version, document, created_at, created_by, note)
SELECT version + 1, document || '{"emergency_page_after_s": 120}'::jsonb, now(), 'migration',
       'emergency paging after 120 s without an emergency-team acceptance or acknowledgement (issue 18)'
FROM routing_policy
WHERE NOT document ? 'emergency_page_after_s'
ORDER BY version DESC
LIMIT 1;
