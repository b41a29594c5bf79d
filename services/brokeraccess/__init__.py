"""Broker access for agencies: a RabbitMQ user per agency that can read only its own
events from ``antre.events`` and publish nowhere (see :mod:`.broker_users`, :mod:`.cli`)."""
