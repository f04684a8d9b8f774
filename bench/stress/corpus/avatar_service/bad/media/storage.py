import time


def fetch_blob(bucket, key):
    time.sleep(0.2)  # the object store's sync SDK
    return bucket.get(key)
