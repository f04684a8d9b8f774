# stress: target=city_forecast expect=client session per call
"""The forecast proxy: an aiohttp app in front of the upstream forecast service. Each request
opens its own ClientSession, so every request pays for a new connection pool (a DNS look-up
and a TLS handshake each time) and a burst of requests opens a burst of sockets."""

import aiohttp
from aiohttp import web

from .settings import UPSTREAM_TIMEOUT_S, UPSTREAM_URL

routes = web.RouteTableDef()


@routes.get("/forecast/{city}")
async def city_forecast(request):
    city = request.match_info["city"]
    timeout = aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{UPSTREAM_URL}/cities/{city}") as upstream:
            payload = await upstream.json()
    return web.json_response({"city": city, "days": payload})


def create_app():
    app = web.Application()
    app.add_routes(routes)
    return app


app = create_app()
