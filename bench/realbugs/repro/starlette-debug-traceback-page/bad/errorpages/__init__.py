"""Error pages for an ASGI application."""
