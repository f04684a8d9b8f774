"""Look-ups in the home-automation core's registries (coroutines: they run on its loop)."""


async def async_get_device_id(hass, serial):
    registry = hass.data["device_registry"]
    device = registry.async_get_device(identifiers={("bosch_shc", serial)})
    return device.id if device else None
