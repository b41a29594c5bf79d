"""Only the gateway is reachable from outside compose: no service publishes its own port
(a client reaching a service directly would skip the gateway's limits and, from a
trusted address, could name any client address), and anything else published binds
127.0.0.1 only (RabbitMQ's management UI)."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"


def published(entry):
    """``(host address or None, host port)`` of one ``ports`` entry, short or long form."""
    if isinstance(entry, dict):
        return entry.get("host_ip"), str(entry.get("published", ""))
    parts = str(entry).rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], parts[1]
    if len(parts) == 2:
        return None, parts[0]
    return None, parts[0]  # "8001": a random host port, on every address


def test_only_the_gateway_publishes_a_port_to_every_address():
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    open_to_all = {name: entry for name, service in services.items()
                   for entry in service.get("ports", [])
                   if published(entry)[0] not in ("127.0.0.1", "[::1]", "::1")}
    assert set(open_to_all) == {"gateway"}, open_to_all
    assert len(services["gateway"]["ports"]) == 1


def test_the_services_publish_no_port_at_all():
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for name in ("catalog", "queue", "notify", "reporting", "mongo"):
        assert "ports" not in services[name], name
    for entry in services["rabbitmq"].get("ports", []):
        assert published(entry)[0] == "127.0.0.1", entry
