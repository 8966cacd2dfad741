"""Patches that make moto's DynamoDB cost proportional to the request, not to the table.

moto 5.2 (checked against 5.2.5) has four costs that grow with the table, each of which a real
school's data set (30,000 students, 100,000+ items) turns into seconds per request:

1. ``TransactWriteItems`` deep-copies every table it touches, once per item in the transaction,
   so that it can roll back. Here a transaction keeps a journal instead: before each of its
   operations it copies the one item that operation touches (or notes that it is absent), and a
   rollback puts back exactly those items, in reverse order.
2. ``Query`` on the table walks and sorts *every* item of the table to find one partition.
   Here the query sees only its own partition.
3. ``Query`` on a global secondary index walks and sorts every item too. Here each table keeps,
   per GSI with a single hash attribute, a map from the hash value to the primary keys that
   carry it; the query sees only those items. The map is built on a table's first GSI query
   and then kept current by every write path (put, delete, update, transaction and its
   rollback, batch writes go through put and delete).
4. Every response walks moto's generic, shape-driven serializer, which probes all ten members
   of the ``AttributeValue`` shape for every attribute of every item: about 5 ms per item
   returned. Here an attribute map (an item, a key) is written out directly; every other part
   of a response still goes through moto's serializer.
5. Writes re-parse the same condition expressions (``attribute_not_exists(pk)`` in almost every
   put) and build each item with a size check that re-sums the whole item for every attribute
   (quadratic in its attributes). Here a parsed condition is kept by its text, names and values
   (the parsed tree is immutable: evaluation only reads it), and an item's size is checked
   once, on the whole item, against the same limit.
6. Every ``Item`` ever created (each deep copy included) is registered in moto's global model
   registry for ``/moto-api/data.json``, and never released: memory grows without bound and
   ``data.json`` slows down with it. Here DynamoDB items are not registered: ``data.json``
   still lists everything else (SNS messages, tables, buckets), just not table items.
7. A table's stream (``StreamSpecification``; the SMS outbox is delivered from it) keeps a
   record of every write for ever, each built with both item images serialised whatever the
   view type, and every ``GetRecords`` call registers a new shard iterator that is never
   released. Here a ``KEYS_ONLY`` record carries just its keys (as DynamoDB's does), a shard
   keeps its newest ``STREAM_KEEP`` records (DynamoDB keeps 24 hours; an iterator behind the
   trimmed part gets ``TrimmedDataAccessException``, as there), and at most
   ``ITERATORS_KEEP`` iterators are remembered (DynamoDB's expire after 15 minutes).

Everything else is moto's own code. The guarantees the platform relies on hold as before:
a transaction is all-or-nothing with per-item cancellation reasons, a validation error in the
middle of one rolls back what it had applied, and requests are serialised by the server wrapper
(``scripts/moto_server.py``), which these patches assume (they keep no locks of their own).

``apply()`` installs them; ``tests/moto/test_moto_patches.py`` checks them.
"""
import copy
import os
from typing import Any

import base64
import json
from collections import OrderedDict

from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.dynamodbstreams.models import DynamoDBStreamsBackend

from moto.core.serialize import BaseJSONSerializer
import moto.dynamodb.models as backend_module
import moto.dynamodb.models.table as table_module
from moto.dynamodb.comparisons import get_filter_expression as _parse_condition
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    ItemSizeTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table

_ORIGINAL = {}


# --- primary keys -----------------------------------------------------------------------------

def _key_of(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None and table.range_key_attr in key:
        range_value = DynamoType(key[table.range_key_attr])
    return hash_value, range_value


def _stored(table: Table, hash_value, range_value) -> Item | None:
    """The item stored under a primary key, without creating partitions as a side effect."""
    partition = table.items.get(hash_value)
    if partition is None:
        return None
    if table.range_key_attr is None:
        return partition
    return partition.get(range_value)


def _store(table: Table, hash_value, range_value, item: Item | None) -> None:
    """Puts an item back under its key (or removes the key), bypassing conditions and streams."""
    if table.range_key_attr is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    else:
        partition = table.items.get(hash_value)
        if item is None:
            if partition is not None:
                partition.pop(range_value, None)
                if not partition:
                    table.items.pop(hash_value, None)
        else:
            table.items[hash_value][range_value] = item
    _reindex(table, hash_value, range_value)


# --- GSI hash maps ----------------------------------------------------------------------------

def _single_hash_attr(index) -> str | None:
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    return hashes[0] if len(hashes) == 1 else None


def _gsi_maps(table: Table) -> dict[str, dict]:
    """{index name: {hash value: {primary key: None}}} plus, per primary key, what it is filed
    under. Built on first use from the table's items."""
    maps = getattr(table, "_campus_gsi", None)
    if maps is not None:
        return maps
    maps = {"by_value": {}, "filed": {}}
    for index in table.global_indexes or []:
        attr = _single_hash_attr(index)
        if attr is not None:
            maps["by_value"][index.name] = (attr, {})
    table._campus_gsi = maps
    for item in _every_item(table):
        _file(table, maps, (item.hash_key, item.range_key), item)
    return maps


def _every_item(table: Table):
    for partition in table.items.values():
        if table.range_key_attr is None:
            yield partition
        else:
            yield from partition.values()


def _file(table: Table, maps, pkey, item: Item | None) -> None:
    previous = maps["filed"].pop(pkey, {})
    for name, value in previous.items():
        bucket = maps["by_value"][name][1].get(value)
        if bucket is not None:
            bucket.pop(pkey, None)
            if not bucket:
                del maps["by_value"][name][1][value]
    if item is None:
        return
    now = {}
    for name, (attr, values) in maps["by_value"].items():
        value = item.attrs.get(attr)
        if value is not None:
            values.setdefault(value, {})[pkey] = None
            now[name] = value
    if now:
        maps["filed"][pkey] = now


def _reindex(table: Table, hash_value, range_value) -> None:
    maps = getattr(table, "_campus_gsi", None)
    if maps is not None:
        _file(table, maps, (hash_value, range_value), _stored(table, hash_value, range_value))


def _put_item(self: Table, *args, **kwargs):
    item = _ORIGINAL["put_item"](self, *args, **kwargs)
    _reindex(self, item.hash_key, item.range_key)
    return item


def _delete_item(self: Table, hash_key, range_key):
    item = _ORIGINAL["delete_item"](self, hash_key, range_key)
    _reindex(self, hash_key, range_key)
    return item


def _backend_update_item(self: DynamoDBBackend, table_name, key, *args, **kwargs):
    try:
        return _ORIGINAL["update_item"](self, table_name, key, *args, **kwargs)
    finally:
        # An update changes the stored item in place: file it again whatever happened.
        table = self.tables.get(table_name)
        if table is not None and table.hash_key_attr in key:
            _reindex(table, *_key_of(table, key))


# --- queries that see only what they can match ------------------------------------------------

def _query(self: Table, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    candidates = None
    if not index_name and hash_key is not None:
        partition = self.items.get(hash_key)
        if partition is None:
            candidates = []
        elif self.range_key_attr is None:
            candidates = [partition]
        else:
            candidates = list(partition.values())
    elif index_name:
        conditions = kwargs.get("hash_key_conditions") or []
        index = next((i for i in self.global_indexes or [] if i.name == index_name), None)
        if isinstance(index, GlobalSecondaryIndex) and len(conditions) == 1:
            maps = _gsi_maps(self)
            entry = maps["by_value"].get(index_name)
            if entry is not None and conditions[0][0] == entry[0]:
                pkeys = entry[1].get(conditions[0][1], {})
                candidates = [i for i in (_stored(self, h, r) for h, r in pkeys) if i is not None]
    if candidates is None:
        return _ORIGINAL["query"](self, hash_key, *args, **kwargs)
    self._campus_candidates = candidates
    try:
        return _ORIGINAL["query"](self, hash_key, *args, **kwargs)
    finally:
        self._campus_candidates = None


def _all_items(self: Table):
    candidates = getattr(self, "_campus_candidates", None)
    if candidates is None:
        return _ORIGINAL["all_items"](self)
    return sorted(candidates, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


# --- writes: conditions parsed once, items sized once ---------------------------------------

_PARSED: "OrderedDict[tuple, object]" = OrderedDict()
_PARSED_MAX = 4096


def get_filter_expression(expr, names, values):
    """moto's parser, remembering what it parsed (least recently used dropped past 4,096)."""
    if not expr:
        return _parse_condition(expr, names, values)
    key = (expr, json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True, default=str))
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _parse_condition(expr, names, values)
        _PARSED[key] = parsed
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    else:
        _PARSED.move_to_end(key)
    return parsed


def _item_init(self, hash_key, range_key, attrs):
    self.hash_key = hash_key
    self.range_key = range_key
    values = {key: DynamoType(value) for key, value in attrs.items()}
    # moto's LimitedSizeDict checks the running total at every attribute; the final total is
    # the largest, so one check of it refuses exactly the same items.
    if sum(bytesize(key) + value.size() for key, value in values.items()) > 405000:
        raise ItemSizeTooLarge
    self.attrs = LimitedSizeDict()
    dict.update(self.attrs, values)


# --- transactions with an item journal --------------------------------------------------------

def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's own transaction loop (same checks, same cancellation reasons), with a rollback
    that restores just the items the transaction touched."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()

    journal: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
    streams: dict[int, tuple[Any, int]] = {}

    def rollback() -> None:
        for table, hash_value, range_value, before in reversed(journal):
            _store(table, hash_value, range_value, before)
        # The stream records the transaction added go too (by sequence number: a shard may
        # have been trimmed meanwhile).
        for shard, next_seq in streams.values():
            del shard.items[max(0, next_seq - shard.starting_sequence_number):]

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            on_failure = op.get("ReturnValuesOnConditionCheckFailure")

            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if on_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                # The journal entry comes first, so that even an operation that fails after
                # changing its item (an update creates the item, then fails) is undone.
                shard = table.stream_shard
                if shard is not None and id(shard) not in streams:
                    streams[id(shard)] = (shard, shard.starting_sequence_number + len(shard.items))
                journal.append((table, *_key_of(table, key), copy.deepcopy(current)))

            # The condition was checked just above, on the same item, with requests
            # serialised: moto's own loop checks it a second time; here it is not parsed again.
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - moto reports any other failure per item
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


# --- streams: small records, a bounded shard, bounded iterators ------------------------------

STREAM_KEEP = int(os.environ.get("CAMPUS_MOTO_STREAM_KEEP", "20000"))
ITERATORS_KEEP = 10_000


class _KeysOnlyRecord:
    """A ``KEYS_ONLY`` stream record: what moto's ``StreamRecord`` writes, without the images."""

    __slots__ = ("record",)

    def __init__(self, table: Table, event_name: str, rec: Item, seq: int):
        keys = {table.hash_key_attr: rec.hash_key.to_json()}
        if table.range_key_attr is not None:
            keys[table.range_key_attr] = rec.range_key.to_json()
        self.record = {
            "eventID": mock_random.uuid4().hex,
            "eventName": event_name,
            "eventSource": "aws:dynamodb",
            "eventVersion": "1.1",
            "awsRegion": table.region_name,
            "dynamodb": {
                "StreamViewType": "KEYS_ONLY",
                "ApproximateCreationDateTime": utcnow(),
                "SequenceNumber": str(seq),
                "SizeBytes": len(json.dumps(keys)),
                "Keys": keys,
            },
        }

    def to_json(self) -> dict[str, Any]:
        return self.record


def _shard_add(self, old: Item | None, new: Item | None) -> None:
    view = self.table.stream_specification["StreamViewType"]
    if view != "KEYS_ONLY" or self.table.lambda_event_source_mappings:
        _ORIGINAL["shard_add"](self, old, new)
    else:
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        seq = len(self.items) + self.starting_sequence_number
        self.items.append(_KeysOnlyRecord(self.table, event_name, old if old is not None else new, seq))
    if len(self.items) > STREAM_KEEP + STREAM_KEEP // 2:
        drop = len(self.items) - STREAM_KEEP
        del self.items[:drop]
        self.starting_sequence_number += drop


def _shard_get(self, start: int, quantity: int) -> list[dict[str, Any]]:
    if start < self.starting_sequence_number:
        raise _TrimmedDataAccess()
    return _ORIGINAL["shard_get"](self, start, quantity)


class _TrimmedDataAccess(JsonRESTError):
    def __init__(self):
        super().__init__("TrimmedDataAccessException", "the iterator points at records that were trimmed")


def _iterators_init(self, region_name: str, account_id: str):
    _ORIGINAL["iterators_init"](self, region_name, account_id)
    self.shard_iterators = _BoundedDict()


class _BoundedDict(OrderedDict):
    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > ITERATORS_KEEP:
            self.popitem(last=False)


# --- responses: attribute maps written out directly -------------------------------------------

def _wire_value(value: dict) -> dict:
    """One AttributeValue in DynamoDB's JSON wire form, as moto's serializer would write it."""
    out = {}
    for kind, inner in value.items():
        if kind in ("S", "N"):
            out[kind] = str(inner)
        elif kind == "B":
            out[kind] = _b64(inner)
        elif kind == "BS":
            out[kind] = [_b64(b) for b in inner]
        elif kind in ("SS", "NS"):
            out[kind] = [str(x) for x in inner]
        elif kind == "M":
            out[kind] = {k: _wire_value(v) for k, v in inner.items()}
        elif kind == "L":
            out[kind] = [_wire_value(v) for v in inner]
        else:  # BOOL, NULL
            out[kind] = inner
    return out


def _b64(value) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def _plain(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


def _serialize_type_map(self, serialized, value, shape, key):
    if shape.value.name == "AttributeValue" and _plain(value):
        serialized[self.get_serialized_name(shape, key)] = {k: _wire_value(v) for k, v in value.items()}
        return
    _ORIGINAL["serialize_map"](self, serialized, value, shape, key)


def _serialize_type_structure(self, serialized, value, shape, key):
    if shape.name == "AttributeValue" and key and isinstance(value, dict):
        serialized[self.get_serialized_name(shape, key)] = _wire_value(value)
        return
    _ORIGINAL["serialize_structure"](self, serialized, value, shape, key)


# --- install ----------------------------------------------------------------------------------

def _untracked_new(cls, *args, **kwargs):
    return object.__new__(cls)


def apply() -> None:
    if _ORIGINAL:
        return
    _ORIGINAL["put_item"] = Table.put_item
    _ORIGINAL["delete_item"] = Table.delete_item
    _ORIGINAL["query"] = Table.query
    _ORIGINAL["all_items"] = Table.all_items
    _ORIGINAL["update_item"] = DynamoDBBackend.update_item
    _ORIGINAL["shard_add"] = table_module.StreamShard.add
    _ORIGINAL["shard_get"] = table_module.StreamShard.get
    _ORIGINAL["iterators_init"] = DynamoDBStreamsBackend.__init__
    table_module.StreamShard.add = _shard_add
    table_module.StreamShard.get = _shard_get
    DynamoDBStreamsBackend.__init__ = _iterators_init
    _ORIGINAL["serialize_map"] = BaseJSONSerializer._serialize_type_map
    _ORIGINAL["serialize_structure"] = BaseJSONSerializer._serialize_type_structure
    BaseJSONSerializer._serialize_type_map = _serialize_type_map
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure
    Table.put_item = _put_item
    Table.delete_item = _delete_item
    Table.query = _query
    Table.all_items = _all_items
    DynamoDBBackend.update_item = _backend_update_item
    DynamoDBBackend.transact_write_items = _transact_write_items
    Item.__new__ = staticmethod(_untracked_new)
    Item.__init__ = _item_init
    backend_module.get_filter_expression = get_filter_expression
    table_module.get_filter_expression = get_filter_expression
    Item.instances_tracked.clear()
