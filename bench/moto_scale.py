#!/usr/bin/env python3
"""moto at a school's size: request times against a table of N items, over HTTP.

Starts `scripts/moto_server.py` (patched, or with CAMPUS_MOTO_STOCK=1 stock moto 5.2 behind the
same serialising wrapper), fills one table shaped like the platform's (pk/sk, gsi1, sparse
gsi2) with N items in the platform's own shapes — students' profiles, credentials and fee
items, orders, attempts — and times, one request at a time from boto3:
  tx6     a 6-item TransactWriteItems like a payment (order, attempt, two fee items, bank
          record, audit entry), each on fresh keys
  update  one conditional UpdateItem (the daily-serial shape)
  query   a student's fee items (Query pk = STU#…, begins_with FEE#)
  gsi     a student's payment history (Query gsi1 = ORDERS#…)
  sweep   the sweeper's work list (Query gsi2 = SWEEP#ORDER, gsi2sk < now, Limit 100)

usage: moto_scale.py [--items 100000] [--samples 50] [--stock]
Prints one Markdown table row per operation (median, p90, min, max in ms).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "moto"))
from test_moto_patches import Server, make_table  # noqa: E402  (the same server and table shape)


def s(v):
    return {"S": v}


def fill(ddb, table, items):
    """About `items` items: per student a profile, a credential, 3 fee items; every 10th an order
    with one attempt (open orders on gsi2)."""
    batch, written, n = [], 0, 0
    def flush():
        nonlocal batch
        if batch:
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in batch]})
            batch = []
    while written < items:
        no = f"2021{n:06}"
        batch += [
            {"pk": s(f"STU#{no}"), "sk": s("PROFILE"), "name": s("张三"), "gsi1pk": s(f"IDC#{n:032x}"), "gsi1sk": s(f"STU#{no}")},
            {"pk": s(f"STU#{no}"), "sk": s("CRED"), "password_hash": s("$argon2id$v=19$m=19456,t=2,p=1$x$y"), "version": {"N": "1"}},
        ]
        for k in range(3):
            batch.append({"pk": s(f"STU#{no}"), "sk": s(f"FEE#2026-2027#{k:02}"), "due_fen": {"N": "260000"}, "paid_fen": {"N": "0"}, "version": {"N": "1"}})
        written += 5
        if n % 10 == 0:
            order = f"XF261204LUTAU{n:06}"
            batch += [
                {"pk": s(f"ORDER#{order}"), "sk": s("ORDER"), "state": s("open"), "version": {"N": "1"},
                 "gsi1pk": s(f"ORDERS#{no}"), "gsi1sk": s(f"ORDER#{order}"), "gsi2pk": s("SWEEP#ORDER"), "gsi2sk": s(f"2026-12-04T{n % 24:02}:00:00Z")},
                {"pk": s(f"ORDER#{order}"), "sk": s(f"ATTEMPT#{order}A01"), "state": s("created"), "amount_fen": {"N": "260000"}},
            ]
            written += 2
        n += 1
        if len(batch) >= 25:
            head, batch = batch[:25], batch[25:]
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in head]})
    flush()
    return n


def tx6(table, i):
    order = f"XF261205LUTAU{i:06}"
    no = f"2021{i:06}"
    put = lambda item: {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
    return [
        put({"pk": s(f"ORDER#{order}"), "sk": s("ORDER"), "state": s("paid"), "gsi1pk": s(f"ORDERS#{no}"), "gsi1sk": s(f"ORDER#{order}")}),
        put({"pk": s(f"ORDER#{order}"), "sk": s(f"ATTEMPT#{order}A01"), "state": s("paid")}),
        {"Update": {"TableName": table, "Key": {"pk": s(f"STU#{no}"), "sk": s("FEE#2026-2027#00")},
                    "UpdateExpression": "SET paid_fen = paid_fen + :a ADD credited_by :o",
                    "ConditionExpression": "attribute_exists(pk) AND NOT contains(credited_by, :on)",
                    "ExpressionAttributeValues": {":a": {"N": "260000"}, ":o": {"SS": [order]}, ":on": s(order)}}},
        {"Update": {"TableName": table, "Key": {"pk": s(f"STU#{no}"), "sk": s("FEE#2026-2027#01")},
                    "UpdateExpression": "SET paid_fen = paid_fen + :a ADD credited_by :o",
                    "ConditionExpression": "attribute_exists(pk) AND NOT contains(credited_by, :on)",
                    "ExpressionAttributeValues": {":a": {"N": "260000"}, ":o": {"SS": [order]}, ":on": s(order)}}},
        put({"pk": s(f"STU#{no}"), "sk": s(f"TXN#{order}A01"), "amount_fen": {"N": "520000"}}),
        put({"pk": s(f"ORDER#{order}"), "sk": s("AUDIT#2026-12-05T00:00:00.000000Z#00000000"), "action": s("attempt.paid")}),
    ]


def timed(fn, samples):
    out = []
    for i in range(samples):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--stock", action="store_true", help="stock moto (no moto_patches) for the before figure")
    args = ap.parse_args()
    if args.stock:
        os.environ["CAMPUS_MOTO_STOCK"] = "1"
    server = Server()
    try:
        ddb = server.client("dynamodb")
        table = make_table(ddb)
        t0 = time.perf_counter()
        students = fill(ddb, table, args.items)
        load = time.perf_counter() - t0
        count = ddb.describe_table(TableName=table)["Table"]["ItemCount"]
        label = "stock moto" if args.stock else "patched moto"
        print(f"{label}: {count} items ({students} students) loaded in {load:.1f} s; {args.samples} samples each")
        ops = {
            "tx6": lambda i: ddb.transact_write_items(TransactItems=tx6(table, i)),
            "update": lambda i: ddb.update_item(
                TableName=table, Key={"pk": s("SEQ#XF#261205#LUTAU"), "sk": s("SEQ")}, UpdateExpression="ADD seq :one",
                ConditionExpression="attribute_not_exists(seq) OR seq < :max",
                ExpressionAttributeValues={":one": {"N": "1"}, ":max": {"N": "999999"}}, ReturnValues="UPDATED_NEW"),
            "query": lambda i: ddb.query(
                TableName=table, KeyConditionExpression="pk = :p AND begins_with(sk, :f)",
                ExpressionAttributeValues={":p": s(f"STU#2021{i * 7 % students:06}"), ":f": s("FEE#")}),
            "gsi": lambda i: ddb.query(
                TableName=table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": s(f"ORDERS#2021{i * 10 % students:06}")}),
            "sweep": lambda i: ddb.query(
                TableName=table, IndexName="gsi2", KeyConditionExpression="gsi2pk = :p AND gsi2sk < :now",
                ExpressionAttributeValues={":p": s("SWEEP#ORDER"), ":now": s("2026-12-04T12:00:00Z")}, Limit=100),
        }
        print("| operation | median ms | p90 ms | min ms | max ms |")
        print("|---|---|---|---|---|")
        for name, fn in ops.items():
            xs = sorted(timed(fn, args.samples))
            p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
            print(f"| {name} | {statistics.median(xs):.1f} | {p90:.1f} | {xs[0]:.1f} | {xs[-1]:.1f} |", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
