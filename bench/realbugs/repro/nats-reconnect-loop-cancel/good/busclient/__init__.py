"""A toy message-bus client."""
