"""What every service uses: settings, events, Kafka, PostgreSQL, outbox, inbox, telemetry, auth, errors."""
