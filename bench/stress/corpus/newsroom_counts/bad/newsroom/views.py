# stress: target=section_stats expect=event loop blocked
"""An async Django view (served by uvicorn through ASGI) counting the published articles of a
section with the synchronous ORM: Django refuses the query on the event loop
(SynchronousOnlyOperation), and each such query would stall every request in flight."""

from django.http import JsonResponse

from .models import Article


async def section_stats(request, section):
    published = Article.objects.filter(section=section, published=True).count()
    drafts = Article.objects.filter(section=section, published=False).count()
    return JsonResponse({"section": section, "published": published, "drafts": drafts})
