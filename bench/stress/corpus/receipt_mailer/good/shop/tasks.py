"""The coroutine is run to its end in the task's thread."""

import asyncio

from .celery_app import app
from .mailer import mailer


@app.task(bind=True, max_retries=3)
def send_receipt(self, order_id, email):
    subject = f"Your receipt for order {order_id}"
    asyncio.run(mailer.send(email, subject, f"Thank you for order {order_id}."))
    return order_id
