"""PostgreSQL access for the SLA service, by topic: admin data, clocks, timers and figures."""
