-- Calendars follow an official source for their holidays and make-up working days (the holidays package, which
-- publishes each year's State Council notice in a release), with the admin's own list as overrides; an admin
-- who enters a year by hand says how far the list is complete (`covered_until`).
ALTER TABLE calendar ADD COLUMN official text;
ALTER TABLE calendar ADD COLUMN covered_until date;

-- The seeded working-hours calendar carried the 2025 and 2026 notices by hand and nothing after 2026-12-31.
-- Where it is still as seeded it follows the official source instead (same days for 2025 and 2026, and every
-- year the package brings); a calendar an admin has changed keeps its list and gets the source beside it only
-- by an admin's own change.
UPDATE calendar
SET official = 'CN', holidays = '[]', workdays = '[]', version = version + 1, updated_at = now(),
    updated_by = 'migration'
WHERE calendar_id = 'working-hours' AND version = 1 AND updated_by = 'migration';

INSERT INTO audit_entry (at, actor, role, action, entity, entity_id, detail)
SELECT now(), 'migration', 'system', 'follows official holidays', 'calendar', calendar_id,
       '{"official": "CN", "why": "the hand-kept holiday list ended on 2026-12-31 (issue 18)"}'::jsonb
FROM calendar WHERE calendar_id = 'working-hours' AND official = 'CN' AND updated_by = 'migration';

-- One notice a day per calendar whose data is running out, however many SLA instances look.
CREATE TABLE calendar_notice (
    calendar_id  text NOT NULL,
    on_day       date NOT NULL,
    data_until   date NOT NULL,
    PRIMARY KEY (calendar_id, on_day)
);
