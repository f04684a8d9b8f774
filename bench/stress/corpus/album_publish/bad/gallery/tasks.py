# stress: target=publish_album expect=task waits on a task
"""Publishing an album renders every photo's web size, then marks the album public. The
parent task waits for each resize subtask's result inside the worker: with all worker slots
busy waiting on children, nobody runs the children, and the queue stalls."""

from .worker import app

_published = {}


@app.task
def resize_photo(photo_id, width):
    return f"photos/{photo_id}/w{width}.jpg"


@app.task(bind=True, acks_late=True)
def publish_album(self, album_id, photo_ids):
    renditions = []
    for photo_id in photo_ids:
        renditions.append(resize_photo.delay(photo_id, 1600).get(timeout=300))
    _published[album_id] = renditions
    return len(renditions)
