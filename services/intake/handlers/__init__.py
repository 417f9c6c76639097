"""Intake's transactions, by topic: accepting messages, the customer directory, classification rules."""
