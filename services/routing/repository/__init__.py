"""PostgreSQL access for routing: SQL next to its function; rows become domain values here."""
