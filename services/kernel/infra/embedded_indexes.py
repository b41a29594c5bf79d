"""Ordered indexes for the embedded store, so that its queries cost what an index gives.

mongomock keeps the indexes a collection declares only as names (for unique checks);
every query reads every document. Here each declared index of a collection is also kept
as a sorted list of ``(key, document)`` entries, updated on every write, and a query
whose filter fixes the index's leading fields (equality, ``$in``) and perhaps bounds the
next one (``$lt``, ``$lte``, ``$gt``, ``$gte``, ``$ne: null``) reads only the entries in
those ranges. A query sorted on the field after the fixed ones, with a limit, walks the
entries in order and stops once it has enough. A sparse index holds only the documents
that have one of its fields, and serves only a query that no document without its first
field can match (``$exists: true``, a non-null value, a range), as MongoDB's does.

Every answer is still decided by the full filter on each candidate document, in the
store's own order: an index only chooses which documents are looked at, so it may
return more candidates than match but never fewer. A document whose value in an
index's field is not a plain scalar (an array, a sub-document, binary data, ...) is
a candidate of every query on that index.

Values are ordered by kind first (null and missing, numbers, strings, object ids,
booleans, dates), as MongoDB orders BSON types, then by value.
"""

import heapq
import itertools
from bisect import bisect_left, bisect_right, insort
from datetime import UTC, datetime

MAX_PREFIXES = 64  # more combinations of $in values than this: no plan


class _Top:
    """Greater than every key part."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True

    def __le__(self, other):
        return self is other

    def __ge__(self, other):
        return True

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__


TOP = _Top()
NULL = (1, 0)
_LOOSE = object()


def encode(value):
    """The ordered key part of a plain value, or ``_LOOSE`` when it has none."""
    kind = type(value)
    if value is None:
        return NULL
    if kind is str:
        return (3, value)
    if kind is bool:
        return (8, value)
    if kind in (int, float):
        return (2, value) if value == value else _LOOSE  # NaN orders like nothing else
    if kind is datetime:  # (mongomock stores and queries dates as naive UTC)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (9, value)
    if kind.__name__ == "ObjectId":
        return (7, value)
    return _LOOSE


def value_at(document, path):
    """The value at a dotted ``path`` (None when missing), or ``_LOOSE`` when something
    other than a sub-document is on the way."""
    value = document
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(value, dict):
            # Missing on the way: null. Anything else on the way (an array, a number):
            # the filters disagree on it, so it is a candidate of every query.
            return _LOOSE if depth else value
        if part not in value:
            return None
        value = value[part]
    return value


class OrderedIndex:
    def __init__(self, fields, sparse=False):
        self.fields = tuple(fields)
        self.sparse = sparse
        self.entries = []  # (key parts..., sequence) sorted
        self.key_of = {}  # store key -> its entry
        self.loose = set()  # store keys of documents with a value that has no order

    def entry(self, document, sequence):
        """The document's entry, ``_LOOSE`` when it has no order here, or None when a
        sparse index leaves it out."""
        if self.sparse and not any(has_path(document, field) for field in self.fields):
            return None
        parts = []
        for field in self.fields:
            part = encode(value_at(document, field))
            if part is _LOOSE:
                return _LOOSE
            parts.append(part)
        parts.append(sequence)
        return tuple(parts)

    def put(self, key, document, sequence):
        entry = self.entry(document, sequence)
        if entry is not None and entry is not _LOOSE and self.key_of.get(key) == entry:
            return  # its key here did not change
        self.remove(key)
        if entry is None:
            return  # not in this sparse index
        if entry is _LOOSE:
            self.loose.add(key)
            return
        self.key_of[key] = entry
        insort(self.entries, entry)

    def remove(self, key):
        self.loose.discard(key)
        entry = self.key_of.pop(key, None)
        if entry is not None:
            index = bisect_left(self.entries, entry)
            del self.entries[index]

    # -- planning -----------------------------------------------------------------------

    def plan(self, query):
        """``(prefixes, bound, fixed)`` for ``query``, or None when the query fixes no
        leading field: the key prefixes to read, a ``(low, high)`` range of the field
        after them (or None), and how many leading fields the prefixes fix. A sparse
        index gives no plan for a query that a document without its first field could
        match: that document is not here."""
        if self.sparse and not _excludes_missing(query.get(self.fields[0], _LOOSE)):
            return None
        choices = []
        for field in self.fields:
            values = _fixed_values(query.get(field, _LOOSE))
            if values is None:
                break
            choices.append(values)
        bound = None
        if len(choices) < len(self.fields):
            bound = _bound(query.get(self.fields[len(choices)], _LOOSE))
        if not choices and bound is None:
            return None
        count = 1
        for values in choices:
            count *= len(values)
        if count > MAX_PREFIXES:
            return None
        prefixes = [tuple(p) for p in itertools.product(*choices)]
        return prefixes, bound, len(choices)

    def ranges(self, plan):
        prefixes, bound, _fixed = plan
        entries = self.entries
        for prefix in prefixes:
            if bound is None:
                low, high = prefix, prefix + (TOP,)
            else:
                low, high = prefix + (bound[0],), prefix + (bound[1], TOP)
            yield bisect_left(entries, low), bisect_right(entries, high)

    def candidates(self, plan):
        """The sequence numbers of the documents in the plan's ranges (the loose ones
        are the caller's to add)."""
        entries = self.entries
        return [entries[i][-1] for start, stop in self.ranges(plan) for i in range(start, stop)]

    def walk(self, plan, field, descending):
        """The entries of the plan's ranges in the order of ``field`` (the field after
        the fixed ones), or None when that order cannot be walked: the field is not
        next, a range bounds it, or its values in a range are not all numbers or all
        strings (the one orders a sort and this index agree on)."""
        prefixes, bound, fixed = plan
        if bound is not None or fixed >= len(self.fields) or self.fields[fixed] != field:
            return None
        if self.loose:
            return None  # documents without an order here could sort anywhere
        slices, kinds = [], set()
        for start, stop in self.ranges(plan):
            if start == stop:
                continue
            first, last = self.entries[start][fixed][0], self.entries[stop - 1][fixed][0]
            kinds.update((first, last))
            if first != last or first not in (2, 3) or len(kinds) > 1:
                return None
            part = self.entries[start:stop]
            slices.append(part[::-1] if descending else part)

        def order(entry):
            return entry[fixed][1]

        return heapq.merge(*slices, key=order, reverse=descending)


def has_path(document, path):
    """Whether the dotted ``path`` may lead to a value (null included) in ``document``:
    False only when a sub-document on the way lacks the next part. An array on the way
    may hold the field in its elements (MongoDB's multikey paths): True, and the entry
    is then loose."""
    value = document
    for depth, part in enumerate(path.split(".")):
        if not isinstance(value, dict):
            return depth > 0 and isinstance(value, list)
        if part not in value:
            return False
        value = value[part]
    return True


def _excludes_missing(spec):
    """Whether no document without the field can satisfy the condition ``spec``."""
    if spec is _LOOSE:
        return False
    if isinstance(spec, dict):
        if spec.get("$exists") is True:
            return True
        if "$eq" in spec or "$in" in spec:
            values = [spec["$eq"]] if "$eq" in spec else spec["$in"]
            return isinstance(values, list | tuple) and None not in values
        return bool(set(spec) & (_LOW | _HIGH)) or spec.get("$ne", _LOOSE) is None
    return spec is not None


def _fixed_values(spec):
    """The key parts a condition fixes a field to (equality or ``$in``), or None."""
    if spec is _LOOSE:
        return None
    if isinstance(spec, dict):
        if set(spec) == {"$eq"}:
            spec = spec["$eq"]
        elif set(spec) == {"$in"} and isinstance(spec["$in"], list | tuple):
            parts = {encode(v) for v in spec["$in"]}
            return None if _LOOSE in parts else _with_look_alikes(parts)
        else:
            return None
    part = encode(spec)
    return None if part is _LOOSE else _with_look_alikes({part})


def _with_look_alikes(parts):
    """``parts``, and for 0 and 1 also false and true (and the other way round): the
    embedded store's filter takes them as equal (MongoDB does not; the filter decides,
    an index only has to offer both)."""
    extra = set()
    for rank, value in parts:
        if rank == 2 and value in (0, 1):
            extra.add((8, bool(value)))
        elif rank == 8:
            extra.add((2, int(value)))
    return sorted(parts | extra)


_LOW = {"$gt", "$gte"}
_HIGH = {"$lt", "$lte"}


def _bound(spec):
    """A ``(low, high)`` range of key parts holding every value the condition accepts,
    or None when it gives none (a range stays within the kind of its bound)."""
    if not isinstance(spec, dict) or not spec:
        return None
    if spec == {"$ne": None}:
        return (1, TOP), TOP  # every kind after null
    if spec == {"$exists": True}:
        return (0,), TOP  # every kind, null included
    if not set(spec) <= _LOW | _HIGH:
        return None
    parts = {op: encode(value) for op, value in spec.items()}
    if _LOOSE in parts.values() or len({p[0] for p in parts.values()}) != 1:
        return None
    kind = next(iter(parts.values()))[0]
    low = max((parts[op] for op in _LOW if op in parts), default=(kind,))
    high = min((parts[op] for op in _HIGH if op in parts), default=(kind, TOP))
    return low, high


class Indexes:
    """The ordered indexes of one collection store, and the store's order."""

    def __init__(self):
        self.indexes = {}  # index name -> OrderedIndex
        self.sequence_of = {}  # store key -> insertion sequence (the store's own order)
        self.key_at = {}  # sequence -> store key
        self._next = itertools.count()

    def declare(self, name, fields, documents, sparse=False):
        index = OrderedIndex(fields, sparse)
        for key, document in documents:
            index.put(key, document, self._sequence(key))
        self.indexes[name] = index

    def forget(self, name):
        self.indexes.pop(name, None)

    def clear(self):
        self.indexes.clear()
        self.sequence_of.clear()
        self.key_at.clear()

    def _sequence(self, key):
        sequence = self.sequence_of.get(key)
        if sequence is None:
            sequence = self.sequence_of[key] = next(self._next)
            self.key_at[sequence] = key
        return sequence

    def put(self, key, document):
        if not self.indexes:
            self._sequence(key)
            return
        sequence = self._sequence(key)
        for index in self.indexes.values():
            index.put(key, document, sequence)

    def remove(self, key):
        for index in self.indexes.values():
            index.remove(key)
        sequence = self.sequence_of.pop(key, None)
        if sequence is not None:
            del self.key_at[sequence]

    def best_plan(self, query):
        """The index and plan that fix the most leading fields, or (None, None)."""
        best = (None, None, -1)
        for index in self.indexes.values():
            plan = index.plan(query)
            if plan is None:
                continue
            score = plan[2] * 2 + (plan[1] is not None)
            if score > best[2]:
                best = (index, plan, score)
        return best[0], best[1]

    def candidates(self, query):
        """The store keys of the documents a query may match, in the store's order, or
        None when no index serves it."""
        index, plan = self.best_plan(query)
        if index is None:
            return None
        sequences = index.candidates(plan)
        sequences.extend(self.sequence_of[key] for key in index.loose)
        sequences.sort()
        return [self.key_at[s] for s in sequences]
