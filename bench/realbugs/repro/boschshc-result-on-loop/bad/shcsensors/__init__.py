"""A toy smart-home integration."""
