"""The audit log: every admin change, written to the service's ``audit`` collection."""

from services.kernel.events import utcnow


def audit(collection, principal, action, target, before=None, after=None, now=None):
    """Record an admin change: who, what, when, before and after."""
    collection.insert_one({"at": now or utcnow(), "who": principal.audit(), "action": action,
                           "target": target, "before": before, "after": after})
