"""Hostile input for every HTTP endpoint: routes, strategies, a sender, and the checks.

Every answer to a hostile request must be below 500 and carry no traceback; every
4xx must be JSON with ``error`` and ``message``; and a write endpoint that answered
4xx must have left its service's database exactly as it was.
"""

import copy
import json
import math
import urllib.parse
from dataclasses import dataclass, field

import yaml
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN

MAX_BODY_BYTES = 1024 * 1024
ADMIN = f"Bearer {ADMIN_TOKEN}"
# eventlet refuses request lines of 8 KiB or more before the application sees them
# (see test_limits); hostile URLs stay below that.
MAX_URL_CHARS = 7000
DEEP = 5000


def hostile_settings(max_examples):
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.large_base_example],
        print_blob=True,
        # No explain phase: it re-runs each failure under a tracer, slowly, to say which
        # lines ran; the request in the failure message says enough.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )


# -- routes ------------------------------------------------------------------------------


@dataclass
class Route:
    """One HTTP endpoint and the valid input its hostile variants start from.

    ``path`` has ``{name}`` placeholders filled from ``params``; a value starting with
    ``@`` is looked up in the target's ``values`` (ids made by the fixture).
    """

    method: str
    path: str
    params: dict = field(default_factory=dict)
    query: tuple = ()  # the query parameters it knows
    body: object = None  # a valid body; None: it reads no body
    body_required: bool = True
    document: bool = False  # the catalog import: JSON or YAML
    writes: bool = False
    headers: dict = field(default_factory=dict)

    @property
    def id(self):
        shown = {k: f"<{k}>" if str(v).startswith("@") else v for k, v in self.params.items()}
        return f"{self.method} {self.path.format(**shown)}"

    def __str__(self):
        return self.id


class Target:
    """A running service: its HTTP client, its database and the ids made for the test.

    Not a dataclass: hypothesis pretty-prints test arguments, and the HTTP client of
    ``tests.conftest`` answers every attribute (``_repr_pretty_`` too) with a callable.
    """

    def __init__(self, http, db=None, values=None, collections=None):
        self.http = http
        self.db = db
        self.values = values or {}
        self.collections = collections  # compared for "no partial write"; None: all

    def __repr__(self):
        return f"Target({self.http.base}, db={getattr(self.db, 'name', None)}, values={self.values})"


def resolve(target, value):
    if isinstance(value, str) and value.startswith("@"):
        return target.values[value[1:]]
    return value


def quote(text):
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Answer:
    request: str
    status: int
    content_type: str
    text: str
    streamed: bool = False

    def json(self):
        return json.loads(self.text)

    def __str__(self):
        return (f"{self.request}\n-> {self.status} {self.content_type!r} {self.text[:600]!r}")


def send(target, route, *, params=None, query="", body=None, content_type=None, auth=ADMIN,
         headers=None, method=None):
    """Send one request to ``route`` with the given parts (the route's valid ones for
    the rest); never reads an event stream beyond its headers."""
    values = {name: resolve(target, value) for name, value in route.params.items()}
    values.update(params or {})
    path = route.path.format(**{name: quote(str(value)) for name, value in values.items()})
    if query:
        path = f"{path}?{query}"
    sent = {name: resolve(target, value) for name, value in route.headers.items()}
    if auth is not None:
        sent["Authorization"] = auth
    if content_type is not None:
        sent["Content-Type"] = content_type
    sent.update(headers or {})
    method = method or route.method
    if body is None or not isinstance(body, bytes):
        shown = body if body is None else "<a chunked stream>"
    else:
        shown = body if len(body) < 400 else body[:400] + b"...(%d bytes)" % len(body)
    request = f"{method} {path[:800]} headers={sent} body={shown!r}"
    response = getattr(target.http, method.lower())(path, data=body, headers=sent, stream=True,
                                                     timeout=30)
    content_type_answered = response.headers.get("Content-Type", "")
    if content_type_answered.startswith("text/event-stream"):
        response.close()  # a display board's stream: never read for long
        return Answer(request, response.status_code, content_type_answered, "", streamed=True)
    try:
        text = response.content.decode("utf-8", "replace")
    finally:
        response.close()
    return Answer(request, response.status_code, content_type_answered, text)


# -- checks --------------------------------------------------------------------------------


def check_answer(answer):
    """Below 500, no traceback, and every 4xx a JSON error with ``error`` and ``message``."""
    assert answer.status < 500, f"server error\n{answer}"
    assert "Traceback" not in answer.text, f"traceback leaked\n{answer}"
    assert 'File "' not in answer.text, f"stack frame leaked\n{answer}"
    if answer.status >= 400:
        assert answer.content_type.split(";")[0].strip() == "application/json", (
            f"a 4xx that is not JSON\n{answer}")
        try:
            body = answer.json()
        except ValueError:
            raise AssertionError(f"a 4xx whose body is not JSON\n{answer}") from None
        assert isinstance(body, dict), f"a 4xx whose body is not an object\n{answer}"
        assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), (
            f"a 4xx without 'error' and 'message'\n{answer}")


def snapshot(target):
    """Every document of every (compared) collection, as text (NaN-proof equality)."""
    if target.db is None:
        return None
    names = target.collections or target.db.list_collection_names()
    return {name: sorted(repr(doc) for doc in target.db[name].find()) for name in names}


def changes_between(before, after):
    changed = {}
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, ())), set(after.get(name, ()))
        if old != new:
            changed[name] = {"gone": sorted(old - new)[:3], "new": sorted(new - old)[:3]}
    return changed


def attempt(target, route, *, never_writes=False, **parts):
    """Send a hostile request, check the answer, and for a write endpoint that answered
    4xx (or 5xx, or ``never_writes``) check that nothing was written. Returns the answer."""
    watch = (route.writes or never_writes) and target.db is not None
    before = snapshot(target) if watch else None
    answer = send(target, route, **parts)
    changed = {}
    if watch and (answer.status >= 400 or never_writes):
        changed = changes_between(before, snapshot(target))
    if answer.status >= 500 and changed:
        raise AssertionError(f"server error, after writing {changed}\n{answer}")
    check_answer(answer)
    assert not changed, f"a {answer.status} that wrote anyway: {changed}\n{answer}"
    return answer


# -- strategies ------------------------------------------------------------------------------

ODD_CHARACTERS = (
    "\x00", "\x01", "\x1b", "\x7f", "\x85", "\xa0", "\xad", "\xb2", "\xff", "\u0130", "\u0131",
    "\u0301", "\u034f", "\u061c", "\u0660", "\u180e", "\u200b", "\u200d", "\u200e", "\u2028",
    "\u2029", "\u202e", "\u2066", "\u3000", "\ufb01", "\ufeff", "\ufffd", "\uffff", "\ud800",
    "\udbff", "\udc00", "\udfff", "\U0001f600", "\U000e0001", "\U0010ffff", "$", ".", "%",
    "\\", '"', "'", "<", "&", "/", "*", "?", "#", "=", ";", ":", "+", "\u00df", "\uff21", "\u0661",
)
ODD_STRINGS = (
    "", " ", "null", "None", "true", "0", "-1", "1e309", "NaN", "-0", "0x1F", "../../etc/passwd",
    "<script>alert(1)</script>", '{"$gt": ""}', "$where", "a.b", "${jndi:ldap://x/a}", "%s%s%n",
    "'; DROP TABLE tickets; --", "KTP-EL\x00", "L01\n", "\uff2b\uff34\uff30-\uff25\uff2c",
    "ktp-el", "BWI ", "e\u0301", "\U0001f1ee\U0001f1e9", "\ud83d\ude00", "\ud83d", "A" * 300,
    "9" * 400, "2024-02-30", "24:01", "9999-12-31", "0001-01-01", "Asia", "Etc", "Asia/" + "x" * 300,
)
# Query values worth trying on top of random text: numbers, dates and codes at the edges.
EDGE_VALUES = (
    "", "0", "-1", "1", "500", "501", "1000", "1001", "99999999999999999999999",
    "-99999999999999999999999", "1e3", "1.5", "0x10", " 7", "7 ", "+7", "\u0661\u0662",
    "\uff11\uff12", "\u00b2", "NaN", "inf", "-inf", "true", "false", "yes", "on", "null", "None",
    "2024-02-30", "2024-13-01", "2024-01-01", "0001-01-01", "9999-12-31", "10000-01-01",
    "+002024-01-01", "2024-W01", "20240101", "2024-1-1", "2024-01-01T00:00:00", "BWI", "bwi",
    "BWI\x00", "json", "yaml", "YAML", "merge", "replace", "pending", "sent", "dead", "waiting",
    "id", "en", "*", "KTP-EL", "DISDUKCAPIL", "L01", "local_office", "A" * 5000,
)
# Already percent-encoded pieces of a query string (kept valid: an invalid escape would
# make the HTTP client re-encode the whole URL).
RAW_QUERY_PIECES = ("&", "&&", "=", "==", ";", "+", "%00", "%FF", "%ED%A0%80", "%C0%AF", "%2526",
                    "a", "a=", "=b", "a=%FF", "%FF=1", "a[]=1", "a[b]=1", "%0D%0A")
CONTENT_TYPES = (
    None, "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zzz",
    "application/yaml", "text/yaml", "application/xml", "application/octet-stream", "", "json",
    "*/*",
)
BAD_AUTH = (
    None, "", "Bearer", "Bearer ", "Bearer garbage", "Bearer v1.e30.AAAA", "Bearer v1..",
    "Bearer v1.\xe4\xff.x", "Basic dXNlcjpwYXNz", "bearer " + ADMIN_TOKEN, "Bearer " + ADMIN_TOKEN + "x",
    "Bearer ak_000000000000_" + "x" * 20, "Bearer ak_", "Bearer " + "A" * 4000, "Token abc",
)

odd_characters = st.characters(codec=None) | st.sampled_from(ODD_CHARACTERS)
odd_text = st.text(odd_characters, max_size=24) | st.sampled_from(ODD_STRINGS)
integers = st.integers() | st.sampled_from(
    (2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 30, -(10 ** 30)))
floats = st.floats() | st.sampled_from((math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 1.5))
scalars = st.none() | st.booleans() | integers | floats | odd_text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4),
    max_leaves=8,
)
# What a field gets instead of its value: a wrong type, an edge value, anything.
WRONG_VALUES = (None, True, False, 0, -1, 2 ** 63, 1.5, math.nan, math.inf, "", " ", "x" * 10_000,
                "\x00", "\ud800", "Asia", [], [None], {}, {"$gt": ""}, [[[[[]]]]])
wrong_values = (st.sampled_from(WRONG_VALUES) | json_values).map(copy.deepcopy)  # mutated later


def dumps(value, style="ascii"):
    """JSON bytes: ``ascii`` escapes everything (lone surrogates become ``\\udXXX``, which
    is valid JSON); ``utf8`` writes them raw, which is not valid UTF-8."""
    if style == "ascii":
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def nested(depth, opening=b"[", closing=b"]", inner=b"1"):
    return opening * depth + inner + closing * depth


DEEP_BODIES = {
    "arrays": nested(DEEP),
    "objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "mixed": b'[{"a":' * (DEEP // 2) + b"1" + b"}]" * (DEEP // 2),
    "unclosed": b"[" * DEEP,
    "very deep arrays": nested(100_000),
}
RAW_BODIES = (
    b"", b" ", b"\n", b"null", b"true", b"0", b"-0", b"[]", b"[1,2]", b'"text"', b"{", b"}",
    b"{oops", b"{'a': 1}", b'{"a":1,}', b"{}garbage", b"NaN", b"-Infinity", b"\xff\xfe\xfd",
    b"\xef\xbb\xbf{}", b"\xc3\x28", b"\xed\xa0\x80", b'{"a": "\xed\xa0\x80"}', b"1" * 5000,
    b'{"a": ' + b"9" * 5000 + b"}", b'{"a": 1e999}', b"\x00", b'{"a":1}\x00', "{}".encode("utf-16"),
    "{}".encode("utf-32"), b"a=1&b=2", b"--zzz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1"
    b"\r\n--zzz--\r\n", b'{"a":1,"a":2}', b'{"\\ud800": 1}', b'{"a": "\\ud800"}', b'["\\udfff"]',
    b"<xml/>", nested(50), b'{"a": {"b": {"c": ' * 30 + b"1" + b"}}}" * 30,
)
# YAML only the catalog import reads.
YAML_BODIES = (
    b"a: &a [x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
    b"sites: !!python/object/apply:os.system ['true']\n", b"sites: !!binary aGVsbG8=\n",
    b"sites: [{code: BWI, name: !!binary aGVsbG8=}]\n", b"? [a, b]\n: 1\n", b"? {a: 1}\n: 1\n",
    b"null: 1\n1: 2\n", b"sites: .nan\n", b"version: 0x10\n", b"version: 1_000\n", b"\t- a\n",
    b"%YAML 1.1\n--- a\n--- b\n", b"sites: [&x {code: A}, *x, *x]\n", b"<<: {sites: []}\n",
    b"sites: [{<<: {code: BWI}, name: X}]\n", b"a: *undefined\n", b"a: !!set {x, y}\n",
    b"sites: [{code: 2024-01-01}]\n", b"version: !!float 1\n", b"---\n...\n",
    b"- " * 2000 + b"a\n", b"[" * DEEP + b"]" * DEEP, b"{a: " * DEEP + b"1" + b"}" * DEEP,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


@st.composite
def mutated(draw, base, max_mutations=3):
    """``base`` with one to three fields (at any depth) replaced, removed or added."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(list(_paths(document))))
        operation = draw(st.sampled_from(("replace", "replace", "remove", "add")))
        if not path:
            if operation == "replace":
                document = draw(wrong_values)
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if operation == "replace":
            parent[last] = draw(wrong_values)
        elif operation == "remove":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(odd_text)] = draw(wrong_values)
        elif isinstance(parent[last], list):
            parent[last].append(draw(wrong_values))
        else:
            parent[last] = [parent[last], draw(wrong_values)]
    return document


def with_deep_field(base, depth=DEEP):
    """The valid body with its first field replaced by ``depth`` nested arrays."""
    first = next(iter(base), "a")
    text = json.dumps({**base, first: "@@DEEP@@"})
    return text.replace('"@@DEEP@@"', "[" * depth + "]" * depth).encode()


@st.composite
def hostile_bodies(draw, route):
    """``(bytes, content type)``: a mutated valid body, any JSON value, or raw bytes."""
    kind = draw(st.sampled_from(("mutated", "mutated", "json", "raw", "text")
                                + (("yaml",) if route.document else ())))
    if kind == "mutated":
        value = draw(mutated(route.body))
        if route.document and draw(st.booleans()):
            raw = yaml.safe_dump(value, allow_unicode=True).encode("utf-8", "surrogatepass")
        else:
            raw = dumps(value, draw(st.sampled_from(("ascii", "utf8"))))
    elif kind == "json":
        raw = dumps(draw(json_values), draw(st.sampled_from(("ascii", "utf8"))))
    elif kind == "raw":
        raw = draw(st.sampled_from(RAW_BODIES) | st.binary(max_size=64))
    elif kind == "yaml":
        raw = draw(st.sampled_from(YAML_BODIES))
    else:
        raw = draw(odd_text).encode("utf-8", "surrogatepass")
    content_type = draw(st.sampled_from(("application/json",) * 3 + CONTENT_TYPES))
    return raw, content_type


@st.composite
def hostile_queries(draw, route):
    """A query string: known and odd keys, repeated keys, odd and very long values,
    already-encoded oddities."""
    keys = st.sampled_from(route.query or ("q",)) | odd_text
    values = odd_text | st.sampled_from(EDGE_VALUES) | st.integers(500, 3000).map(lambda n: "A" * n)
    pairs = draw(st.lists(st.tuples(keys, values), max_size=6))
    pieces = [f"{quote(k)}={quote(v)}" for k, v in pairs]
    pieces += draw(st.lists(st.sampled_from(RAW_QUERY_PIECES), max_size=2))
    pieces = draw(st.permutations(pieces))
    query = "&".join(pieces)
    return query[:MAX_URL_CHARS - 200]


path_values = (
    odd_text.filter(bool)
    | st.sampled_from(EDGE_VALUES).filter(bool)
    | st.text(odd_characters, min_size=1, max_size=400)
)


@st.composite
def hostile_path(draw, route):
    """One path parameter replaced by something odd (URL-encoded)."""
    name = draw(st.sampled_from(sorted(route.params)))
    value = draw(path_values)
    while len(quote(value)) > MAX_URL_CHARS - 200:
        value = value[: len(value) // 2]
    return {name: value}
