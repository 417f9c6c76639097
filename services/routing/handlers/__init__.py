"""Routing's transactions: consumed events (`events`), people's actions (`commands`), and the dispatcher's
decisions (`offers`). Each function runs inside the caller's transaction and leaves events in the outbox."""
