"""The knowledge service's HTTP routers: articles, imports, search and tuning (models: their documented shapes)."""
