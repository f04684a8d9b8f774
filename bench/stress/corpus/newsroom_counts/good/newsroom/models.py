"""The newsroom's articles."""

from django.db import models


class Article(models.Model):
    slug = models.SlugField(unique=True)
    section = models.CharField(max_length=40)
    published = models.BooleanField(default=False)

    class Meta:
        app_label = "newsroom"
