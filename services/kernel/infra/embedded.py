"""Make the embedded store (mongomock) answer the queries Antre makes at a cost close
to what their indexes give on MongoDB, without changing a single answer.

mongomock answers every query by testing each document of the collection with its
general filter interpreter (about 10 µs a document), and a sorted query with a limit
copies and sorts every match before it keeps the first. That made each request cost as
much as its collection is large. Three patches, each a faster path to the same answer:

* a filter on ``_id`` takes its one candidate from the store's dictionary;
* a filter of plain fields (equality, ``$in``, ``$nin``, ``$ne``, ``$lt``/``$lte``/
  ``$gt``/``$gte``, ``$exists``) is decided natively for each document whose values are
  plain scalars of the filter's types; any other document, and any other filter, goes
  through mongomock's own interpreter;
* a query sorted on one plain field with a limit keeps the first matches with a heap and
  copies only those (when every match has a number, or every match a string, there);
* an update that changes none of the fields of a unique index skips mongomock's check
  of that index (which reads the whole collection): it cannot break what it leaves alone;
* ``bulk_write`` (which mongomock cannot run with this pymongo) runs its operations one
  by one through the collection's own methods, and reports as pymongo does: a
  ``BulkWriteResult``, or a ``BulkWriteError`` whose ``writeErrors`` name each failed
  operation's index (an ordered bulk stops at the first).

``tests/unit/kernel/test_embedded.py`` checks the answers against mongomock's own on
random documents and filters. Applied once, when the first embedded client is made.
"""

import heapq
import threading
from datetime import datetime

from services.kernel.infra.embedded_indexes import Indexes

_ID_TYPES = (str, int, bytes)
_MISSING = object()
_RANGE = {"$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
          "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b}
_OPERATORS = {"$in", "$nin", "$ne", "$exists", *_RANGE}
UNDECIDED = None
_updating = threading.local()  # the fields the update in progress changes (green-local)


def _kind(value):
    """The comparison class of a plain value, or None when it is not plain."""
    if value is _MISSING or value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind in (int, float):
        return "number"
    if kind is str:
        return "string"
    if kind is datetime:
        return "date-aware" if value.tzinfo is not None else "date-naive"
    return None


def _equal(value, target):
    """True/False, or UNDECIDED when the two are not plain values of one class."""
    if target is None:
        if value is _MISSING or value is None:
            return True
        return False if _kind(value) else UNDECIDED  # an array may hold a null
    if value is _MISSING or value is None:
        return False if _kind(target) else UNDECIDED
    kind = _kind(value)
    if kind is None or kind != _kind(target):
        return UNDECIDED
    return value == target


def _condition(field, spec):
    """A function ``document -> True | False | UNDECIDED`` for one field's condition,
    or None when the condition is not one this module decides."""
    if isinstance(spec, dict):
        if not spec or not set(spec) <= _OPERATORS:
            return None
        parts = [_operator(field, op, arg) for op, arg in spec.items()]
        if any(part is None for part in parts):
            return None
        return _all(parts)
    if isinstance(spec, (list, dict)) or (spec is not None and _kind(spec) is None):
        return None
    if type(spec) is str:  # the common case first: a string equal to a string
        def equal_string(doc):
            value = doc.get(field, _MISSING)
            return value == spec if type(value) is str else _equal(value, spec)
        return equal_string
    return lambda doc: _equal(doc.get(field, _MISSING), spec)


def _operator(field, op, arg):
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple)) or any(
                isinstance(a, (list, dict)) or (a is not None and _kind(a) is None) for a in arg):
            return None

        strings = frozenset(arg) if all(type(a) is str for a in arg) else None

        def inside(doc):
            value = doc.get(field, _MISSING)
            if strings is not None and type(value) is str:
                return value in strings
            undecided = False
            for candidate in arg:
                same = _equal(value, candidate)
                if same:
                    return True
                undecided = undecided or same is UNDECIDED
            return UNDECIDED if undecided else False

        return inside if op == "$in" else _negate(inside)
    if op == "$ne":
        if isinstance(arg, (list, dict)) or (arg is not None and _kind(arg) is None):
            return None
        return _negate(lambda doc: _equal(doc.get(field, _MISSING), arg))
    if op == "$exists":
        if type(arg) is not bool:
            return None
        return lambda doc: (field in doc) is arg
    if op in _RANGE:
        kind = _kind(arg)
        if kind in (None, "null", "bool"):
            return None
        compare = _RANGE[op]

        def in_range(doc):
            value = doc.get(field, _MISSING)
            if _kind(value) != kind:
                return UNDECIDED
            return compare(value, arg)

        return in_range
    return None


def _negate(condition):
    def negated(doc):
        result = condition(doc)
        return UNDECIDED if result is UNDECIDED else not result
    return negated


def _all(conditions):
    def every(doc):
        undecided = False
        for condition in conditions:
            result = condition(doc)
            if result is False:
                return False
            undecided = undecided or result is UNDECIDED
        return UNDECIDED if undecided else True
    return every


def compile_filter(query):
    """``document -> True | False | UNDECIDED`` for ``query``, or None when the query
    has a part this module does not decide (then mongomock interprets all of it)."""
    if not isinstance(query, dict) or not query:
        return None
    conditions = []
    for field, spec in query.items():
        if not isinstance(field, str) or field.startswith("$") or "." in field:
            return None
        condition = _condition(field, spec)
        if condition is None:
            return None
        conditions.append(condition)
    return _all(conditions)


def _indexes(store):
    """The ordered indexes of a collection store (made with it)."""
    indexes = store.__dict__.get("_antre_indexes")
    if indexes is None:
        indexes = store.__dict__["_antre_indexes"] = Indexes()
    return indexes


def _index_fields(index_dict):
    """The fields of a declared index that can be kept ordered, or None (``_id``,
    text, hashed or geo indexes)."""
    keys = index_dict.get("key") or []
    if not keys or any(type(d) is not int or d not in (1, -1) for _f, d in keys):
        return None
    fields = [field for field, _d in keys]
    return None if fields == ["_id"] else fields


def _install_store_hooks(CollectionStore):
    set_item, del_item = CollectionStore.__setitem__, CollectionStore.__delitem__
    drop, create_index = CollectionStore.drop, CollectionStore.create_index
    drop_index = CollectionStore.drop_index

    def __setitem__(self, key, document):
        set_item(self, key, document)
        _indexes(self).put(key, document)

    def __delitem__(self, key):
        del_item(self, key)
        _indexes(self).remove(key)

    def _drop(self):
        drop(self)
        _indexes(self).clear()

    def _create_index(self, name, index_dict):
        create_index(self, name, index_dict)
        fields = _index_fields(index_dict)
        if fields is not None:
            _indexes(self).declare(name, fields, list(self._documents.items()),
                                   sparse=bool(index_dict.get("sparse")))

    def _drop_index(self, name):
        drop_index(self, name)
        _indexes(self).forget(name)

    CollectionStore.__setitem__, CollectionStore.__delitem__ = __setitem__, __delitem__
    CollectionStore.drop, CollectionStore.create_index = _drop, _create_index
    CollectionStore.drop_index = _drop_index


def _store_key(document):
    from mongomock import helpers

    key = document.get("_id")
    return helpers.hashdict(key) if isinstance(key, dict) else key


def _reindex(store, keys):
    """Put documents changed in place (by an update) at their new place in the indexes."""
    indexes = _indexes(store)
    for key in keys:
        document = store._documents.get(key)
        if document is None:
            indexes.remove(key)
        else:
            indexes.put(key, document)


def apply():
    """Install the faster paths into mongomock (idempotent)."""
    from mongomock import filtering, helpers
    from mongomock.collection import Collection, Cursor
    from mongomock.store import CollectionStore

    if getattr(Collection, "_antre_faster", False):
        return
    _install_store_hooks(CollectionStore)
    scan = Collection._iter_documents
    compute_results = Cursor._compute_results

    def _matching(query):
        decide = compile_filter(query)
        if decide is None:
            return lambda doc: filtering.filter_applies(query, doc)

        def matches(doc):
            result = decide(doc)
            return filtering.filter_applies(query, doc) if result is UNDECIDED else result
        return matches

    def _recorded(documents):
        touched = getattr(_updating, "touched", None)
        if touched is None:
            return documents
        documents = list(documents)
        touched.extend(_store_key(doc) for doc in documents)
        return iter(documents)

    def _iter_documents(self, query):
        return _recorded(_find(self, query))

    def _find(self, query):
        key = query.get("_id") if isinstance(query, dict) else None
        if key is not None and _plain_id(key):
            try:
                document = self._store[key]
            except KeyError:
                return iter(())
            return iter([document] if filtering.filter_applies(query, document) else [])
        keys = key.get("$in") if isinstance(key, dict) and len(key) == 1 else None
        if isinstance(keys, list | tuple) and all(_plain_id(k) for k in keys):
            store = self._store
            found = (store[k] for k in dict.fromkeys(keys) if k in store)
            return iter([doc for doc in found if filtering.filter_applies(query, doc)])
        if query == {} and not self._store.is_empty:
            return iter(list(self._store.documents))  # the empty filter matches everything
        if isinstance(query, dict) and query and not self._store._ttl_indexes:
            keys = _indexes(self._store).candidates(query)
            if keys is not None:  # an index chose the documents to look at
                documents = self._store._documents
                matches = _matching(query)
                return iter([doc for doc in (documents[k] for k in keys) if matches(doc)])
        decide = compile_filter(query)
        if decide is None or self._store.is_empty:
            return scan(self, query)
        return _decided(decide, query, list(self._store.documents), filtering)

    def _compute(self, with_limit_and_skip=False):
        sort, limit = self._sort, self._limit
        if not (with_limit_and_skip and limit and limit > 0 and sort and len(sort) == 1):
            return compute_results(self, with_limit_and_skip)
        cached = getattr(self, "_antre_top", None)
        if cached is not None and cached[0] == (self._factory, self._skip, limit):
            return cached[1]
        field, direction = sort[0]
        top = _walked(self.collection, self._spec, field, direction, (self._skip or 0) + limit)
        if top is None:
            top = _first(self.collection._iter_documents(self._spec), field, direction,
                         (self._skip or 0) + limit)
        if top is None:
            return compute_results(self, with_limit_and_skip)
        results = [self.collection._copy_only_fields(doc, self._projection, dict) for doc in top]
        if self.collection.codec_options.tz_aware:
            results = [helpers.make_datetime_timezone_aware_in_document(x) for x in results]
        results = results[self._skip or 0:]
        self._antre_top = ((self._factory, self._skip, limit), results)
        return results

    update = Collection._update
    ensure_uniques = Collection._ensure_uniques

    def _update(self, spec, document, upsert=False, *args, **kwargs):
        # mongomock changes the matched documents in place: the ones it read are put at
        # their new place in the ordered indexes afterwards.
        outer = getattr(_updating, "touched", None)
        _updating.fields = None if upsert else changed_fields(document)
        _updating.touched = touched = []
        try:
            return update(self, spec, document, upsert, *args, **kwargs)
        finally:
            _updating.fields = None
            _updating.touched = outer
            _reindex(self._store, dict.fromkeys(touched))
            if outer is not None:
                outer.extend(touched)

    def _ensure_uniques(self, new_data):
        changed = getattr(_updating, "fields", None)
        if changed is not None and not any(
                key.split(".")[0] in changed
                for index in self._store.indexes.values() if index.get("unique")
                for key, _direction in index.get("key")):
            return  # no unique index's field changed: nothing new to collide
        key = _store_key(new_data)  # changed in place just now: its index entries first
        if key in self._store._documents:
            _reindex(self._store, [key])
        return ensure_uniques(self, new_data)

    def _walked(collection, query, field, direction, count):
        """The first ``count`` matches of ``query`` in the order of ``field``, walked
        on an ordered index (in the store's order among equal values, as a stable sort
        gives them), or None when no index can be walked so."""
        store = collection._store
        if not isinstance(query, dict) or not query or store._ttl_indexes or \
                not isinstance(field, str) or "_id" in query:
            return None
        indexes = _indexes(store)
        walk = None
        for index in sorted(indexes.indexes.values(), key=lambda i: -len(i.fields)):
            plan = index.plan(query)
            walk = plan and index.walk(plan, field, direction < 0)
            if walk is not None:
                break
        if walk is None:
            return None
        matches, documents = _matching(query), store._documents
        found, last = [], None
        for entry in walk:
            value = entry[plan[2]][1]
            if len(found) >= count and value != last:
                break  # enough, and no more equal to the last one kept
            document = documents[indexes.key_at[entry[-1]]]
            if matches(document):
                found.append((value, entry[-1], document))
                last = value
        found.sort(key=lambda f: f[1])  # the store's order ...
        found.sort(key=lambda f: f[0], reverse=direction < 0)  # ... among equal values
        return [document for _v, _s, document in found[:count]]

    Collection._iter_documents = _iter_documents
    Cursor._compute_results = _compute
    Collection._update = _update
    Collection._ensure_uniques = _ensure_uniques
    Collection.bulk_write = bulk_write
    Collection._antre_faster = True


def _plain_id(key):
    return type(key) in _ID_TYPES or type(key).__name__ == "ObjectId"


def bulk_write(collection, requests, ordered=True, **_options):
    """pymongo's ``bulk_write`` for the operations Antre uses (insert, update, replace
    and delete of one or many), run one by one on ``collection``."""
    from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
    from pymongo.errors import BulkWriteError, DuplicateKeyError
    from pymongo.results import BulkWriteResult

    totals = {"writeErrors": [], "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0,
              "nMatched": 0, "nModified": 0, "nRemoved": 0, "upserted": []}
    for index, request in enumerate(requests):
        try:
            if isinstance(request, InsertOne):
                collection.insert_one(request._doc)
                totals["nInserted"] += 1
                continue
            if isinstance(request, DeleteOne | DeleteMany):
                delete = collection.delete_one if isinstance(request, DeleteOne) \
                    else collection.delete_many
                totals["nRemoved"] += delete(request._filter).deleted_count
                continue
            if isinstance(request, ReplaceOne):
                result = collection.replace_one(request._filter, request._doc,
                                                upsert=request._upsert)
            elif isinstance(request, UpdateOne | UpdateMany):
                update = collection.update_one if isinstance(request, UpdateOne) \
                    else collection.update_many
                result = update(request._filter, request._doc, upsert=request._upsert)
            else:
                raise TypeError(f"the embedded store's bulk_write cannot run {request!r}")
        except DuplicateKeyError as exc:
            totals["writeErrors"].append({"index": index, "code": 11000, "errmsg": str(exc),
                                          "op": getattr(request, "_doc", None)})
            if ordered:
                break
            continue
        totals["nMatched"] += result.matched_count
        totals["nModified"] += result.modified_count
        if result.upserted_id is not None:
            totals["nUpserted"] += 1
            totals["upserted"].append({"index": index, "_id": result.upserted_id})
    if totals["writeErrors"]:
        raise BulkWriteError(totals)
    return BulkWriteResult(totals, True)


def changed_fields(update):
    """The top-level fields an update document changes, or None (a replacement, or an
    operator this module does not know: every field may change)."""
    if not isinstance(update, dict) or not update:
        return None
    fields = set()
    for operator, arguments in update.items():
        if operator not in ("$set", "$unset", "$inc", "$push", "$pull", "$addToSet", "$pop",
                            "$min", "$max", "$mul", "$rename", "$currentDate", "$pullAll"):
            return None
        if not isinstance(arguments, dict):
            return None
        for path in arguments:
            fields.add(str(path).split(".")[0])
        if operator == "$rename":
            fields.update(str(target).split(".")[0] for target in arguments.values())
    return fields


def _decided(decide, query, documents, filtering):
    for document in documents:
        result = decide(document)
        if result is UNDECIDED:
            result = filtering.filter_applies(query, document)
        if result:
            yield document


def _first(documents, field, direction, count):
    """The first ``count`` of ``documents`` in the order of ``field``, as a stable sort
    gives them, or None when their values there are not all numbers or all strings."""
    if not isinstance(field, str) or field.startswith("$") or "." in field:
        return None
    documents = list(documents)
    kinds = {_kind(doc.get(field, _MISSING)) for doc in documents}
    if len(kinds) > 1 or kinds - {"number", "string"}:
        return None

    def key(doc):
        return doc[field]

    pick = heapq.nsmallest if direction >= 0 else heapq.nlargest
    return pick(count, documents, key=key)
