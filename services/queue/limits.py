"""Limits on anonymous (web) issuing, while ``ALLOW_PUBLIC_ISSUING`` is on.

Each anonymous request counts, per fixed window of ``WEB_ISSUE_WINDOW_SECONDS``,
against its client address (``WEB_ISSUE_PER_CLIENT``) and its service
(``WEB_ISSUE_PER_SERVICE``, every web client together); one that claims a priority
group also against ``WEB_PRIORITY_PER_CLIENT`` and ``WEB_PRIORITY_PER_SERVICE``. Beyond a
limit the request is refused (429, ``Retry-After``, the limit's name) until the window
ends. A refused request writes nothing: it counts against no limit, and one that another
check refuses after it was admitted (an unknown service, a full quota) is given back.
Kiosks and staff are never limited. The counts live in
the queue's database, so every process of the queue shares them. 0 switches a limit off.
"""

from dataclasses import dataclass

from services.kernel.config import setting
from services.kernel.errors import TooManyRequests
from services.kernel.ratelimit import RateLimit


@dataclass(frozen=True)
class WebLimits:
    per_client: RateLimit
    priority_per_client: RateLimit
    per_service: RateLimit
    priority_per_service: RateLimit

    @classmethod
    def from_config(cls, config):
        window = float(setting("WEB_ISSUE_WINDOW_SECONDS", config))

        def limit(name):
            return RateLimit(name.lower(), int(setting(name.upper(), config)), window)

        return cls(limit("web_issue_per_client"), limit("web_priority_per_client"),
                   limit("web_issue_per_service"), limit("web_priority_per_service"))


def admit_web_request(repository, limits, now, client, service, priority):
    """Count an anonymous request for ``service`` from ``client`` against every limit:
    what was counted (for :func:`give_back`); TooManyRequests, counting nothing, when it
    is over one of them. ``now``: seconds since the epoch."""
    checks = [(limits.per_client, f"client:{client}")]
    if priority:
        checks.append((limits.priority_per_client, f"priority-client:{client}"))
    checks.append((limits.per_service, f"service:{service}"))
    if priority:
        checks.append((limits.priority_per_service, f"priority-service:{service}"))
    taken = []
    for limit, key in checks:
        if limit.max_requests <= 0:
            continue
        start, end = limit.window(now)
        name = f"{limit.name}|{key}"
        if not repository.take_request(name, start, end, limit.max_requests):
            give_back(repository, taken)
            wait = limit.retry_after(limit.max_requests + 1, now)
            raise TooManyRequests(
                f"Terlalu banyak permintaan nomor antrean melalui web (paling banyak "
                f"{limit.max_requests} per {int(limit.window_seconds // 60)} menit). Coba "
                f"lagi dalam {wait} detik, atau ambil nomor di anjungan (kiosk) MPP.",
                retry_after=wait, limit=limit.name, max_requests=limit.max_requests,
                window_seconds=int(limit.window_seconds))
        taken.append((name, start))
    return taken


def give_back(repository, taken):
    """Uncount what :func:`admit_web_request` counted (the request was refused after)."""
    for name, start in taken:
        repository.give_back_request(name, start)
