"""The local stack: a real Kafka broker from Maven Central jars, embedded PostgreSQL, and the five services."""
