"""The resizes run as a chord: the callback marks the album public once they are all done,
and no worker waits for another."""

from celery import chord

from .worker import app

_published = {}


@app.task
def resize_photo(photo_id, width):
    return f"photos/{photo_id}/w{width}.jpg"


@app.task
def mark_published(renditions, album_id):
    _published[album_id] = renditions
    return len(renditions)


@app.task(bind=True, acks_late=True)
def publish_album(self, album_id, photo_ids):
    header = [resize_photo.s(photo_id, 1600) for photo_id in photo_ids]
    chord(header)(mark_published.s(album_id))
    return len(header)
