"""Use cases of the knowledge service: the article workflow and the import (`articles`, `imports`), search
tuning (`tuning`), suggestions for contacts (`suggestions`, reached through the consumer's event table in
`events`) and the overdue announcement (`overdue`). Each is `async def verb(tx, …)`: none opens a transaction;
the route, the consumer loop or the watch opens it and passes a `shared.tx.Tx` (its connection and the instant
every write of it uses) first."""

SOURCE = "switchboard/knowledge"
"""The `source` of every event the knowledge service stages in its outbox."""
