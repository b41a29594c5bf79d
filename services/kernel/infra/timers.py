"""Timers whose interval is a setting, so operators (and tests) can tune them."""

from nameko.timer import Timer

from services.kernel.config import setting


class ConfiguredTimer(Timer):
    """Fires every ``<setting>`` seconds (read from the config, then the environment,
    then :data:`services.kernel.config.DEFAULTS`); first at start-up."""

    def __init__(self, setting_name, **kwargs):
        self.setting_name = setting_name
        super().__init__(interval=60.0, eager=True, **kwargs)

    def setup(self):
        self.interval = float(setting(self.setting_name, self.container.config))
        super().setup()


configured_timer = ConfiguredTimer.decorator
