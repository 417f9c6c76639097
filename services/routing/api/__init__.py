"""Routing's HTTP API: agents and policy (admin), presence and offers (desktop), work actions, supervisors, the
on-call list and emergency acknowledgements; and the desktop WebSocket with its protocol (`desktop`)."""
