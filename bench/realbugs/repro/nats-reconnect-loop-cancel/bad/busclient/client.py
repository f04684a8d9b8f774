"""A message-bus client that reconnects to the next server of its list when one fails."""

import asyncio
import logging

log = logging.getLogger(__name__)


class BusClient:
    def __init__(self, servers, connect_timeout=2.0, reconnect_wait=1.0):
        self._servers = list(servers)
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._streams = None
        self._last_server = None

    async def _reconnect(self):
        while True:
            for server in self._servers:
                try:
                    self._streams = await asyncio.wait_for(self._open(server), self._connect_timeout)
                    return
                except (asyncio.CancelledError, TimeoutError) as exc:
                    log.error("Failed to connect to %s: %s", server, type(exc).__name__)
                    self._last_server = server
                    continue
            await asyncio.sleep(self._reconnect_wait)

    async def _open(self, server):
        host, _, port = server.rpartition(":")
        return await asyncio.open_connection(host, int(port))
