"""A toy translation platform."""
