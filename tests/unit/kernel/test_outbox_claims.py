"""The kernel outbox relays a document's events once when two relays of it overlap.

The catalog and reporting relay a document they just wrote by reading its outbox
(:meth:`OutboxRelay.relay_document`). Two requests that change one document at once
both read both events; each event must still be published once.
"""

import uuid
from collections import Counter

from services.kernel.infra.outbox import OUTBOX, OutboxRelay, outbox_entries


class Event:
    def __init__(self):
        self.id = uuid.uuid4().hex
        self.routing_key = "service.updated.DISDUKCAPIL"

    def envelope(self, source):
        return {"id": self.id, "type": "antre.catalog.service_updated.v1", "source": source}


class Broker:
    def __init__(self):
        self.received, self.interleave, self._inside = Counter(), None, False

    def publish(self, entry):
        if self.interleave and not self._inside:
            self._inside = True
            self.interleave()
            self._inside = False
        self.received[entry["id"]] += 1


def test_two_relays_of_one_document_publish_each_event_once(database):
    services = database("catalog").services
    services.insert_one({"_id": "KTP-EL", OUTBOX: outbox_entries([Event()], "/antre/catalog")})
    services.update_one({"_id": "KTP-EL"},
                        {"$push": {OUTBOX: {"$each": outbox_entries([Event()], "/antre/catalog")}}})
    broker = Broker()
    relay = OutboxRelay(broker)
    # The second request's relay runs while the first one publishes.
    broker.interleave = lambda: relay.relay_document(services, "KTP-EL")
    relay.relay_document(services, "KTP-EL")

    assert len(broker.received) == 2 and set(broker.received.values()) == {1}
    assert services.find_one({"_id": "KTP-EL"})[OUTBOX] == []
