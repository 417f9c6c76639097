"""Routing's transactions: consumed events through one table (`events`) to use cases grouped by what they are
about (`contacts`, `sla_alerts`, `followups`, `knowledge_notices`, `deliveries`); people's actions on work — its
life (`lifecycle`), its end (`resolution`), who handles it (`assignment`), over the steps they share
(`work_steps`) — offers made, answered and failed (`offers`), presence and desktops connecting (`presence`),
callbacks and emergency paging (`callbacks`, `paging`), and what desktops and the API are shown (`views`). Each
function runs inside the caller's transaction and leaves events in the outbox."""
