# stress: target=create_order expect=event loop blocked
"""An async FastAPI route that writes the ledger through a sync helper of the package."""

from fastapi import Depends, FastAPI

from .ledger import append_entry

app = FastAPI()


def get_settings():
    return {"journal": "/var/shop/ledger.log"}


@app.post("/orders/{order_id}")
async def create_order(order_id: int, settings=Depends(get_settings)):
    size = append_entry(settings["journal"], f"order {order_id}")
    return {"id": order_id, "bytes": size}
