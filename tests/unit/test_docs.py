"""The documents name only what exists: README.md and every docs/*.md.

* every repository path in backticks (`services/queue/domain.py`, `deploy/config/<service>.yaml`)
  and every relative link ([events](events.md)) names a file or folder of the repository;
* every `make <target>` is a target of the Makefile;
* every setting in backticks (`MONGO_URL`, `SMS_PROVIDER=log`, `PUBLIC_*_URL`) is known to
  the code: it appears in services/, antre_devtools/, deploy/config/, deploy/compose.yaml, the Makefile or
  deploy/*.sh;
* every `python -m services.<module>` names a module that exists.
"""

import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Paths a document may name before they exist (none: every path named must exist).
PENDING = set()

# Spans that look like repository paths but are not meant as ones.
NOT_PATHS = {
    "services/DISDUKCAPIL-KTP-EL",  # a CloudEvents subject in an example
    "deploy/.env",  # the operator's own copy of deploy/.env.example, never committed
    "deploy/compose.scale.yaml",  # an override file the operator writes (operations.md)
}

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([A-Za-z][\w-]*)")
SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9*]+)+")
ASSIGNMENT = re.compile(r"(?:^|\s)([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=")
MODULE = re.compile(r"python\S*\s+-m\s+(services(?:\.\w+)+)")
PLACEHOLDER = re.compile(r"<[^<>/]*>")


def _top_level():
    return {p.name for p in ROOT.iterdir()} | {p.split("/")[0] for p in PENDING}


def _text(document):
    return document.read_text(encoding="utf-8")


def _spans(text):
    """Inline code spans outside fenced blocks, and each line of the fenced blocks."""
    fences = FENCE.findall(text)
    prose = FENCE.sub("", text)
    lines = [line for block in fences for line in block.splitlines()[1:-1]]
    return SPAN.findall(prose), lines


def _is_repository_path(span, roots):
    if any(c in span for c in " :=|,") or span.startswith(("/", ".", "-")):
        return False
    first = span.split("/")[0]
    return "/" in span and first in roots


def _pattern(reference):
    """`deploy/config/<service>.yaml` -> `deploy/config/*.yaml`."""
    return PLACEHOLDER.sub("*", reference)


def _pending(pattern):
    clean = pattern.rstrip("/")
    for item in PENDING:
        item = item.rstrip("/")
        if clean == item or clean.startswith(item + "/"):
            return True
    return False


def missing_paths(document):
    """The repository paths and relative links of a document that name nothing."""
    text = _text(document)
    roots = _top_level()
    spans, _ = _spans(text)
    references = [(span, ROOT) for span in spans
                  if span not in NOT_PATHS and _is_repository_path(span, roots)]
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z][a-z+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        references.append((target.split("#")[0], document.parent))
    missing = []
    for reference, base in references:
        pattern = _pattern(reference)
        path = (base / pattern).resolve()
        try:
            relative = path.relative_to(ROOT).as_posix() + ("/" if pattern.endswith("/") else "")
        except ValueError:
            missing.append(reference)  # a link out of the repository
            continue
        if _pending(relative):
            continue
        found = glob.glob(str(path)) if "*" in pattern else [path] if path.exists() else []
        if not found or (pattern.endswith("/") and not any(Path(f).is_dir() for f in found)):
            missing.append(reference)
    return missing


def make_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def unknown_make_targets(document):
    spans, lines = _spans(_text(document))
    named = {target for piece in spans + lines for target in MAKE.findall(piece)}
    return sorted(named - make_targets())


def _code_corpus():
    files = [p for folder in ("services", "antre_devtools") for p in (ROOT / folder).rglob("*")
             if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".json", ".sh")]
    files += sorted((ROOT / "deploy" / "config").glob("*.yaml"))
    files += [ROOT / "deploy" / "compose.yaml", ROOT / "Makefile"]
    files += sorted((ROOT / "deploy").glob("*.sh"))
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def named_settings(document):
    spans, _ = _spans(_text(document))
    names = set()
    for span in spans:
        if SETTING.fullmatch(span):
            names.add(span)
        names.update(ASSIGNMENT.findall(span))
    return names


def unknown_settings(document, corpus):
    unknown = []
    for name in sorted(named_settings(document)):
        pattern = r"\b" + re.escape(name).replace(r"\*", r"[A-Z0-9_]*") + r"\b"
        if not re.search(pattern, corpus):
            unknown.append(name)
    return unknown


def missing_modules(document):
    spans, lines = _spans(_text(document))
    missing = []
    for module in {m for piece in spans + lines for m in MODULE.findall(piece)}:
        base = ROOT / Path(*module.split("."))
        if not (base.with_suffix(".py").exists() or (base / "__main__.py").exists()):
            missing.append(module)
    return sorted(missing)


IDS = [d.relative_to(ROOT).as_posix() for d in DOCUMENTS]


@pytest.fixture(scope="module")
def corpus():
    return _code_corpus()


@pytest.mark.parametrize("document", DOCUMENTS, ids=IDS)
def test_every_named_path_exists(document):
    assert missing_paths(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=IDS)
def test_every_make_target_exists(document):
    assert unknown_make_targets(document) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=IDS)
def test_every_setting_is_known_to_the_code(document, corpus):
    assert unknown_settings(document, corpus) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=IDS)
def test_every_python_module_exists(document):
    assert missing_modules(document) == []


def test_the_checks_see_what_they_check(tmp_path):
    """The checks find real references (so an empty answer means something)."""
    readme = ROOT / "README.md"
    spans, lines = _spans(_text(readme))
    assert any(_is_repository_path(s, _top_level()) for s in spans)
    assert {"run", "test", "up"} <= {t for piece in spans + lines for t in MAKE.findall(piece)}
    assert "MONGO_URL" in named_settings(readme)

    bad = tmp_path / "bad.md"
    bad.write_text("See `services/queue/domian.py`, `deploy/config/<service>.yml`,\n"
                   "[x](nowhere.md), `make rnu` and `MONGO_URI`.\n", encoding="utf-8")
    assert missing_paths(bad) == ["services/queue/domian.py", "deploy/config/<service>.yml",
                                  "nowhere.md"]
    assert unknown_make_targets(bad) == ["rnu"]
    assert unknown_settings(bad, _code_corpus()) == ["MONGO_URI"]
