# stress: target=RH205@ expect=lock leaked
"""Nightly exports: each report is rendered and pushed to the object store, a few at a time.
The permit is given back after the upload, not in a `finally`: a failed or cancelled upload
keeps it, and once they are all gone the export hangs."""

from .limits import upload_slots


class ReportExporter:
    def __init__(self, store, renderer):
        self.store = store
        self.renderer = renderer
        self._slots = upload_slots()

    async def export(self, report):
        body = self.renderer.render(report)
        await self._slots.acquire()
        await self.store.put(f"exports/{report.id}.csv", body)
        self._slots.release()
        return len(body)
