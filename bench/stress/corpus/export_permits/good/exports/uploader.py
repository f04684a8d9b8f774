"""The permit is held by `async with`: a failed or cancelled upload gives it back."""

from .limits import upload_slots


class ReportExporter:
    def __init__(self, store, renderer):
        self.store = store
        self.renderer = renderer
        self._slots = upload_slots()

    async def export(self, report):
        body = self.renderer.render(report)
        async with self._slots:
            await self.store.put(f"exports/{report.id}.csv", body)
        return len(body)
