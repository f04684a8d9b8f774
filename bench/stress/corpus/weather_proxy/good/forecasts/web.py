"""One ClientSession for the application's lifetime, opened at startup and closed at shutdown
(cleanup_ctx); handlers borrow it from the app."""

import aiohttp
from aiohttp import web

from .settings import UPSTREAM_TIMEOUT_S, UPSTREAM_URL

routes = web.RouteTableDef()
HTTP = web.AppKey("http", aiohttp.ClientSession)


async def upstream_session(app):
    timeout = aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP] = session
        yield


@routes.get("/forecast/{city}")
async def city_forecast(request):
    city = request.match_info["city"]
    session = request.app[HTTP]
    async with session.get(f"{UPSTREAM_URL}/cities/{city}") as upstream:
        payload = await upstream.json()
    return web.json_response({"city": city, "days": payload})


def create_app():
    app = web.Application()
    app.add_routes(routes)
    app.cleanup_ctx.append(upstream_session)
    return app


app = create_app()
