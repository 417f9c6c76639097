"""Intake's SQL, by topic: contacts and messages, customers and identities, rules and audit."""
