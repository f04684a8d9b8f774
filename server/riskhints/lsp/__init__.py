"""The language server: a thin pygls adapter over the engine (see ``server.py`` for the
concurrency contract)."""
