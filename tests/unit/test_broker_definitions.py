"""deploy/rabbitmq/definitions.json: what compose applies to the broker before the services start."""

import json
import re

import pytest

from services.brokeraccess import broker_users, definitions
from services.kernel.infra.consumer import queue_names
from services.kernel.infra.outbox import events_exchange


def test_the_shipped_file_declares_the_exchange_the_services_publish_to():
    document = definitions.load()
    exchange = events_exchange()
    [declared] = [e for e in document["exchanges"] if e["name"] == exchange.name]
    assert (declared["type"], declared["durable"], declared["auto_delete"]) == \
        (exchange.type, exchange.durable, exchange.auto_delete)


def test_the_agency_queue_policy_bounds_agency_queues_and_never_antre_s_own():
    [policy] = [p for p in definitions.load()["policies"] if p["name"] == "antre-agency-queues"]
    pattern = re.compile(policy["pattern"])
    assert policy["apply-to"] == "queues"
    assert pattern.search(f"{broker_users.queue_prefix('DISDUKCAPIL')}events")
    for service in ("catalog", "queue", "notify", "reporting"):
        for name in queue_names(service):  # an Antre consumer must never drop events
            assert not pattern.search(name), name
    limits = policy["definition"]
    assert limits["overflow"] == "drop-head", "reject-publish would stall the outbox for everyone"
    assert limits["max-length"] > 0 and limits["message-ttl"] > 0


@pytest.mark.parametrize("document, problem", [
    ({"users": [{"name": "x"}]}, "not a vhost's definitions: users"),
    ({"exchanges": {"name": "antre.events"}}, "exchanges must be a list of objects"),
    ({"policies": [{"name": "p", "vhost": "/"}]}, "policies must not name a vhost"),
    ([], "expected a JSON object"),
])
def test_a_file_that_is_not_one_vhost_s_definitions_is_refused(tmp_path, document, problem):
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=problem):
        definitions.load(path)


def test_a_file_that_is_not_json_is_refused_with_its_name(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        definitions.load(path)
