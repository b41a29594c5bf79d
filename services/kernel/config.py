"""Configuration from environment variables.

nameko reads its own YAML config (see ``deploy/config/``), where every value is
``${ENV_VAR:default}``; this module is the one place that knows the defaults, so
code outside a nameko container (CLI commands, scripts, tests) agrees with it.
"""

import os

DEFAULTS = {
    "AMQP_URI": "amqp://guest:guest@localhost:5672/",
    "MONGO_URL": "mongomock://localhost/",
    "EVENTS_EXCHANGE": "antre.events",
    "DEFAULT_TIMEZONE": "Asia/Jakarta",
    "DEFAULT_SITE": "BWI",
    "OUTBOX_GRACE_SECONDS": "5",
    "OUTBOX_SWEEP_SECONDS": "2",
    "EVENT_MAX_ATTEMPTS": "5",
    "CATALOG_CACHE_SECONDS": "15",
    "AUTH_TOKEN_HOURS": "12",
    "ALLOW_PUBLIC_ISSUING": "true",
    "CORS_ALLOW_ORIGIN": "*",
    "DEVICE_TOKEN_DAYS": "365",
    "DAY_CLOSE_DELAY_MINUTES": "30",
    "DAY_CLOSE_CHECK_SECONDS": "60",
    "PAST_DAYS_CHECK_SECONDS": "300",
    "WAITING_RECOUNT_SECONDS": "60",
    "MESSAGE_SWEEP_SECONDS": "1",
    "WEBHOOK_SWEEP_SECONDS": "1",
    "FORGET_CHECK_SECONDS": "600",
    "EVENT_RETRY_SECONDS": "2",
    "RPC_TIMEOUT_SECONDS": "10",
    "CATALOG_HTTP_PORT": "8001",
    "QUEUE_HTTP_PORT": "8002",
    "NOTIFY_HTTP_PORT": "8003",
    "REPORTING_HTTP_PORT": "8004",
}


def setting(name, config=None):
    """A setting from a nameko config dict, then the environment, then the default."""
    if config is not None and config.get(name) not in (None, ""):
        return config[name]
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return DEFAULTS.get(name)


def flag(value):
    """A yes/no setting: true, 1, yes, on (any case) or a YAML true."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


def database_name(service_name, config=None):
    """Each service owns one database, ``<MONGO_DB_PREFIX><service>`` (``antre_catalog``)."""
    return f"{setting('MONGO_DB_PREFIX', config) or 'antre_'}{service_name}"
