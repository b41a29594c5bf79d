"""Timers whose interval is a setting, so operators (and tests) can tune them."""

import eventlet
from nameko.timer import Timer

from services.kernel.config import setting


class ConfiguredTimer(Timer):
    """Fires every ``<setting>`` seconds (read from the config, then the environment,
    then :data:`services.kernel.config.DEFAULTS`); first shortly after start-up.

    The first tick waits ``START_DELAY_SECONDS`` so that the container's consumers (its
    RPC reply queue among them) are up before a tick calls another service: nameko 2
    starts every extension at once, and a reply to a request made before the reply
    queue exists is lost (:class:`services.kernel.rpc.RpcClient` then gives up).
    """

    START_DELAY_SECONDS = 2.0

    def __init__(self, setting_name, **kwargs):
        self.setting_name = setting_name
        super().__init__(interval=60.0, eager=True, **kwargs)

    def setup(self):
        self.interval = float(setting(self.setting_name, self.container.config))
        super().setup()

    def start(self):
        self.gt = self.container.spawn_managed_thread(self._run_after_start_delay)

    def _run_after_start_delay(self):
        with eventlet.Timeout(self.START_DELAY_SECONDS, exception=False):
            self.should_stop.wait()
            return  # stopped during the delay
        self._run()


configured_timer = ConfiguredTimer.decorator
