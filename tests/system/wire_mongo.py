"""A small in-memory MongoDB server for system tests: mongomock behind the wire protocol.

The system test runs several service processes that talk to MongoDB through the real
pymongo driver, kills some of them and starts them again. Their data must outlive them,
so it cannot live in an in-process mongomock store: it lives here, in one
``mongomock.MongoClient()`` owned by this separate server process, which speaks enough of
the MongoDB wire protocol (OP_QUERY for the first handshake, OP_MSG for everything else)
for pymongo 4.x to use it as a standalone server::

    python -m tests.system.wire_mongo --port 27999 [--host 127.0.0.1]

It prints ``wire_mongo listening on HOST:PORT`` once it accepts connections (``--port 0``
picks a free port) and serves until SIGTERM or SIGINT, then exits 0.

This is a test double, not MongoDB. Queries, updates, indexes and aggregation behave as
mongomock makes them behave, which is close to MongoDB for the common cases and differs
in the corners (no transactions, no change streams, no authentication, no compression,
no pipeline updates, no collation, one global lock instead of document-level
concurrency). Nothing is written to disk: the data lives as long as this process.
"""

import argparse
import itertools
import logging
import os
import random
import re
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import bson
import mongomock
from bson.errors import BSONError
from bson.regex import Regex
from mongomock.filtering import filter_applies
from pymongo.errors import CollectionInvalid, OperationFailure

log = logging.getLogger("wire_mongo")

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(rb"wire_mongo listening on ([0-9.]+):(\d+)\n")

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
OP_REPLY_PREFIX = struct.Struct("<iqii")  # responseFlags, cursorID, startingFrom, numberReturned
INT32 = struct.Struct("<i")
UINT32 = struct.Struct("<I")

CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
QUERY_FAILURE = 1 << 1  # OP_REPLY responseFlags bit

MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
DEFAULT_BATCH_SIZE = 101
BATCH_BYTES = MAX_BSON_SIZE - 64 * 1024  # a cursor batch must fit one reply document
CURSOR_IDLE_SECONDS = 600  # MongoDB's default cursor timeout

# Requests are decoded with naive UTC datetimes, which is what mongomock expects; replies
# are encoded with the default options (a naive datetime is written as UTC).
DECODE_OPTIONS = bson.CodecOptions(tz_aware=False)

CODE_NAMES = {
    1: "InternalError",
    2: "BadValue",
    9: "FailedToParse",
    14: "TypeMismatch",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    43: "CursorNotFound",
    48: "NamespaceExists",
    59: "CommandNotFound",
    85: "IndexOptionsConflict",
    238: "NotImplemented",
    11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure to be answered as ``{ok: 0, code, codeName, errmsg}``."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class ProtocolError(Exception):
    """A message this server cannot parse; the connection is closed."""


def compile_regexes(value):
    """``value`` with every ``bson.regex.Regex`` inside it replaced by a compiled ``re`` pattern."""
    if isinstance(value, Regex):
        return value.try_compile()
    if isinstance(value, dict):
        return {key: compile_regexes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compile_regexes(item) for item in value]
    return value


def sort_spec(sort):
    """A MongoDB sort document as the list of (field, direction) pairs mongomock takes."""
    return list(sort.items()) if sort else None


def is_replacement(update):
    """True for a replacement document, False for an update made of ``$`` operators."""
    return not any(key.startswith("$") for key in update)


def error_code(exc, default):
    """The MongoDB error code carried by ``exc``, or ``default``."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and code else default


class Cursor:
    """The rest of a materialised result, handed out by ``getMore`` batches."""

    def __init__(self, ns, documents):
        self.ns = ns
        self.documents = documents
        self.position = 0
        self.touched = time.monotonic()


class MongomockBackend:
    """Executes decoded commands against one mongomock store, under one global lock.

    Each ``cmd_*`` method takes the database name and the command body and returns the
    reply document without ``ok`` (added by :meth:`execute`), or raises.
    """

    def __init__(self):
        from services.kernel.infra import embedded

        embedded.apply()  # the same faster paths as the in-process embedded store
        self.client = mongomock.MongoClient()
        self.lock = threading.Lock()
        self.cursors = {}
        self.commands = {
            "hello": self.cmd_hello,
            "isMaster": self.cmd_hello,
            "ismaster": self.cmd_hello,
            "ping": self.cmd_ok,
            "endSessions": self.cmd_ok,
            "getParameter": self.cmd_ok,
            "getCmdLineOpts": self.cmd_get_cmd_line_opts,
            "buildInfo": self.cmd_build_info,
            "buildinfo": self.cmd_build_info,
            "killCursors": self.cmd_kill_cursors,
            "insert": self.cmd_insert,
            "update": self.cmd_update,
            "delete": self.cmd_delete,
            "find": self.cmd_find,
            "getMore": self.cmd_get_more,
            "findAndModify": self.cmd_find_and_modify,
            "findandmodify": self.cmd_find_and_modify,
            "aggregate": self.cmd_aggregate,
            "count": self.cmd_count,
            "distinct": self.cmd_distinct,
            "createIndexes": self.cmd_create_indexes,
            "listIndexes": self.cmd_list_indexes,
            "dropIndexes": self.cmd_drop_indexes,
            "create": self.cmd_create,
            "drop": self.cmd_drop,
            "renameCollection": self.cmd_rename_collection,
            "dropDatabase": self.cmd_drop_database,
            "listCollections": self.cmd_list_collections,
            "listDatabases": self.cmd_list_databases,
        }

    # -- dispatch ---------------------------------------------------------------------

    def execute(self, db_name, body, connection_id):
        """Run one command; always returns a reply document, never raises."""
        if not body:
            return self._failure(CommandError(9, "empty command document"))
        name = next(iter(body))
        handler = self.commands.get(name)
        if handler is None:
            return self._failure(CommandError(59, f"no such command: '{name}'"))
        try:
            with self.lock:
                reply = handler(db_name, body, connection_id)
        except Exception as exc:  # every failure becomes an {ok: 0} reply, never a dropped connection
            return self._failure(exc, name)
        reply["ok"] = 1.0
        return reply

    def _failure(self, exc, command=None):
        """The ``{ok: 0}`` reply for ``exc``; unexpected errors are logged with their traceback."""
        if isinstance(exc, CommandError | OperationFailure):
            code = error_code(exc, 1)
        elif isinstance(exc, CollectionInvalid):
            code = 48
        elif isinstance(exc, NotImplementedError):
            code = 238
        else:
            code = 1
        if code == 1 or code == 238:
            log.warning("command %s failed: %r", command, exc, exc_info=code == 1)
        reply = {"ok": 0.0, "errmsg": str(exc) or type(exc).__name__, "code": code}
        if code in CODE_NAMES:
            reply["codeName"] = CODE_NAMES[code]
        return reply

    def _collection(self, db_name, body, key):
        name = body[key]
        if not isinstance(name, str) or not name:
            raise CommandError(14, f"collection name must be a non-empty string, not {name!r}")
        return self.client[db_name][name]

    def _exists(self, db_name, collection_name):
        return collection_name in self.client[db_name].list_collection_names()

    # -- handshake and administration ----------------------------------------------------

    def cmd_hello(self, db_name, body, connection_id):
        # No topologyVersion: pymongo then polls with hello instead of streaming (awaitable hello).
        # No compression and no saslSupportedMechs: neither is offered.
        return {
            "ismaster": True,
            "isWritablePrimary": True,
            "helloOk": True,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": datetime.now(UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": connection_id,
            "minWireVersion": 0,
            "maxWireVersion": 17,
            "readOnly": False,
        }

    def cmd_ok(self, db_name, body, connection_id):
        return {}

    def cmd_get_cmd_line_opts(self, db_name, body, connection_id):
        return {"argv": ["wire_mongo"], "parsed": {}}

    def cmd_build_info(self, db_name, body, connection_id):
        return {
            "version": "6.0.0-wire-mongomock",
            "versionArray": [6, 0, 0, 0],
            "gitVersion": "wire-mongomock",
            "bits": 64,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "mongomockVersion": mongomock.__version__,
        }

    # -- cursors -----------------------------------------------------------------------

    def _cursor_reply(self, ns, documents, batch_size=None, single_batch=False):
        """The first batch of ``documents``; the rest is kept under a new cursor id."""
        self._forget_idle_cursors()
        cursor = Cursor(ns, documents)
        first = self._next_batch(cursor, batch_size or DEFAULT_BATCH_SIZE)
        cursor_id = 0
        if cursor.position < len(documents) and not single_batch:
            cursor_id = self._new_cursor_id()
            self.cursors[cursor_id] = cursor
        return {"cursor": {"id": bson.Int64(cursor_id), "ns": ns, "firstBatch": first}}

    def _new_cursor_id(self):
        while True:
            cursor_id = random.randint(1, 2**63 - 1)
            if cursor_id not in self.cursors:
                return cursor_id

    @staticmethod
    def _next_batch(cursor, batch_size):
        """Up to ``batch_size`` documents (0: all), and never more than fits one reply."""
        end = len(cursor.documents) if not batch_size else min(len(cursor.documents),
                                                                 cursor.position + batch_size)
        batch, size = [], 0
        while cursor.position < end:
            document = cursor.documents[cursor.position]
            size += len(bson.encode(document))
            if batch and size > BATCH_BYTES:
                break
            batch.append(document)
            cursor.position += 1
        cursor.touched = time.monotonic()
        return batch

    def _forget_idle_cursors(self):
        limit = time.monotonic() - CURSOR_IDLE_SECONDS
        for cursor_id in [key for key, cursor in self.cursors.items() if cursor.touched < limit]:
            del self.cursors[cursor_id]

    def cmd_get_more(self, db_name, body, connection_id):
        cursor_id = int(body["getMore"])
        cursor = self.cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = self._next_batch(cursor, int(body.get("batchSize") or 0))
        if cursor.position >= len(cursor.documents):
            del self.cursors[cursor_id]
            cursor_id = 0
        return {"cursor": {"id": bson.Int64(cursor_id), "ns": cursor.ns, "nextBatch": batch}}

    def cmd_kill_cursors(self, db_name, body, connection_id):
        killed, not_found = [], []
        for cursor_id in body.get("cursors") or []:
            if self.cursors.pop(int(cursor_id), None) is None:
                not_found.append(cursor_id)
            else:
                killed.append(cursor_id)
        return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [],
                "cursorsUnknown": []}

    # -- writes ------------------------------------------------------------------------

    @staticmethod
    def _write_error(index, exc):
        code = error_code(exc, 2)
        if not isinstance(exc, OperationFailure | CommandError):
            log.warning("write statement %d failed: %r", index, exc)
        return {"index": index, "code": code, "errmsg": str(exc) or type(exc).__name__}

    def _run_statements(self, body, statements, run_one):
        """Run ``run_one(index, statement)`` for each; an ordered batch stops at its first error."""
        ordered = body.get("ordered", True)
        errors = []
        for index, statement in enumerate(statements):
            try:
                run_one(index, statement)
            except Exception as exc:  # one failed statement is a write error, not a failed command
                errors.append(self._write_error(index, exc))
                if ordered:
                    break
        return errors

    @staticmethod
    def _write_reply(reply, errors):
        """A write command's reply: its counts, and ``writeErrors`` when there were any."""
        return {**reply, "writeErrors": errors} if errors else reply

    def cmd_insert(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "insert")
        inserted = 0

        def insert(index, document):
            nonlocal inserted
            collection.insert_one(document)
            inserted += 1

        errors = self._run_statements(body, body.get("documents") or [], insert)
        return self._write_reply({"n": inserted}, errors)

    def cmd_update(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "update")
        counts = {"n": 0, "nModified": 0}
        upserted = []

        def update(index, statement):
            query = compile_regexes(statement.get("q") or {})
            change = statement.get("u")
            upsert = bool(statement.get("upsert"))
            multi = bool(statement.get("multi"))
            if isinstance(change, list):
                raise CommandError(238, "wire_mongo (mongomock) does not support pipeline updates")
            if not isinstance(change, dict):
                raise CommandError(9, "the update 'u' must be a document")
            if is_replacement(change):
                if multi:
                    raise CommandError(9, "multi update is not supported for replacement-style update")
                result = collection.replace_one(query, change, upsert=upsert)
            else:
                method = collection.update_many if multi else collection.update_one
                result = method(query, change, upsert=upsert, array_filters=statement.get("arrayFilters"))
            raw = result.raw_result
            counts["n"] += raw.get("n", 0)
            counts["nModified"] += raw.get("nModified", 0)
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})

        errors = self._run_statements(body, body.get("updates") or [], update)
        return self._write_reply({**counts, **({"upserted": upserted} if upserted else {})}, errors)

    def cmd_delete(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "delete")
        deleted = 0

        def delete(index, statement):
            nonlocal deleted
            query = compile_regexes(statement.get("q") or {})
            limit = int(statement.get("limit") or 0)
            if limit not in (0, 1):
                raise CommandError(9, f"delete limit must be 0 or 1, not {limit}")
            result = collection.delete_one(query) if limit == 1 else collection.delete_many(query)
            deleted += result.deleted_count

        errors = self._run_statements(body, body.get("deletes") or [], delete)
        return self._write_reply({"n": deleted}, errors)

    def cmd_find_and_modify(self, db_name, body, connection_id):
        """findAndModify, composed of mongomock's find_one and update/replace/delete.

        This is what mongomock's own ``find_one_and_*`` methods do inside; done here step by
        step because those methods neither report whether they upserted (needed for
        ``lastErrorObject``) nor pass ``arrayFilters`` on. The global lock makes the steps
        one atomic operation.
        """
        collection = self._collection(db_name, body, next(iter(body)))
        query = compile_regexes(body.get("query") or {})
        sort = sort_spec(body.get("sort"))
        projection = body.get("fields") or None
        remove = bool(body.get("remove"))
        change = body.get("update")
        upsert = bool(body.get("upsert"))
        new = bool(body.get("new"))
        if remove and change is not None:
            raise CommandError(9, "Cannot specify both an update and remove=true")
        if not remove and change is None:
            raise CommandError(9, "Either an update or remove=true must be specified")
        if remove and (upsert or new):
            raise CommandError(9, "Cannot specify remove=true together with upsert=true or new=true")
        if isinstance(change, list):
            raise CommandError(238, "wire_mongo (mongomock) does not support pipeline updates")

        existing = collection.find_one(query, sort=sort)
        if existing is None and not upsert:
            last = {"n": 0} if remove else {"n": 0, "updatedExisting": False}
            return {"lastErrorObject": last, "value": None}
        before = None
        if existing is not None:
            by_id = {"_id": existing["_id"]}
            before = collection.find_one(by_id, projection)
        if remove:
            collection.delete_one(by_id)
            return {"lastErrorObject": {"n": 1}, "value": before}

        target = by_id if existing is not None else query
        if is_replacement(change):
            result = collection.replace_one(target, change, upsert=upsert)
        else:
            result = collection.update_one(target, change, upsert=upsert,
                                           array_filters=body.get("arrayFilters"))
        if existing is not None:
            last = {"n": 1, "updatedExisting": True}
            after_id = existing["_id"]
        else:
            last = {"n": 1, "updatedExisting": False, "upserted": result.upserted_id}
            after_id = result.upserted_id
        value = collection.find_one({"_id": after_id}, projection) if new else before
        return {"lastErrorObject": last, "value": value}

    # -- reads -------------------------------------------------------------------------

    def cmd_find(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "find")
        limit = int(body.get("limit") or 0)
        single_batch = bool(body.get("singleBatch"))
        if limit < 0:
            limit, single_batch = -limit, True
        documents = list(collection.find(
            compile_regexes(body.get("filter") or {}),
            projection=body.get("projection") or None,
            skip=int(body.get("skip") or 0),
            limit=limit,
            sort=sort_spec(body.get("sort")),
        ))
        batch_size = int(body.get("batchSize") or 0) or None
        if limit and single_batch:
            batch_size = limit
        return self._cursor_reply(f"{db_name}.{collection.name}", documents, batch_size, single_batch)

    def cmd_aggregate(self, db_name, body, connection_id):
        if not isinstance(body["aggregate"], str):
            raise CommandError(238, "wire_mongo supports collection aggregates only, not {aggregate: 1}")
        collection = self._collection(db_name, body, "aggregate")
        pipeline = compile_regexes(body.get("pipeline") or [])
        documents = list(collection.aggregate(pipeline))
        batch_size = int((body.get("cursor") or {}).get("batchSize") or 0) or None
        return self._cursor_reply(f"{db_name}.{collection.name}", documents, batch_size)

    def cmd_count(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "count")
        options = {"skip": int(body.get("skip") or 0)}
        limit = abs(int(body.get("limit") or 0))
        if limit:
            options["limit"] = limit
        return {"n": collection.count_documents(compile_regexes(body.get("query") or {}), **options)}

    def cmd_distinct(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "distinct")
        return {"values": collection.distinct(body["key"], compile_regexes(body.get("query") or {}))}

    # -- collections, indexes and databases -------------------------------------------

    def cmd_create_indexes(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "createIndexes")
        created = not self._exists(db_name, collection.name)
        if created:  # as in MongoDB, createIndexes creates the collection
            self.client[db_name].create_collection(collection.name)
        before = len(list(collection.list_indexes()))
        for spec in body.get("indexes") or []:
            options = {}
            for option in ("unique", "sparse", "expireAfterSeconds"):
                if option in spec:
                    options[option] = spec[option]
            if "partialFilterExpression" in spec:  # mongomock applies it to unique checks only
                options["partialFilterExpression"] = compile_regexes(spec["partialFilterExpression"])
            # Other options (collation, weights, 2dsphere settings, ...) are ignored: mongomock
            # neither uses indexes to answer queries nor knows these options.
            try:
                collection.create_index(list(spec["key"].items()), name=spec["name"], **options)
            except OperationFailure as exc:
                if exc.code:
                    raise
                raise CommandError(85, str(exc)) from exc
        after = len(list(collection.list_indexes()))
        return {"createdCollectionAutomatically": created, "numIndexesBefore": before,
                "numIndexesAfter": after}

    def cmd_list_indexes(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "listIndexes")
        if not self._exists(db_name, collection.name):
            raise CommandError(26, f"ns does not exist: {db_name}.{collection.name}")
        indexes = list(collection.list_indexes())
        batch_size = int((body.get("cursor") or {}).get("batchSize") or 0) or None
        return self._cursor_reply(f"{db_name}.$cmd.listIndexes.{collection.name}", indexes, batch_size)

    def cmd_drop_indexes(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "dropIndexes")
        if not self._exists(db_name, collection.name):
            raise CommandError(26, f"ns not found {db_name}.{collection.name}")
        was = len(list(collection.list_indexes()))
        index = body.get("index")
        names = index if isinstance(index, list) else [index]
        for name in names:
            if name == "*":
                collection.drop_indexes()
                continue
            if name == "_id_":
                raise CommandError(72, "cannot drop _id index")
            try:
                collection.drop_index(list(name.items()) if isinstance(name, dict) else name)
            except OperationFailure as exc:
                raise CommandError(27, str(exc)) from exc
        return {"nIndexesWas": was}

    def cmd_create(self, db_name, body, connection_id):
        name = body["create"]
        if self._exists(db_name, name):
            raise CommandError(48, f"Collection already exists. NS: {db_name}.{name}")
        # Options (capped, validator, timeseries, ...) are ignored: mongomock has none of them.
        self.client[db_name].create_collection(name)
        return {}

    def cmd_drop(self, db_name, body, connection_id):
        collection = self._collection(db_name, body, "drop")
        was = 0
        if self._exists(db_name, collection.name):  # a missing collection is fine, as in MongoDB 7
            was = len(list(collection.list_indexes()))
            self.client[db_name].drop_collection(collection.name)
        return {"ns": f"{db_name}.{collection.name}", "nIndexesWas": was}

    def cmd_rename_collection(self, db_name, body, connection_id):
        """``{renameCollection: "db.from", to: "db.to", dropTarget}``, sent to admin."""
        source_db, source = body["renameCollection"].split(".", 1)
        target_db, target = body["to"].split(".", 1)
        if source_db != target_db:
            raise CommandError(20, "renaming across databases is not supported here")
        if not self._exists(source_db, source):
            raise CommandError(26, f"Source collection {body['renameCollection']} does not exist")
        if self._exists(target_db, target) and not body.get("dropTarget"):
            raise CommandError(48, "target namespace exists")
        self.client[source_db].rename_collection(source, target,
                                                 dropTarget=bool(body.get("dropTarget")))
        return {}

    def cmd_drop_database(self, db_name, body, connection_id):
        self.client.drop_database(db_name)
        return {"dropped": db_name}

    def cmd_list_collections(self, db_name, body, connection_id):
        entries = [
            {"name": name, "type": "collection", "options": {}, "info": {"readOnly": False}}
            for name in sorted(self.client[db_name].list_collection_names())
        ]
        query = compile_regexes(body.get("filter") or {})
        if query:
            entries = [entry for entry in entries if filter_applies(query, entry)]
        if body.get("nameOnly"):
            entries = [{"name": entry["name"], "type": entry["type"]} for entry in entries]
        batch_size = int((body.get("cursor") or {}).get("batchSize") or 0) or None
        return self._cursor_reply(f"{db_name}.$cmd.listCollections", entries, batch_size)

    def cmd_list_databases(self, db_name, body, connection_id):
        entries = [{"name": name, "sizeOnDisk": 0, "empty": False}
                   for name in sorted(self.client.list_database_names())]
        query = compile_regexes(body.get("filter") or {})
        if query:
            entries = [entry for entry in entries if filter_applies(query, entry)]
        if body.get("nameOnly"):
            return {"databases": [{"name": entry["name"]} for entry in entries]}
        return {"databases": entries, "totalSize": 0}


# -- wire protocol ----------------------------------------------------------------------


def _cstring(data, offset):
    """The UTF-8 C string at ``offset`` and the offset just past its terminating NUL."""
    end = data.find(b"\x00", offset)
    if end < 0:
        raise ProtocolError("unterminated C string")
    return data[offset:end].decode("utf-8"), end + 1


def parse_op_query(payload):
    """(namespace, command document) of an OP_QUERY body (the bytes after the header)."""
    offset = INT32.size  # flags: nothing in them matters for a command
    namespace, offset = _cstring(payload, offset)
    offset += 2 * INT32.size  # numberToSkip, numberToReturn
    (size,) = INT32.unpack_from(payload, offset)
    query = bson.decode(payload[offset:offset + size], DECODE_OPTIONS)  # a fields selector may follow
    if "$query" in query:
        query = query["$query"]
    return namespace, query


def parse_op_msg(payload):
    """(flagBits, command body) of an OP_MSG body, document sequences merged into the body."""
    (flags,) = UINT32.unpack_from(payload, 0)
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)  # a CRC-32C we do not check
    offset = UINT32.size
    body = None
    sequences = []
    while offset < end:
        kind = payload[offset]
        offset += 1
        (size,) = INT32.unpack_from(payload, offset)
        if kind == 0:
            if body is not None:
                raise ProtocolError("OP_MSG with two body sections")
            body = bson.decode(payload[offset:offset + size], DECODE_OPTIONS)
        elif kind == 1:
            identifier, documents_at = _cstring(payload, offset + INT32.size)
            documents = bson.decode_all(payload[documents_at:offset + size], DECODE_OPTIONS)
            sequences.append((identifier, documents))
        else:
            raise ProtocolError(f"OP_MSG section kind {kind}")
        offset += size
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    for identifier, documents in sequences:
        body[identifier] = documents
    return flags, body


def encode_reply(op_code, response_to, body):
    """A whole message: the header, then ``body`` (the bytes after the header)."""
    return HEADER.pack(HEADER.size + len(body), next(_request_ids), response_to, op_code) + body


def encode_document(document):
    """``document`` as BSON; a reply that cannot be encoded becomes an ``{ok: 0}`` reply."""
    try:
        return bson.encode(document)
    except Exception as exc:  # e.g. a value mongomock produced that BSON cannot hold
        log.exception("reply could not be encoded")
        return bson.encode({"ok": 0.0, "code": 1, "codeName": "InternalError",
                            "errmsg": f"wire_mongo could not encode the reply: {exc!r}"})


def op_msg_reply(response_to, document):
    return encode_reply(OP_MSG, response_to, UINT32.pack(0) + b"\x00" + encode_document(document))


def op_reply(response_to, document, flags=0):
    prefix = OP_REPLY_PREFIX.pack(flags, 0, 0, 1)
    return encode_reply(OP_REPLY, response_to, prefix + encode_document(document))


_request_ids = itertools.count(1)
_connection_ids = itertools.count(1)


def _strip_options(body):
    """The command body without ``$db`` and the generic options this server ignores."""
    for key in ("$db", "lsid", "$clusterTime", "txnNumber", "autocommit", "startTransaction",
                "$readPreference", "readConcern", "writeConcern", "apiVersion", "apiStrict",
                "apiDeprecationErrors", "comment", "maxTimeMS", "bypassDocumentValidation", "let",
                "hint", "allowDiskUse", "noCursorTimeout"):
        body.pop(key, None)
    return body


class WireHandler(socketserver.BaseRequestHandler):
    """One client connection: read a message, answer it, until the client goes away."""

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_id = next(_connection_ids)

    def handle(self):
        try:
            while True:
                header = self._receive(HEADER.size)
                if header is None:
                    return
                length, request_id, _, op_code = HEADER.unpack(header)
                if not HEADER.size < length <= MAX_MESSAGE_SIZE:
                    raise ProtocolError(f"message length {length}")
                payload = self._receive(length - HEADER.size)
                if payload is None:
                    return
                reply = self.answer(op_code, request_id, payload)
                if reply is not None:
                    self.request.sendall(reply)
        except ProtocolError as exc:
            log.warning("connection %d closed: %s", self.connection_id, exc)
        except OSError:
            pass  # the client went away mid-message
        except Exception:  # a bug here must not take the server down; this connection ends
            log.exception("connection %d closed after an internal error", self.connection_id)

    def _receive(self, count):
        """Exactly ``count`` bytes, or None when the peer closed the connection first."""
        chunks = bytearray()
        while len(chunks) < count:
            chunk = self.request.recv(min(count - len(chunks), 1 << 20))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def answer(self, op_code, request_id, payload):
        """The reply message to one request, or None when none is due."""
        backend = self.server.backend
        if op_code == OP_MSG:
            try:
                flags, body = parse_op_msg(payload)
            except (BSONError, struct.error, IndexError) as exc:
                raise ProtocolError(f"unreadable OP_MSG: {exc}") from exc
            db_name = body.get("$db") or "admin"
            reply = backend.execute(db_name, _strip_options(body), self.connection_id)
            return None if flags & MORE_TO_COME else op_msg_reply(request_id, reply)
        if op_code == OP_QUERY:
            try:
                namespace, query = parse_op_query(payload)
            except (BSONError, struct.error, IndexError) as exc:
                raise ProtocolError(f"unreadable OP_QUERY: {exc}") from exc
            db_name, _, collection = namespace.partition(".")
            if collection != "$cmd":
                error = {"$err": f"wire_mongo answers OP_QUERY on *.$cmd only, not {namespace}",
                         "code": 238, "ok": 0.0}
                return op_reply(request_id, error, QUERY_FAILURE)
            return op_reply(request_id, backend.execute(db_name, _strip_options(query), self.connection_id))
        if op_code == OP_COMPRESSED:
            raise ProtocolError("OP_COMPRESSED, though no compression was offered")
        raise ProtocolError(f"unsupported opCode {op_code}")


class WireMongoServer(socketserver.ThreadingTCPServer):
    """A thread per connection; every thread shares one :class:`MongomockBackend`."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False  # open client connections must not delay the exit

    def __init__(self, address, backend=None):
        super().__init__(address, WireHandler)
        self.backend = backend or MongomockBackend()


# -- for tests: a server in a process of its own ---------------------------------------


def spawn_server(timeout=20, stderr=None):
    """Start ``python -m tests.system.wire_mongo --port 0`` in a process of its own; returns
    the process and its ``mongodb://`` URL once it listens. Its log goes to ``stderr``."""
    process = subprocess.Popen([sys.executable, "-m", "tests.system.wire_mongo", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    deadline = time.monotonic() + timeout
    output = b""
    while b"\n" not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            process.kill()
            raise AssertionError(f"wire_mongo did not say it was listening: {output!r}")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            output += os.read(process.stdout.fileno(), 1024)
    match = LISTENING.match(output)
    assert match, output
    host, port = match.group(1).decode(), int(match.group(2))
    assert port > 0
    return process, f"mongodb://{host}:{port}/"


def stop_server(process):
    """SIGTERM; the server must exit 0 within a few seconds (SIGKILL otherwise)."""
    process.terminate()
    try:
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()



def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.system.wire_mongo",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="wire_mongo %(levelname)s %(message)s")

    server = WireMongoServer((args.host, args.port))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="wire_mongo-accept", daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    print(f"wire_mongo listening on {host}:{port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
