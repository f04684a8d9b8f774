"""A toy comic server built on Django."""
