"""ASGI middleware that turns unhandled errors into a 500 page, with a traceback in debug."""

import asyncio
import html
import inspect
import traceback


class ServerErrorPages:
    def __init__(self, app, debug=False):
        self.app = app
        self.debug = debug

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if self.debug:
                body = await asyncio.to_thread(self.render_traceback, exc)
            else:
                body = "<h1>Internal Server Error</h1>"
            headers = [(b"content-type", b"text/html; charset=utf-8")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body.encode()})
            raise

    def render_traceback(self, exc):
        # Reads the source file of every frame (linecache) to show the context lines.
        frames = inspect.getinnerframes(exc.__traceback__, context=7)
        rows = []
        for frame in frames:
            code = html.escape("".join(frame.code_context or []))
            rows.append(f"<p>{html.escape(frame.filename)}:{frame.lineno}</p><pre>{code}</pre>")
        rows.append(f"<pre>{html.escape(''.join(traceback.format_exception(exc)))}</pre>")
        return "\n".join(rows)
