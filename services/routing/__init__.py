"""Routing: agents, presence, queues, matching, offers, the agent desktop stream and the work lifecycle."""
