"""Middleware of a comic server: per-user time zone and a Server header, sync or async."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils import timezone


class ServerMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _activate_timezone(request):
        # With the cached_db session engine the first read loads the session row.
        if tzname := request.session.get("django_timezone"):
            timezone.activate(tzname)
        else:
            timezone.deactivate()

    @staticmethod
    async def _aactivate_timezone(request):
        if tzname := await request.session.aget("django_timezone"):
            timezone.activate(tzname)
        else:
            timezone.deactivate()
    @staticmethod
    def _set_server_header(response):
        response["Server"] = "comicserver"
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        self._activate_timezone(request)
        return self._set_server_header(self.get_response(request))

    async def _acall(self, request):
        await self._aactivate_timezone(request)
        response = await self.get_response(request)
        return self._set_server_header(response)
