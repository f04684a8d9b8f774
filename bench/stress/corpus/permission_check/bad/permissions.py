# stress: target=Guard.open_document expect=coroutine never awaited
"""is_allowed() is a coroutine; the if tests the coroutine object, which is always true."""


class Guard:
    def __init__(self, directory):
        self.directory = directory

    async def is_allowed(self, user, doc):
        groups = await self.directory.groups(user)
        return doc in groups

    async def open_document(self, user, doc):
        if self.is_allowed(user, doc):
            return f"opened {doc}"
        return "denied"
