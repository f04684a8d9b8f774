import asyncio


async def issue_token(credentials):
    await asyncio.sleep(0.01)  # the identity provider
    return f"token-for-{credentials}"
