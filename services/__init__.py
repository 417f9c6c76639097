"""The five Switchboard services; each is its own process and FastAPI app, and none imports another."""
