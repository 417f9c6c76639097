-- An agent's contacts are listed newest first by creation time (GET /v1/contacts): index them that way.
DROP INDEX IF EXISTS contact_owner_idx;
CREATE INDEX contact_owner_created_idx ON contact (owner_id, created_at DESC) WHERE owner_id IS NOT NULL;
