"""The gallery's Celery application."""

from celery import Celery

app = Celery("gallery", broker="amqp://guest@rabbit.internal//")
app.conf.worker_prefetch_multiplier = 1
