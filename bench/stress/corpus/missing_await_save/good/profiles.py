"""update_profile() awaits the save."""


async def save(repo, profile):
    await repo.put(profile["id"], profile)


async def update_profile(repo, profile, changes):
    profile.update(changes)
    await save(repo, profile)
    return profile
