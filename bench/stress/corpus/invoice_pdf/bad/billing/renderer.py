"""The PDF rendering service (a headless browser farm behind an HTTP API)."""

import json
import urllib.request

RENDER_URL = "http://pdf-render.internal/render"


def render_invoice_pdf(invoice_number, lines):
    body = json.dumps({"template": "invoice", "number": invoice_number, "lines": lines})
    request = urllib.request.Request(
        RENDER_URL, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.read()
