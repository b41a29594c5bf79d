"""Configuration from environment variables.

nameko reads its own YAML config (see ``deploy/config/``), where every value is
``${ENV_VAR:}`` from the environment, with no default of its own: :func:`setting`
takes an empty value as unset and falls back to :data:`DEFAULTS`. This module is the
one place that decides the defaults, for the services and for code outside a nameko
container (CLI commands, scripts, tests) alike. Only what nameko reads itself (the
broker address, the HTTP address, the worker pool, the log level) keeps a default in
the YAML files, and tests/unit/test_configuration.py checks it equals this one.
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
    "REVOCATION_REFRESH_SECONDS": "2",
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
    "MONGO_DB_PREFIX": "antre_",
    "CATALOG_SEED": "if-empty",
    "PUBLIC_BASE_URL": "http://localhost:8080",
    "NEAR_TICKETS_AHEAD": "3",
    "SMS_PROVIDER": "log",
    "MESSAGE_MAX_ATTEMPTS": "5",
    "MESSAGE_RETRY_SECONDS": "5",
    "WEBHOOK_MAX_ATTEMPTS": "10",
    "WEBHOOK_RETRY_SECONDS": "10",
    "MAX_PRIORITY_STREAK": "2",
    "NO_SHOW_AFTER_RECALLS": "2",
    # Abuse limits (docs/security.md): whose forwarding headers are believed, login
    # lockouts (catalog), anonymous web issuing (queue), webhook targets (notify).
    "TRUSTED_PROXIES": "127.0.0.1,::1",
    "LOGIN_MAX_FAILURES": "5",
    "LOGIN_MAX_FAILURES_PER_ADDRESS": "20",
    "LOGIN_FAILURE_WINDOW_SECONDS": "900",
    "LOGIN_LOCKOUT_SECONDS": "60",
    "LOGIN_MAX_LOCKOUT_SECONDS": "3600",
    "WEB_ISSUE_WINDOW_SECONDS": "3600",
    "WEB_ISSUE_PER_CLIENT": "10",
    "WEB_PRIORITY_PER_CLIENT": "1",
    "WEB_ISSUE_PER_SERVICE": "100",
    "WEB_PRIORITY_PER_SERVICE": "20",
    "WEBHOOK_ALLOWED_PRIVATE": "",
    # Every service's HTTP server (services/kernel/infra/http.py): idle and slow
    # connections are dropped, and the open ones are capped.
    "HTTP_SOCKET_TIMEOUT_SECONDS": "30",
    "HTTP_KEEPALIVE_SECONDS": "30",
    "HTTP_MAX_CONNECTIONS": "1000",
    # Read by nameko itself, not through setting(): deploy/config/*.yaml carries these
    # as its ${NAME:default} defaults, and tests/unit/test_configuration.py checks that
    # they are the same as here.
    "LOG_LEVEL": "INFO",
    "CATALOG_MAX_WORKERS": "10",
    "QUEUE_MAX_WORKERS": "20",
    "NOTIFY_MAX_WORKERS": "20",
    "REPORTING_MAX_WORKERS": "10",
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
    return f"{setting('MONGO_DB_PREFIX', config)}{service_name}"
