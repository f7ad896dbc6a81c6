"""The text of a story: features, near-duplicates, canonical URLs, diffs, full text."""
