"""Intake's pure rules, by topic: charsets and MIME, text, identities, classification, contacts and threads."""
