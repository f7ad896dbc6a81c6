"""Topics: the query language, seed profiles, matching a story, relevance feedback."""
