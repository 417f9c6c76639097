-- SMS, social and walk-in (onsite) work had no default capacity (0), so no agent was ever offered it unless an
-- admin gave each agent capacity by hand: such contacts waited for ever. This version gives them capacity and
-- names the service-level thresholds (RULES.md: 80 % within 20 s on the phone, 60 s in chat) and the callback
-- retries (3 tries, 10 minutes apart), which the policy read from defaults until now. Applied only where the
-- policy is still the shipped version 1; an admin's own policy stays as it is.
INSERT INTO routing_policy (version, document, created_at, created_by, note)
SELECT 2,
       document
         || jsonb_build_object('default_capacity',
                               document->'default_capacity' || '{"sms": 5, "social": 5, "onsite": 1}'::jsonb)
         || '{"service_level_s": {"phone": 20, "chat": 60, "onsite": 300, "sms": 3600, "social": 3600,
                                  "email": 86400, "web": 86400},
              "service_level_goal": 0.8, "callback_max_attempts": 3, "callback_retry_s": 600}'::jsonb,
       now(), 'migration', 'capacity for sms, social and onsite; service level and callback numbers (issue 15)'
FROM routing_policy
WHERE version = 1 AND created_by = 'migration' AND NOT EXISTS (SELECT 1 FROM routing_policy WHERE version > 1);
