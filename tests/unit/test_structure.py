"""The shape every service and the kernel keep, checked rather than promised.

- Each service's ``domain.py`` and every module of the pure kernel (``services/kernel/``
  outside ``infra/``) imports no framework, not even transitively: checked in a fresh
  interpreter, where nothing else has imported them first.
- Importing the kernel has no side effect on the frameworks (no codec, no exception
  registered), so importing a module never changes what another process decodes.
- The registry names exactly the service folders there are.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services import registry

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("nameko", "kombu", "pymongo", "werkzeug", "eventlet", "mongomock", "bson",
              "amqp")
PURE_KERNEL = sorted(f"services.kernel.{path.stem}"
                     for path in (ROOT / "services" / "kernel").glob("*.py")
                     if path.stem != "__init__")

CHECK = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
frameworks = set(json.loads(sys.argv[2]))
print(json.dumps(sorted({m for m in set(sys.modules) - before
                         if m.split(".")[0] in frameworks})))
"""


def imported_frameworks(module):
    answer = subprocess.run([sys.executable, "-c", CHECK, module, json.dumps(FRAMEWORKS)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(answer.stdout)


@pytest.mark.parametrize("module", [f"services.{name}.domain" for name in registry.names()]
                         + PURE_KERNEL)
def test_domain_and_pure_kernel_import_no_framework(module):
    assert imported_frameworks(module) == []


def test_the_check_bites_on_a_module_that_imports_a_framework():
    assert "nameko" in {m.split(".")[0] for m in imported_frameworks("services.kernel.infra.rpc")}


def test_importing_the_kernel_registers_nothing_with_the_frameworks():
    code = """
import importlib, pkgutil, json
from kombu.serialization import registry as codecs
from nameko.exceptions import registry as errors
codecs_before, errors_before = set(codecs._decoders), set(errors)
import services.kernel, services.kernel.infra
for package in (services.kernel, services.kernel.infra):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
print(json.dumps([sorted(set(codecs._decoders) - codecs_before),
                  sorted(set(errors) - errors_before)]))
"""
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert json.loads(answer.stdout) == [[], []]


def test_the_registry_names_every_service_folder():
    folders = {path.parent.name for path in (ROOT / "services").glob("*/service.py")}
    assert set(registry.names()) == folders
    for entry in registry.SERVICES:
        assert (ROOT / entry.config_file).is_file()
        assert entry.load().name == entry.name
    assert len({entry.port for entry in registry.SERVICES}) == len(registry.SERVICES)


def test_the_registry_ports_are_the_configured_defaults():
    """The development port of each service is the one its nameko file falls back to."""
    for entry in registry.SERVICES:
        text = (ROOT / entry.config_file).read_text(encoding="utf-8")
        assert f"${{{entry.address_variable}:0.0.0.0:{entry.port}}}" in text, entry.name


TEMPLATE = ("service.py", "dependencies.py", "schemas.py", "domain.py", "commands.py",
            "queries.py", "repository.py")


@pytest.mark.parametrize("name", registry.names())
def test_every_service_keeps_the_template(name):
    folder = ROOT / "services" / name
    assert [f for f in TEMPLATE if not (folder / f).is_file()] == []


@pytest.mark.parametrize("name", registry.names())
def test_entrypoints_hold_no_store_or_adapter_code(name):
    """service.py wires and answers: providers, stores and catalog adapters live in
    dependencies.py, and service.py itself touches no database or broker library."""
    source = (ROOT / "services" / name / "service.py").read_text(encoding="utf-8")
    for needle in ("import pymongo", "from pymongo", "import kombu", "from kombu",
                   r"class \w*Store\b", "MongoDatabase", r"\(DependencyProvider\)"):
        assert not re.search(needle, source), f"services/{name}/service.py: {needle}"


def modules_importing_the_store(folder):
    """The modules below ``folder`` that import pymongo themselves."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*.py")
                  if re.search(r"^\s*(import|from) pymongo\b", path.read_text(encoding="utf-8"),
                               re.M))


@pytest.mark.parametrize("name", registry.names())
def test_only_the_repository_touches_the_store(name):
    """Use cases (commands, queries, staff, ...) go through the repository: no other module
    of a service imports pymongo or catches its errors."""
    assert modules_importing_the_store(ROOT / "services" / name) == ["repository.py"]


def test_the_store_check_bites_on_a_use_case_that_imports_pymongo(tmp_path):
    (tmp_path / "repository.py").write_text("import pymongo\n", encoding="utf-8")
    (tmp_path / "staff.py").write_text("from pymongo.errors import DuplicateKeyError\n",
                                       encoding="utf-8")
    assert modules_importing_the_store(tmp_path) == ["repository.py", "staff.py"]


@pytest.mark.parametrize("entry", registry.SERVICES, ids=lambda entry: entry.name)
def test_every_service_class_is_an_antre_service(entry):
    """One base for all: ``GET /health`` and ``self.config`` come from it."""
    from services.kernel.infra.base import AntreService

    assert issubclass(entry.load(), AntreService)


def test_entrypoints_check_access_through_the_service_base_class():
    """Only ``AntreService`` calls the kernel's access checks, so no entrypoint can skip
    the revocations (a service calls ``self.require`` / ``self.authenticate``)."""
    offenders = []
    for path in sorted(Path("services").rglob("*.py")):
        if path.parts[1] == "kernel":
            continue
        text = path.read_text()
        if re.search(r"from services\.kernel\.auth import [^\n]*\b(require|authenticate|"
                     r"require_admin)\b", text) or re.search(r"\bauth\.(require|authenticate)\(",
                                                             text):
            offenders.append(str(path))
    assert offenders == []
