"""The permission check is awaited."""


class Guard:
    def __init__(self, directory):
        self.directory = directory

    async def is_allowed(self, user, doc):
        groups = await self.directory.groups(user)
        return doc in groups

    async def open_document(self, user, doc):
        if await self.is_allowed(user, doc):
            return f"opened {doc}"
        return "denied"
