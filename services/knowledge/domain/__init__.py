"""Pure rules and values of the knowledge base: the article workflow, text analysis, ranking, highlights
and import parsing; no I/O."""
