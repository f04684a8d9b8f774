# stress: target=update_profile expect=coroutine never awaited
"""update_profile() calls the async save() and drops its coroutine: nothing is ever saved."""


async def save(repo, profile):
    await repo.put(profile["id"], profile)


async def update_profile(repo, profile, changes):
    profile.update(changes)
    save(repo, profile)
    return profile
