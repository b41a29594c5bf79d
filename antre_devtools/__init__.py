"""Antre's development tooling: the process harness, the hall simulator and the benchmarks.

Used by the command lines in ``scripts/`` (``make demo``, ``make bench``, ``make
bench-queue``) and by the system test (``tests/system/``). It runs the services of a
checkout: ``ROOT`` is the repository this package lives in (an editable install, as
``make install`` makes), whose ``deploy/config`` files and ``services`` package the
``nameko run`` processes use.

- ``antre_devtools.harness``: a private RabbitMQ vhost, the services as ``nameko run``
  processes (from ``services.registry``), their environment, health waits and stopping;
- ``antre_devtools.hall``: the simulated MPP day over HTTP, and its comparison with the
  reporting API;
- ``antre_devtools.demo``: ``make demo`` (every service, the sample catalog, a day);
- ``antre_devtools.bench``: load generators and measurements (``make bench``,
  ``make bench-queue``);
- ``antre_devtools.cli``: the options the command lines share.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
