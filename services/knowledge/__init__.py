"""Knowledge: articles, versions, review, the search index, lookups and suggestions."""
