"""Welcome mails, sent through the mail provider's async API."""

import asyncio


async def send_welcome(email, name):
    await asyncio.sleep(0.01)  # the provider's API call
    await asyncio.sleep(0.01)  # and the audit record of it
    return f"welcome mail to {email}"
