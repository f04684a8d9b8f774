# stress: target=invoice_pdf expect=event loop blocked
"""Django (ASGI) view that returns an invoice as PDF. It is async, and calls the synchronous
renderer client directly: while one PDF renders (seconds), the worker's event loop serves
nothing else."""

from django.http import HttpResponse

from .renderer import render_invoice_pdf


async def invoice_pdf(request, number):
    lines = request.GET.getlist("line")
    pdf = render_invoice_pdf(number, lines)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="invoice-{number}.pdf"'
    return response
