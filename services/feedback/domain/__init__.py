"""Pure feedback rules: policies, scheduling, signed links, answers and figures (stdlib only, no I/O)."""
