# stress: target=desk_summary expect=event loop blocked
"""The live dashboard's summary of a desk, awaited by the websocket consumer every few
seconds. It queries with the sync ORM from a coroutine: on the event loop, where Django
refuses it, and where each query would freeze every connected dashboard."""

from .models import Story


async def desk_summary(desk):
    drafts = Story.objects.filter(desk=desk, status="draft").count()
    ready = Story.objects.filter(desk=desk, status="ready").count()
    return {"desk": desk, "drafts": drafts, "ready": ready}
