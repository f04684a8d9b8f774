"""riskhints: flags the concurrency hazards that AI-written Python gets wrong."""

__version__ = "0.1.0"
