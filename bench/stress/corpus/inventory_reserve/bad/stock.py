# stress: target=StockKeeper.reserve expect=check-then-act race
"""reserve() checks the stock, awaits the warehouse, then decrements: two orders take the last item."""

import asyncio


class StockKeeper:
    def __init__(self, warehouse):
        self.warehouse = warehouse
        self.stock = {"sku-1": 1}

    async def reserve(self, sku):
        if self.stock.get(sku, 0) > 0:
            await self.warehouse.hold(sku)
            self.stock[sku] = self.stock[sku] - 1
            return True
        return False

    async def reserve_many(self, skus):
        return await asyncio.gather(*(self.reserve(s) for s in skus))
