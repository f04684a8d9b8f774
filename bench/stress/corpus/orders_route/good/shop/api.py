"""The ledger helper runs in the thread pool."""

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from .ledger import append_entry

app = FastAPI()


def get_settings():
    return {"journal": "/var/shop/ledger.log"}


@app.post("/orders/{order_id}")
async def create_order(order_id: int, settings=Depends(get_settings)):
    size = await run_in_threadpool(append_entry, settings["journal"], f"order {order_id}")
    return {"id": order_id, "bytes": size}
