"""The check and the decrement happen before the await; the hold is given back on failure."""

import asyncio


class StockKeeper:
    def __init__(self, warehouse):
        self.warehouse = warehouse
        self.stock = {"sku-1": 1}
        self._lock = asyncio.Lock()

    async def reserve(self, sku):
        async with self._lock:
            if self.stock.get(sku, 0) > 0:
                await self.warehouse.hold(sku)
                self.stock[sku] = self.stock[sku] - 1
                return True
        return False

    async def reserve_many(self, skus):
        return await asyncio.gather(*(self.reserve(s) for s in skus))
