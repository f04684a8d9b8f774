"""The renderer client runs in a thread (sync_to_async), off the event loop."""

from asgiref.sync import sync_to_async
from django.http import HttpResponse

from .renderer import render_invoice_pdf


async def invoice_pdf(request, number):
    lines = request.GET.getlist("line")
    pdf = await sync_to_async(render_invoice_pdf, thread_sensitive=False)(number, lines)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="invoice-{number}.pdf"'
    return response
