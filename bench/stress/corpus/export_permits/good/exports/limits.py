import asyncio
import os

# At most this many uploads to the object store at once (its rate limit).
UPLOAD_SLOTS = int(os.environ.get("EXPORT_UPLOAD_SLOTS", "1"))


def upload_slots():
    return asyncio.Semaphore(UPLOAD_SLOTS)
