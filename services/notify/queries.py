"""What notify answers without changing anything: display announcements, a ticket's
messages, webhooks and their deliveries, the audit log. No nameko here."""

from services.kernel.errors import Forbidden, NotFound
from services.notify.domain import public_webhook, stream_start


def owned_webhook(repo, principal, webhook_id):
    """The webhook, when ``principal`` may manage it: an agency admin its own agency's,
    the MPP's admin every one ("*" is every agency)."""
    record = repo.webhook(webhook_id)
    if record is None:
        raise NotFound(f"Tidak ada webhook dengan id {webhook_id}.", webhook_id=webhook_id)
    if not principal.in_agency(record["agency"]):
        raise Forbidden("Webhook ini milik instansi lain.", agency=record["agency"])
    return record


class NotifyQueries:
    def __init__(self, repository):
        self.repo = repository

    # -- display boards -------------------------------------------------------------------

    def recent(self, site, limit=10):
        """The site's latest announcements, newest first."""
        return self.repo.recent_announcements(site, limit)

    def announcements_after(self, site, seq):
        return self.repo.announcements_after(site, seq)

    def stream_start(self, site, last_event_id, after):
        """The announcement a board's stream goes on after (see
        :func:`services.notify.domain.stream_start`)."""
        latest = self.repo.recent_announcements(site, 1)
        return stream_start(last_event_id, after, latest[0]["seq"] if latest else 0)

    # -- citizen messages -----------------------------------------------------------------

    def messages_of(self, ticket_id):
        return self.repo.messages_of(ticket_id)

    # -- webhooks (admin) -----------------------------------------------------------------

    def webhooks(self, principal, agency=None):
        """The webhooks ``principal`` manages: an admin's of ``agency`` (every one
        without it), an agency admin's of its own agency."""
        agency = agency if principal.is_admin else principal.agency
        return [public_webhook(w) for w in self.repo.list_webhooks(agency)]

    def deliveries(self, principal, webhook_id, status=None, limit=100):
        owned_webhook(self.repo, principal, webhook_id)
        return self.repo.list_deliveries(webhook_id, status, limit)

    def audit(self, limit=100):
        """The latest admin changes, newest first."""
        return list(self.repo.db.audit.find({}, {"_id": 0}).sort("at", -1).limit(limit))
