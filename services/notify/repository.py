"""Notify's storage: announcements, phone subscriptions, messages, webhooks, deliveries.

* ``announcements``: every call and recall of a site, numbered by a per-site sequence
  (``seq``) that display boards resume from; one per event (unique ``event_id``).
* ``subscriptions``: a ticket's phone number, encrypted, with which messages were sent;
  deleted once the ticket's day is over.
* ``messages``: citizen messages waiting to be sent or sent, with their attempts; the
  text is encrypted (it carries the ticket's status link) and dropped after the day.
* ``webhooks`` and ``deliveries``: agency endpoints, and each event's delivery to each,
  with every attempt logged.

Sending (messages, deliveries) works like an outbox: a record is written first, then a
worker claims due records with a lease (so replicas do not send one twice at once) and
records the outcome.
"""

from datetime import timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.kernel.infra.mongo import Collection, Index, Repository

PENDING, SENT, FAILED, DEAD = "pending", "sent", "failed", "dead"
LOG_KEEP = 20  # attempts kept in a delivery's log


class NotifyRepository(Repository):
    announcements = Collection("announcements", Index("site", "seq", unique=True),
                               Index("event_id", unique=True))
    sequences = Collection("sequences")
    subscriptions = Collection("subscriptions", Index("site", "service", "local_day"))
    messages = Collection("messages", Index("status", "next_attempt_at"))
    webhooks = Collection("webhooks")
    deliveries = Collection("deliveries", Index("status", "next_attempt_at"),
                            Index("webhook_id", "-created_at"))

    # -- announcements ------------------------------------------------------------------

    def add_announcement(self, announcement):
        """Number and store an announcement; None if its event was announced before."""
        if self.announcements.count_documents({"event_id": announcement["event_id"]}, limit=1):
            return None
        site = announcement["site"]
        seq = self.sequences.find_one_and_update(
            {"_id": site}, {"$inc": {"value": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER)["value"]
        doc = {"_id": f"{site}|{seq:012d}", "seq": seq, **announcement}
        try:
            self.announcements.insert_one(doc)
        except DuplicateKeyError:
            return None  # the same event, handled at the same moment by another worker
        return doc

    def announcements_after(self, site, seq, limit=100):
        found = self.announcements.find({"site": site, "seq": {"$gt": seq}}, {"_id": 0})
        return list(found.sort("seq", ASCENDING).limit(limit))

    def recent_announcements(self, site, limit):
        found = self.announcements.find({"site": site}, {"_id": 0})
        return list(found.sort("seq", DESCENDING).limit(limit))

    # -- subscriptions --------------------------------------------------------------------

    def save_subscription(self, subscription):
        self.subscriptions.replace_one({"_id": subscription["_id"]}, subscription, upsert=True)

    def subscription(self, ticket_id):
        return self.subscriptions.find_one({"_id": ticket_id})

    def waiting_subscriptions(self, site, service, local_day):
        return list(self.subscriptions.find({"site": site, "service": service,
                                             "local_day": local_day, "ended": False}))

    def claim_message_kind(self, ticket_id, kind):
        """True for the first caller only: that caller queues the ``kind`` message."""
        claimed = self.subscriptions.find_one_and_update(
            {"_id": ticket_id, f"sent.{kind}": {"$ne": True}}, {"$set": {f"sent.{kind}": True}})
        return claimed is not None

    def end_subscription(self, ticket_id):
        self.subscriptions.update_one({"_id": ticket_id}, {"$set": {"ended": True}})

    def forget_days_before(self, site, local_day):
        """Delete the numbers (and message texts) of every day before ``local_day``."""
        removed = self.subscriptions.delete_many({"site": site, "local_day": {"$lt": local_day}})
        self.messages.update_many({"site": site, "local_day": {"$lt": local_day},
                                   "text": {"$exists": True}}, {"$unset": {"text": ""}})
        return removed.deleted_count

    def subscription_sites(self):
        return self.subscriptions.distinct("site")

    # -- outgoing records (messages and deliveries) ----------------------------------------

    def queue_message(self, message):
        return self._queue(self.messages, message)

    def queue_delivery(self, delivery):
        return self._queue(self.deliveries, delivery)

    @staticmethod
    def _queue(collection, record):
        """Queue an outgoing record once: False when one with its ``_id`` is queued already."""
        try:
            collection.insert_one({**record, "status": PENDING, "attempts": 0, "log": []})
        except DuplicateKeyError:
            return False
        return True

    @staticmethod
    def claim_due(collection, now, lease_seconds):
        """Claim one due record for ``lease_seconds`` (None when none is due)."""
        return collection.find_one_and_update(
            {"status": PENDING, "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": now + timedelta(seconds=lease_seconds)}},
            sort=[("next_attempt_at", ASCENDING)], return_document=ReturnDocument.AFTER)

    @staticmethod
    def record_attempt(collection, record_id, entry, status, next_attempt_at):
        update = {"$set": {"status": status, "next_attempt_at": next_attempt_at,
                           "last_attempt": entry},
                  "$inc": {"attempts": 1},
                  "$push": {"log": {"$each": [entry], "$slice": -LOG_KEEP}}}
        collection.update_one({"_id": record_id}, update)

    def messages_of(self, ticket_id):
        return list(self.messages.find({"ticket_id": ticket_id}, {"text": 0}).sort("created_at"))

    # -- webhooks -------------------------------------------------------------------------

    def add_webhook(self, webhook):
        self.webhooks.insert_one(webhook)

    def webhook(self, webhook_id):
        return self.webhooks.find_one({"_id": webhook_id})

    def list_webhooks(self, agency=None):
        query = {"agency": agency} if agency else {}
        return list(self.webhooks.find(query).sort("created_at", ASCENDING))

    def set_webhook_active(self, webhook_id, active):
        return self.webhooks.find_one_and_update({"_id": webhook_id}, {"$set": {"active": active}},
                                                 return_document=ReturnDocument.AFTER)

    def webhooks_for_agency(self, agency):
        return list(self.webhooks.find({"active": True, "agency": {"$in": [agency, "*"]}}))

    def list_deliveries(self, webhook_id, status=None, limit=100):
        query = {"webhook_id": webhook_id}
        if status:
            query["status"] = status
        found = self.deliveries.find(query, {"envelope": 0})
        return list(found.sort("created_at", DESCENDING).limit(limit))

    def redeliver(self, delivery_id, now):
        return self.deliveries.find_one_and_update(
            {"_id": delivery_id, "status": {"$in": [DEAD, FAILED]}},
            {"$set": {"status": PENDING, "next_attempt_at": now, "attempts": 0,
                      "redelivered_at": now}},
            projection={"envelope": 0}, return_document=ReturnDocument.AFTER)
