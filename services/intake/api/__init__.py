"""Intake's HTTP API, by audience: channel adapters, contacts, the customer directory, classification rules."""
