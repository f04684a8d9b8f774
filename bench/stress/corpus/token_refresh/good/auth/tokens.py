"""The refresh runs under a lock and the token is checked again inside it."""

import asyncio

from .identity import issue_token

_token = None
_refresh = asyncio.Lock()


async def current_token(credentials):
    global _token
    async with _refresh:
        if _token is None:
            _token = await issue_token(credentials)
    return _token


async def call_many(credentials, calls):
    return await asyncio.gather(*(current_token(credentials) for _ in calls))
