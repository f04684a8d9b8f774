import asyncio

rooms_lock = asyncio.Lock()
members_lock = asyncio.Lock()
