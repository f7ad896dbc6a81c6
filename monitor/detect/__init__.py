"""Detection: developments of a topic, link models, evidence sets, what is new."""
