"""The event envelope: CloudEvents 1.0 in JSON structured mode.

Every public Antre event is a CloudEvent whose ``type`` is
``antre.<entity>.<action>.v<major>`` and whose AMQP routing key on the
``antre.events`` topic exchange is ``<entity>.<action>.<agency>`` (``_site``
when the event belongs to no single agency). ``data`` never carries personal
data (NIK, phone numbers, names).
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
NO_AGENCY = "_site"
TYPE_PREFIX = "antre."


def utcnow():
    """Now, in UTC, to the millisecond: what MongoDB stores and events carry, exactly."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(moment):
    """RFC 3339 with milliseconds and a 'Z' suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """A domain event before it is wrapped: what happened, to what, with which facts."""

    entity: str
    action: str
    subject: str
    data: dict
    site: str | None = None
    agency: str | None = None
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)

    @property
    def type(self):
        return f"{TYPE_PREFIX}{self.entity}.{self.action}.v{self.version}"

    @property
    def routing_key(self):
        return f"{self.entity}.{self.action}.{self.agency or NO_AGENCY}"

    def envelope(self, source):
        body = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": source,
            "type": self.type,
            "time": isoformat(self.time),
            "subject": self.subject,
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.site:
            body["site"] = self.site
        if self.agency:
            body["agency"] = self.agency
        return body


def source_for(service_name):
    return f"/antre/{service_name}"
