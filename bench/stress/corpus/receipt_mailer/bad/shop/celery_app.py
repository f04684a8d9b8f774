"""The shop's Celery application (a Redis broker in production)."""

from celery import Celery

app = Celery("shop", broker="redis://broker.internal:6379/0")
app.conf.task_acks_late = True
