# stress: target=finish_upload expect=swallowed cancellation
"""finish_upload() catches BaseException to clean up, and returns instead of re-raising."""


async def finish_upload(store, upload_id):
    try:
        await store.commit(upload_id)
        return "committed"
    except BaseException:
        await store.abort(upload_id)
        return "aborted"
