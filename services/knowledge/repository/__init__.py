"""SQL of the knowledge service, one module per table group; functions take a connection, never open a
transaction."""
