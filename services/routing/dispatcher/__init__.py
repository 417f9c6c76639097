"""The dispatcher: one task per routing instance that owns pools (by lease), keeps their engine in step with
the database, makes offers, and fires what is due (offer expiry, relaxation, holds, wrap-up, desktop grace,
callbacks, department deadlines, emergency pages).

Changes reach it as NOTIFY messages (any instance, after commit); it re-reads the changed rows, so the
database stays the truth and the engine an index of it. Every offer is written in a transaction that
share-locks the pool's lease at the epoch this instance acquired: a deposed instance cannot offer (or
assign) anything, whatever its memory says. When the database goes away, or its LISTEN connection is lost
(notices missed), it forgets its pools and loads them afresh once the database answers again; restarted after
it died, it starts from the database too. `fire_due(now=...)` is the single step tests call.

The task, its connections, LISTEN and leases are `loop` (`Dispatcher`); the owned pools in memory, the matching
round and the timers are `rounds`.
"""
