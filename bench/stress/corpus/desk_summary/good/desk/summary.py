"""The counts use the ORM's async API."""

from .models import Story


async def desk_summary(desk):
    drafts = await Story.objects.filter(desk=desk, status="draft").acount()
    ready = await Story.objects.filter(desk=desk, status="ready").acount()
    return {"desk": desk, "drafts": drafts, "ready": ready}
