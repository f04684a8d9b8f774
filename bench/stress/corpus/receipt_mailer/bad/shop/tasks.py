# stress: target=send_receipt expect=coroutine never awaited
"""Celery task sending the receipt of a paid order. Mailer.send is a coroutine function;
the task calls it like a plain function, so the mail is never sent (and the task reports
success)."""

from .celery_app import app
from .mailer import mailer


@app.task(bind=True, max_retries=3)
def send_receipt(self, order_id, email):
    subject = f"Your receipt for order {order_id}"
    mailer.send(email, subject, f"Thank you for order {order_id}.")
    return order_id
