"""One place decides every setting's default: ``services/kernel/config.py``.

The nameko files in ``deploy/config/`` take each value from the environment with no
default of their own (``${NAME:}``), so a service and a script outside nameko read the
same default through ``setting()``. Only what nameko reads itself keeps a default in
the file, and it must be the one ``config.py`` gives.
"""

import re
from pathlib import Path

import pytest
import yaml
from nameko.cli.main import setup_yaml_parser

from services import registry
from services.kernel.config import DEFAULTS, setting

ROOT = Path(__file__).resolve().parents[2]
NAMEKO_OWN = {"AMQP_URI", "WEB_SERVER_ADDRESS", "max_workers"}
# Settings that have no default on purpose: secrets, and addresses only an operator knows.
NO_DEFAULT = {"ADMIN_TOKEN", "AUTH_SECRET", "NOTIFY_SECRET_KEY", "SMS_GATEWAY_URL",
              "PUBLIC_CATALOG_URL", "PUBLIC_QUEUE_URL", "PUBLIC_NOTIFY_URL",
              "PUBLIC_REPORTING_URL"}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+):([^}]*)\}")


def load(path, monkeypatch):
    for name in {m.group(1) for m in VARIABLE.finditer(path.read_text(encoding="utf-8"))}:
        monkeypatch.delenv(name, raising=False)
    setup_yaml_parser()
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("service", registry.SERVICES, ids=registry.names())
def test_the_nameko_files_leave_every_default_to_config_py(service, monkeypatch):
    path = ROOT / service.config_file
    text = path.read_text(encoding="utf-8")
    for key, name, default in re.findall(r"^\s*([A-Za-z_]+):\s*\$\{([A-Z0-9_]+):([^}]*)\}",
                                         text, re.MULTILINE):
        if key in NAMEKO_OWN or key == "level":
            continue
        assert default == "", f"{service.config_file}: {key} has its own default {default!r}"
        assert name in DEFAULTS or name in NO_DEFAULT, f"{name}: no default in config.py"
    config = load(path, monkeypatch)
    for key, value in config.items():
        if key in NAMEKO_OWN or key == "LOGGING":
            continue
        assert value is None, key
        assert setting(key, config) == DEFAULTS.get(key), key


@pytest.mark.parametrize("service", registry.SERVICES, ids=registry.names())
def test_what_nameko_reads_itself_defaults_to_what_config_py_says(service, monkeypatch):
    config = load(ROOT / service.config_file, monkeypatch)
    assert config["AMQP_URI"] == DEFAULTS["AMQP_URI"]
    assert config["WEB_SERVER_ADDRESS"] == f"0.0.0.0:{service.port}"
    assert str(config["max_workers"]) == DEFAULTS[f"{service.name.upper()}_MAX_WORKERS"]
    levels = {handler.get("level") for handler in config["LOGGING"].get("handlers", {}).values()}
    levels.add(config["LOGGING"].get("root", {}).get("level"))
    assert levels - {None} == {DEFAULTS["LOG_LEVEL"]}


def test_compose_passes_settings_through_and_repeats_no_default():
    """compose hands each setting on from deploy/.env (``${NAME:-}``): an empty value is
    unset for ``setting()``, which gives config.py's default. Only LOG_LEVEL, which
    nameko reads itself, may repeat its default, and then the same one."""
    text = (ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8")
    for name, default in re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", text):
        if name not in DEFAULTS or default == "":
            continue
        assert name == "LOG_LEVEL" and default == DEFAULTS[name], \
            f"compose repeats the default of {name} ({default!r})"
