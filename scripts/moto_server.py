"""moto's server, processing one request at a time.

DynamoDB applies each conditional write atomically and each TransactWriteItems in isolation.
moto's stock server is threaded and takes no lock, so under concurrent requests two conditional
updates (or two transactions) can interleave: we saw a daily serial handed out twice and a
transaction applied after its twin had won. Serialising requests gives the guarantees the
code relies on (moto gains nothing from threads anyway: the GIL). Connections are still
accepted concurrently.

It also applies `moto_patches`: moto's DynamoDB made proportional to the request rather than
the table (transaction rollback, queries on the table and its GSIs, item tracking).

For benchmarks it answers `GET /_campus/stats`: the requests it served per DynamoDB operation
(and the rest by service), the SMS published, and its own CPU seconds, so that a bench can
report store calls per request and the emulator's CPU beside ours.

`GET /_campus/sms?phone=+8613912345678` answers the texts SNS accepted for one phone, oldest
first: what the browser tests and the peak bench read as the student's phone (moto's own
`/moto-api/data.json` dumps every service's whole state, which grows with every test run).

usage: python moto_server.py HOST PORT
"""
import collections
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_patches  # noqa: E402

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

if os.environ.get("CAMPUS_MOTO_STOCK") != "1":  # stock moto only for bench/moto_scale.py --stock
    moto_patches.apply()
host, port = sys.argv[1], int(sys.argv[2])
moto_app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()
served = collections.Counter()


def stats():
    from moto.sns.models import sns_backends

    sms = sum(len(b.sms_messages) for _, _, b in sns_backends.iter_backends())
    return {"requests": dict(served), "sms_published": sms, "cpu_seconds": time.process_time()}


def sms_to(phone):
    from moto.sns.models import sns_backends

    return [m for _, _, b in sns_backends.iter_backends() for (p, m) in b.sms_messages.values() if p == phone]


def answer(start_response, value):
    body = json.dumps(value, ensure_ascii=False).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def serial_app(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == "/_campus/stats":
        with one_at_a_time:
            return answer(start_response, stats())
    if path == "/_campus/sms":
        from urllib.parse import parse_qs

        phone = parse_qs(environ.get("QUERY_STRING", "")).get("phone", [""])[0]
        with one_at_a_time:
            return answer(start_response, sms_to(phone))
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        kind = "dynamodb." + target.split(".", 1)[1]
    else:  # the service from the signature's credential scope: …/<date>/<region>/<service>/aws4_request
        auth = environ.get("HTTP_AUTHORIZATION", "")
        kind = auth.split("/")[3] if auth.count("/") >= 4 else "other"
    with one_at_a_time:
        served[kind] += 1
        # Build the whole body while holding the lock.
        return [b"".join(moto_app(environ, start_response))]


if os.environ.get("CAMPUS_MOTO_CLOSE") == "1":
    # werkzeug's development server, as moto ships it: it closes the connection after every
    # response ("Connection: close", werkzeug 3.x), so each call costs the client a TCP connect.
    run_simple(host, port, serial_app, threaded=True, request_handler=MotoRequestHandler)
else:
    # waitress: HTTP/1.1 with keep-alive, as DynamoDB and SNS answer, so a client's connection
    # serves many calls. Requests still run one at a time (serial_app's lock); its threads only
    # let connections be read and written concurrently.
    # Kept connections add up (a test run's clients keep theirs until the process ends): room
    # for many, polled with poll() rather than select(), which stops at descriptor 1024.
    import resource
    import waitress

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    waitress.serve(
        serial_app,
        host=host,
        port=port,
        threads=8,
        connection_limit=max(100, hard - 100),
        backlog=2048,
        asyncore_use_poll=True,
        channel_timeout=120,
        ident="moto",
        _quiet=True,
    )
