"""moto's server, processing one request at a time.

DynamoDB applies each conditional write atomically and each TransactWriteItems in isolation.
moto's stock server is threaded and takes no lock, so under concurrent requests two conditional
updates (or two transactions) can interleave: we saw a daily serial handed out twice and a
transaction applied after its twin had won. Serialising requests gives the guarantees the
code relies on (moto gains nothing from threads anyway: the GIL). Connections are still
accepted concurrently.

usage: python moto_server.py HOST PORT
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

host, port = sys.argv[1], int(sys.argv[2])
moto_app = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()


def serial_app(environ, start_response):
    with one_at_a_time:
        # Build the whole body while holding the lock.
        return [b"".join(moto_app(environ, start_response))]


run_simple(host, port, serial_app, threaded=True, request_handler=MotoRequestHandler)
