"""Where the upstream forecast service lives and how long we wait for it."""

UPSTREAM_URL = "https://forecast.internal.example/v2"
UPSTREAM_TIMEOUT_S = 3.0
