"""The ORM's async API: the queries run in Django's database thread."""

from django.http import JsonResponse

from .models import Article


async def section_stats(request, section):
    published = await Article.objects.filter(section=section, published=True).acount()
    drafts = await Article.objects.filter(section=section, published=False).acount()
    return JsonResponse({"section": section, "published": published, "drafts": drafts})
