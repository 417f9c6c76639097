-- Contact content is erased three years after the contact ended (RULES.md "Security"): the messages' text,
-- senders and attachments' names, replies (text, recipient), notes, the subject and search terms go; the
-- contact stays with its facts (channel, category, times) for the figures. `content_erased_at` marks it done.
ALTER TABLE contact ADD COLUMN content_erased_at timestamptz;
CREATE INDEX contact_retention_idx ON contact ((coalesce(ended_at, last_message_at))) WHERE content_erased_at IS NULL;
