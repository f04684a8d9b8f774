"""Binary sensors of a smart-home controller: motion events become bus events."""

from .helpers import async_get_device_id


class MotionDetectionSensor:
    def __init__(self, hass, device):
        self.hass = hass
        self._device = device
        self._device_id = None
        self.entity_id = f"binary_sensor.{device.serial}"

    async def async_added_to_hass(self):
        # Resolved once here, on the loop, instead of from the event handler.
        self._device_id = await async_get_device_id(self.hass, self._device.serial)
        self._device.subscribe_callback(self.entity_id, self._input_events_handler)
        self._input_events_handler()

    def _input_events_handler(self):
        self.hass.bus.fire(
            "bosch_shc.event",
            {"device_id": self._device_id, "event_type": "MOTION", "time": self._device.latestmotion},
        )
