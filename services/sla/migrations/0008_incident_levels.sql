-- Security incident levels (F17 一般 general / 较大 major / 重大 serious / 特别重大 critical, ES-05 "each with its
-- own response level and process"): the contact's level, and what each level adds to the emergency clocks every
-- security incident runs (response 2 h, assessment 2 h, regulator report 4 h, review 72 h):
--   major    — the supervisors are told at once and the incident is assessed within 30 minutes;
--   serious  — the service manager is told at once and an agent takes it within 1 hour;
--   critical — all of that, and management is reported to within 1 hour (milestone `management_reported`).
-- Added as clocks of the seeded policy that holds the emergency clocks, where it is still the shipped one; a new
-- version, recorded and audited like an admin's change.
ALTER TABLE sla_contact ADD COLUMN incident_level text;

WITH changed AS (
    UPDATE sla_policy p
    SET definition = jsonb_set(p.definition, '{clocks}', (p.definition->'clocks') || '[
          {"clock": "incident_assessment", "target": {"amount": 30, "unit": "minutes"}, "starts_on": "received",
           "stops_on": ["assessed", "solution", "resolved"], "categories": ["security_event", "data_leak"],
           "incident_levels": ["major", "serious", "critical"], "calendar_id": null, "warning_fraction": null,
           "ladder": [{"level": 0, "role": "supervisor", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "start"},
                      {"level": 1, "role": "service_manager", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "breach"}],
           "pauses": false, "reopens": false, "goal": null},
          {"clock": "incident_response", "target": {"amount": 1, "unit": "hours"}, "starts_on": "received",
           "stops_on": ["accepted", "resolved"], "categories": ["security_event", "data_leak"],
           "incident_levels": ["serious", "critical"], "calendar_id": null, "warning_fraction": null,
           "ladder": [{"level": 0, "role": "service_manager", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "start"},
                      {"level": 1, "role": "emergency_team", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "breach"}],
           "pauses": false, "reopens": false, "goal": null},
          {"clock": "management_report", "target": {"amount": 1, "unit": "hours"}, "starts_on": "received",
           "stops_on": ["management_reported"], "categories": ["security_event", "data_leak"],
           "incident_levels": ["critical"], "calendar_id": null, "warning_fraction": null,
           "ladder": [{"level": 0, "role": "service_manager", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "start"},
                      {"level": 1, "role": "supervisor", "after_fraction": 0.0, "after_seconds": 0, "relative_to": "breach"}],
           "pauses": false, "reopens": false, "goal": null}
        ]'::jsonb),
        version = p.version + 1, updated_at = now(), updated_by = 'migration'
    WHERE p.updated_by = 'migration' AND p.definition->'clocks' @> '[{"clock": "emergency_response"}]'
    RETURNING p.*
), versions AS (
    INSERT INTO sla_policy_version (policy_id, version, name, grade, priority_class, channel, active, definition,
                                    created_at, created_by)
    SELECT policy_id, version, name, grade, priority_class, channel, active, definition, updated_at, updated_by
    FROM changed
)
INSERT INTO audit_entry (at, actor, role, action, entity, entity_id, detail)
SELECT now(), 'migration', 'system', 'security incident levels', 'policy', policy_id::text,
       jsonb_build_object('version', version, 'why', 'F17: each incident level with its response (issue 18)')
FROM changed;
