# stress: target=receive_upload expect=event loop blocked
"""Upload intake (aiohttp): each upload is scanned before it is accepted. The scanner client
is synchronous (requests), and the handler calls it directly on the event loop: while one
upload is scanned, every other request waits."""

from aiohttp import web

from . import scanner


async def receive_upload(request):
    data = await request.read()
    name = request.query.get("name", "upload.bin")
    try:
        clean = scanner.scan_bytes(data, name)
    except scanner.ScanFailed:
        raise web.HTTPServiceUnavailable(text="scanner unavailable") from None
    if not clean:
        raise web.HTTPUnprocessableEntity(text="rejected by the scanner")
    return web.json_response({"accepted": name}, status=201)


def create_app():
    app = web.Application(client_max_size=20 * 1024 * 1024)
    app.router.add_post("/uploads", receive_upload)
    return app
