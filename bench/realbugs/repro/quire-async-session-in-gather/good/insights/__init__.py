"""Book insights from external sources."""
