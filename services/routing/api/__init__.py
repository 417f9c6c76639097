"""Routing's HTTP API: agents and policy (admin), presence and offers (desktop), work actions, supervisors."""
