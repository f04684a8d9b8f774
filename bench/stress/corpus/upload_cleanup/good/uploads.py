"""finish_upload() cleans up and re-raises."""


async def finish_upload(store, upload_id):
    try:
        await store.commit(upload_id)
        return "committed"
    except BaseException:
        await store.abort(upload_id)
        raise
