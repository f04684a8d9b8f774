"""Stories on the news desk."""

from django.db import models


class Story(models.Model):
    desk = models.CharField(max_length=40)
    status = models.CharField(max_length=20, default="draft")

    class Meta:
        app_label = "desk"
