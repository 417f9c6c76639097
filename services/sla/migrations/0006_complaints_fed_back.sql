-- Complaint resolution stops when the complaint is resolved AND the result is fed back to the customer (RULES.md
-- "resolved and result fed back", F8): milestone `fed_back` (resolved with the customer notified, or the end
-- notice delivered) instead of `resolved`. Applied to the seeded policies that still say `resolved` there; an
-- admin's own policies are theirs. A new version of each, recorded and audited like an admin's change.
WITH changed AS (
    UPDATE sla_policy p
    SET definition = jsonb_set(
            p.definition, '{clocks}',
            (SELECT jsonb_agg(CASE WHEN c->>'clock' = 'complaint_resolution' AND c->'stops_on' = '["resolved"]'
                                   THEN c || '{"stops_on": ["fed_back"]}'::jsonb ELSE c END ORDER BY n)
             FROM jsonb_array_elements(p.definition->'clocks') WITH ORDINALITY AS e(c, n))),
        version = p.version + 1, updated_at = now(), updated_by = 'migration'
    WHERE p.updated_by = 'migration'
      AND p.definition->'clocks' @> '[{"clock": "complaint_resolution", "stops_on": ["resolved"]}]'
    RETURNING p.*
), versions AS (
    INSERT INTO sla_policy_version (policy_id, version, name, grade, priority_class, channel, active, definition,
                                    created_at, created_by)
    SELECT policy_id, version, name, grade, priority_class, channel, active, definition, updated_at, updated_by
    FROM changed
)
INSERT INTO audit_entry (at, actor, role, action, entity, entity_id, detail)
SELECT now(), 'migration', 'system', 'complaint resolution stops when fed back', 'policy', policy_id::text,
       jsonb_build_object('version', version, 'why', 'RULES.md: resolved and result fed back (issue 15)')
FROM changed;
