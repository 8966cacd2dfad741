"""Checks of scripts/moto_patches.py through the real server over HTTP (boto3, as any client).

Each test talks to one `scripts/moto_server.py` started for this module. Run with the project's
venv: `.venv/bin/python -m unittest discover -s tests/moto` (scripts/test does).
"""
import json
import os
import random
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid

import boto3
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts", "moto_server.py"), "127.0.0.1", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="cn-northwest-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server()


def tearDownModule():
    SERVER.stop()


def make_table(ddb) -> str:
    """A table shaped like the platform's: pk/sk, gsi1 (ALL), sparse gsi2."""
    name = f"patch-{uuid.uuid4().hex[:8]}"
    attrs = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": gsi,
                "KeySchema": [
                    {"AttributeName": f"{gsi}pk", "KeyType": "HASH"},
                    {"AttributeName": f"{gsi}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for gsi in ("gsi1", "gsi2")
        ],
    )
    return name


def s(v):
    return {"S": v}


def key(pk, sk):
    return {"pk": s(pk), "sk": s(sk)}


class TransactionRollback(unittest.TestCase):
    def setUp(self):
        self.ddb = SERVER.client("dynamodb")
        self.table = make_table(self.ddb)
        put = lambda item: self.ddb.put_item(TableName=self.table, Item=item)
        # A: updated by the transaction; B: deleted by it; C: created by it; D: its failed check.
        put({**key("ORDER#1", "ORDER"), "state": s("open"), "version": {"N": "3"},
             "gsi2pk": s("SWEEP#ORDER"), "gsi2sk": s("2026-12-04T10:00")})
        put({**key("OPEN#1#A", "LOCK"), "order_no": s("1"), "gsi1pk": s("LOCKS#1"), "gsi1sk": s("A")})
        put({**key("STU#1", "FEE#2026#A"), "paid_fen": {"N": "0"}})
        self.before = self.dump()

    def dump(self):
        items = self.ddb.scan(TableName=self.table, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def gsi(self, index, value):
        out = self.ddb.query(
            TableName=self.table, IndexName=index,
            KeyConditionExpression=f"{index}pk = :v", ExpressionAttributeValues={":v": s(value)},
        )["Items"]
        return [(i["pk"]["S"], i["sk"]["S"]) for i in out]

    def writes(self):
        """Update A (moving it off gsi2, onto gsi1), delete B, create C (on gsi1)."""
        return [
            {"Update": {
                "TableName": self.table, "Key": key("ORDER#1", "ORDER"),
                "UpdateExpression": "SET #s = :paid, version = version + :one, gsi1pk = :g, gsi1sk = :o REMOVE gsi2pk, gsi2sk",
                "ConditionExpression": "#s = :open",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":paid": s("paid"), ":open": s("open"),
                                              ":one": {"N": "1"}, ":g": s("ORDERS#1"),
                                              ":o": s("ORDER#1")},
            }},
            {"Delete": {"TableName": self.table, "Key": key("OPEN#1#A", "LOCK"),
                        "ConditionExpression": "order_no = :no",
                        "ExpressionAttributeValues": {":no": s("1")}}},
            {"Put": {"TableName": self.table,
                     "Item": {**key("STU#1", "TXN#1A01"), "amount_fen": {"N": "120000"},
                              "gsi1pk": s("LOCKS#1"), "gsi1sk": s("B")},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ]

    def assert_untouched(self):
        self.assertEqual(self.dump(), self.before)
        self.assertEqual(self.gsi("gsi2", "SWEEP#ORDER"), [("ORDER#1", "ORDER")])
        self.assertEqual(self.gsi("gsi1", "LOCKS#1"), [("OPEN#1#A", "LOCK")])
        self.assertEqual(self.gsi("gsi1", "ORDERS#1"), [])

    def test_cancelled_transaction_leaves_every_touched_item_as_it_was(self):
        self.gsi("gsi1", "LOCKS#1")  # build the GSI maps first, so the rollback must mend them
        failing_check = {"ConditionCheck": {
            "TableName": self.table, "Key": key("STU#1", "FEE#2026#A"),
            "ConditionExpression": "paid_fen > :z", "ExpressionAttributeValues": {":z": {"N": "0"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}
        with self.assertRaises(ClientError) as caught:
            self.ddb.transact_write_items(TransactItems=self.writes() + [failing_check])
        error = caught.exception.response
        self.assertEqual(error["Error"]["Code"], "TransactionCanceledException")
        reasons = [r["Code"] for r in error["CancellationReasons"]]
        self.assertEqual(reasons, ["None", "None", "None", "ConditionalCheckFailed"])
        self.assertEqual(error["CancellationReasons"][3]["Item"]["paid_fen"], {"N": "0"})
        self.assert_untouched()

    def test_validation_error_halfway_rolls_back(self):
        bad_update = {"Update": {
            "TableName": self.table, "Key": key("STU#1", "FEE#2026#A"),
            "UpdateExpression": "SET paid_fen = :undefined",
            "ExpressionAttributeValues": {":other": {"N": "1"}},
        }}
        with self.assertRaises(ClientError) as caught:
            self.ddb.transact_write_items(TransactItems=self.writes() + [bad_update])
        self.assertEqual(caught.exception.response["Error"]["Code"], "ValidationException")
        self.assert_untouched()

    def test_same_item_twice_is_refused_and_nothing_applied(self):
        twice = self.writes() + [{"ConditionCheck": {
            "TableName": self.table, "Key": key("ORDER#1", "ORDER"),
            "ConditionExpression": "attribute_exists(pk)"}}]
        with self.assertRaises(ClientError) as caught:
            self.ddb.transact_write_items(TransactItems=twice)
        self.assertEqual(caught.exception.response["Error"]["Code"], "ValidationException")
        self.assert_untouched()

    def test_successful_transaction_applies_everything(self):
        self.ddb.transact_write_items(TransactItems=self.writes())
        order = self.ddb.get_item(TableName=self.table, Key=key("ORDER#1", "ORDER"))["Item"]
        self.assertEqual(order["state"], s("paid"))
        self.assertEqual(order["version"], {"N": "4"})
        self.assertEqual(self.gsi("gsi2", "SWEEP#ORDER"), [])
        self.assertEqual(self.gsi("gsi1", "ORDERS#1"), [("ORDER#1", "ORDER")])
        self.assertEqual(self.gsi("gsi1", "LOCKS#1"), [("STU#1", "TXN#1A01")])


class QueriesSeeOnlyTheirItems(unittest.TestCase):
    """Random puts, updates, deletes and transactions (some cancelled); after each round every
    query on the table and on both GSIs answers what a full scan says it should."""

    def test_queries_agree_with_a_scan(self):
        ddb = SERVER.client("dynamodb")
        table = make_table(ddb)
        rng = random.Random(20261204)
        pks = [f"P{i}" for i in range(6)]
        sks = [f"S{i}" for i in range(5)]
        gvals = ["G0", "G1", "G2"]

        def random_item():
            item = key(rng.choice(pks), rng.choice(sks))
            for gsi in ("gsi1", "gsi2"):
                if rng.random() < 0.6:
                    item[f"{gsi}pk"] = s(rng.choice(gvals))
                    item[f"{gsi}sk"] = s(rng.choice(sks))
            return item

        for _ in range(40):
            for _ in range(8):
                roll = rng.random()
                if roll < 0.35:
                    ddb.put_item(TableName=table, Item=random_item())
                elif roll < 0.5:
                    ddb.delete_item(TableName=table, Key=key(rng.choice(pks), rng.choice(sks)))
                elif roll < 0.7:
                    ddb.update_item(
                        TableName=table, Key=key(rng.choice(pks), rng.choice(sks)),
                        UpdateExpression="SET gsi1pk = :g, gsi1sk = :s",
                        ExpressionAttributeValues={":g": s(rng.choice(gvals)), ":s": s("X")},
                    )
                else:
                    ops, used = [], set()
                    for _ in range(rng.randint(1, 4)):
                        item = random_item()
                        k = (item["pk"]["S"], item["sk"]["S"])
                        if k in used:
                            continue
                        used.add(k)
                        ops.append({"Put": {"TableName": table, "Item": item}})
                    if rng.random() < 0.5:
                        ops.append({"Put": {"TableName": table, "Item": key("NEVER", "NEVER"),
                                            "ConditionExpression": "attribute_exists(pk)"}})
                    try:
                        ddb.transact_write_items(TransactItems=ops)
                    except ClientError as e:
                        self.assertEqual(e.response["Error"]["Code"], "TransactionCanceledException")
            everything = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
            for pk in pks:
                got = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": s(pk)})["Items"]
                want = sorted((i for i in everything if i["pk"]["S"] == pk), key=lambda i: i["sk"]["S"])
                self.assertEqual(got, want)
            for gsi in ("gsi1", "gsi2"):
                for g in gvals:
                    got = ddb.query(TableName=table, IndexName=gsi, KeyConditionExpression=f"{gsi}pk = :g",
                                    ExpressionAttributeValues={":g": s(g)})["Items"]
                    want = [i for i in everything if i.get(f"{gsi}pk") == s(g) and f"{gsi}sk" in i]
                    self.assertCountEqual(got, want)
                    self.assertEqual([i[f"{gsi}sk"]["S"] for i in got],
                                     sorted(i[f"{gsi}sk"]["S"] for i in got))
        self.assertEqual(ddb.get_item(TableName=table, Key=key("NEVER", "NEVER")).get("Item"), None)

    def test_paged_query_returns_every_item_once(self):
        ddb = SERVER.client("dynamodb")
        table = make_table(ddb)
        for i in range(25):
            ddb.put_item(TableName=table, Item={**key("STU#1", f"FEE#{i:02}"),
                                                "gsi1pk": s("ORDERS#1"), "gsi1sk": s(f"{i:02}")})
            ddb.put_item(TableName=table, Item={**key(f"STU#{i + 2}", "FEE#00")})
        for index, expr, value in ((None, "pk = :v", "STU#1"), ("gsi1", "gsi1pk = :v", "ORDERS#1")):
            seen, start = [], None
            while True:
                args = dict(TableName=table, KeyConditionExpression=expr,
                            ExpressionAttributeValues={":v": s(value)}, Limit=7)
                if index:
                    args["IndexName"] = index
                if start:
                    args["ExclusiveStartKey"] = start
                page = ddb.query(**args)
                seen += [i["sk"]["S"] for i in page["Items"]]
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
            self.assertEqual(seen, [f"FEE#{i:02}" for i in range(25)])


class ItemSizeLimit(unittest.TestCase):
    def test_an_item_over_the_limit_is_refused_and_one_under_it_stored(self):
        ddb = SERVER.client("dynamodb")
        table = make_table(ddb)
        with self.assertRaises(ClientError) as caught:
            ddb.put_item(TableName=table, Item={**key("BIG", "BIG"), "a": s("x" * 200_000), "b": s("y" * 206_000)})
        self.assertEqual(caught.exception.response["Error"]["Code"], "ValidationException")
        self.assertNotIn("Item", ddb.get_item(TableName=table, Key=key("BIG", "BIG")))
        ddb.put_item(TableName=table, Item={**key("BIG", "BIG"), "a": s("x" * 200_000), "b": s("y" * 190_000)})
        self.assertIn("Item", ddb.get_item(TableName=table, Key=key("BIG", "BIG")))


class ItemsAreNotHoarded(unittest.TestCase):
    def test_data_json_lists_sms_but_not_table_items(self):
        ddb = SERVER.client("dynamodb")
        table = make_table(ddb)
        for i in range(50):
            ddb.put_item(TableName=table, Item=key(f"STU#{i}", "PROFILE"))
        marker = f"patch test {uuid.uuid4().hex}"
        SERVER.client("sns").publish(PhoneNumber="+8613800000000", Message=marker)
        data = json.load(urllib.request.urlopen(f"{SERVER.endpoint}/moto-api/data.json"))
        self.assertEqual(data["dynamodb"].get("Item", []), [])
        self.assertIn(marker, [m["message"] for m in data["sns"]["SMS"]])
        self.assertEqual(len(ddb.scan(TableName=table)["Items"]), 50)


class ConnectionsAreKept(unittest.TestCase):
    """A store call on a new connection costs the client a TCP connect and close: on this
    machine that made a GetItem 214 µs of our CPU instead of 144 µs (docs/measurements.md)."""

    def test_one_connection_serves_several_calls(self):
        import http.client

        ddb = SERVER.client("dynamodb")
        table = make_table(ddb)
        conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=10)
        headers = {
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/cn-northwest-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        }
        for _ in range(3):
            conn.request("POST", "/", body=json.dumps({"TableName": table}), headers=headers)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["Table"]["TableName"], table)
            self.assertNotEqual((r.getheader("Connection") or "").lower(), "close")
            self.assertEqual(r.version, 11)
        conn.close()


if __name__ == "__main__":
    unittest.main()


class Streams(unittest.TestCase):
    """A KEYS_ONLY stream (the SMS outbox's trigger): one record per applied write, none for a
    cancelled transaction, keys only, and a bounded shard whose trimmed part is refused."""

    @classmethod
    def setUpClass(cls):
        # A server of its own with a small shard, so that trimming is reached in a test.
        os.environ["CAMPUS_MOTO_STREAM_KEEP"] = "40"
        try:
            cls.server = Server()
        finally:
            del os.environ["CAMPUS_MOTO_STREAM_KEEP"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.ddb = self.server.client("dynamodb")
        self.streams = self.server.client("dynamodbstreams")
        self.table = f"stream-{uuid.uuid4().hex[:8]}"
        self.ddb.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        arn = self.ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self.arn = arn
        shard = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.shard = shard
        self.iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]

    def read(self):
        out = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = out["NextShardIterator"]
        return out["Records"]

    def test_applied_writes_are_recorded_with_keys_only_and_a_cancelled_transaction_is_not(self):
        self.ddb.put_item(TableName=self.table, Item={**key("OUTBOX#1", "SMS"), "phone": s("13912345678")})
        self.ddb.update_item(TableName=self.table, Key=key("OUTBOX#1", "SMS"), UpdateExpression="SET st = :x",
                             ExpressionAttributeValues={":x": s("sending")})
        with self.assertRaises(ClientError):
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": key("OUTBOX#2", "SMS")}},
                {"Put": {"TableName": self.table, "Item": key("OUTBOX#1", "SMS"),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ])
        self.ddb.delete_item(TableName=self.table, Key=key("OUTBOX#1", "SMS"))
        records = self.read()
        self.assertEqual([r["eventName"] for r in records], ["INSERT", "MODIFY", "REMOVE"])
        for r in records:
            self.assertEqual(r["dynamodb"]["Keys"], key("OUTBOX#1", "SMS"))
            self.assertNotIn("NewImage", r["dynamodb"])
            self.assertNotIn("OldImage", r["dynamodb"])
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(self.read(), [], "nothing new, nothing repeated")
        # A write after the cancelled transaction gets the next number: no gap, no reuse.
        self.ddb.put_item(TableName=self.table, Item=key("OUTBOX#3", "SMS"))
        (after,) = self.read()
        self.assertEqual(int(after["dynamodb"]["SequenceNumber"]), seqs[-1] + 1)

    def test_the_shard_keeps_its_newest_records_and_refuses_a_trimmed_iterator(self):
        stale = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for i in range(70):
            self.ddb.put_item(TableName=self.table, Item=key(f"OUTBOX#{i}", "SMS"))
        with self.assertRaises(ClientError) as e:
            self.streams.get_records(ShardIterator=stale)
        self.assertEqual(e.exception.response["Error"]["Code"], "TrimmedDataAccessException")
        # The oldest kept record is where a new reader starts; a reader at the head sees each
        # new record once.
        horizon = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        kept = [r["dynamodb"]["Keys"]["pk"]["S"] for r in self.streams.get_records(ShardIterator=horizon)["Records"]]
        self.assertEqual(kept[-1], "OUTBOX#69")
        self.assertTrue(40 <= len(kept) <= 60, len(kept))
        self.iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=self.shard, ShardIteratorType="LATEST")["ShardIterator"]
        self.ddb.put_item(TableName=self.table, Item=key("OUTBOX#70", "SMS"))
        self.assertEqual([r["dynamodb"]["Keys"]["pk"]["S"] for r in self.read()], ["OUTBOX#70"])
        self.assertEqual(self.read(), [])
