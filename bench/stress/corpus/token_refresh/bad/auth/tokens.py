# stress: target=current_token expect=check-then-act race
"""The access token is refreshed when it is missing: concurrent requests all refresh it."""

import asyncio

from .identity import issue_token

_token = None


async def current_token(credentials):
    global _token
    if _token is None:
        _token = await issue_token(credentials)
    return _token


async def call_many(credentials, calls):
    return await asyncio.gather(*(current_token(credentials) for _ in calls))
