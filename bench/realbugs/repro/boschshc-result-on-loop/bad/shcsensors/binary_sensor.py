"""Binary sensors of a smart-home controller: motion events become bus events."""

import asyncio

from .helpers import async_get_device_id


class MotionDetectionSensor:
    def __init__(self, hass, device):
        self.hass = hass
        self._device = device
        self.entity_id = f"binary_sensor.{device.serial}"

    async def async_added_to_hass(self):
        self._device.subscribe_callback(self.entity_id, self._input_events_handler)
        # Report the motion the device already knows about.
        self._input_events_handler()

    def _input_events_handler(self):
        device_id = asyncio.run_coroutine_threadsafe(
            async_get_device_id(self.hass, self._device.serial), self.hass.loop
        ).result()
        self.hass.bus.fire(
            "bosch_shc.event",
            {"device_id": device_id, "event_type": "MOTION", "time": self._device.latestmotion},
        )
