"""Settings of the exchange-rate feed."""

FEED_URL = "https://rates.partner.example/latest"
API_KEY_HEADER = "X-Api-Key"
