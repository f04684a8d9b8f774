"""A toy pub/sub plugin."""
