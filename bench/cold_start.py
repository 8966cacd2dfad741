#!/usr/bin/env python3
"""Cold-start benchmark of one function binary under a local Lambda Runtime API.

For each run: start the binary (a fresh process, as a cold Lambda sandbox would), time
  init  = process start -> its first GET /runtime/invocation/next (ready for its first event)
  first = that GET -> the POST of the response for a real API Gateway v2 event
and stop it, reading its peak resident memory (VmHWM) first. The event is POST /api/login for a seeded demo student against moto, so `first`
includes argon2id verification and the first DynamoDB calls (new TCP connections).

usage: cold_start.py BINARY --runs N --endpoint http://127.0.0.1:4577 --table NAME
"""
import argparse, http.server, json, os, statistics, subprocess, threading, time

EVENT = {
    "version": "2.0", "routeKey": "POST /api/login", "rawPath": "/api/login", "rawQueryString": "",
    "headers": {"content-type": "application/json", "host": "bench.local"},
    "requestContext": {
        "accountId": "000000000000", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
        "http": {"method": "POST", "path": "/api/login", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
        "requestId": "bench", "routeKey": "POST /api/login", "stage": "$default", "time": "26/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
    },
    "body": json.dumps({"username": "2021010102", "password": "0708456X"}),
    "isBase64Encoded": False,
}


class Runtime(http.server.BaseHTTPRequestHandler):
    marks = {}
    served = False
    done = threading.Event()
    killed = threading.Event()

    def log_message(self, *a):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if Runtime.served:  # second poll: park until the process is gone, answer nothing
            Runtime.killed.wait(30)
            self.close_connection = True
            return
        Runtime.marks["ready"] = time.perf_counter()
        Runtime.served = True
        body = json.dumps(EVENT).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-0-0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        payload = self.rfile.read(length)
        Runtime.marks["response"] = time.perf_counter()
        Runtime.marks["status"] = json.loads(payload).get("statusCode") if payload else None
        self.send_response(202)
        self.end_headers()
        Runtime.done.set()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    args = ap.parse_args()
    env = dict(os.environ,
               AWS_LAMBDA_FUNCTION_NAME="bench",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="1",
               AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench",
               AWS_ENDPOINT_URL=args.endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="local",
               AWS_SECRET_ACCESS_KEY="local", TABLE_NAME=args.table, JWT_SECRET="b" * 48,
               COOKIE_SECURE="false", RUST_LOG="warn")
    inits, firsts, peaks = [], [], []
    for _ in range(args.runs):
        Runtime.marks, Runtime.served = {}, False
        Runtime.done, Runtime.killed = threading.Event(), threading.Event()
        # A fresh Runtime API per run, so a killed process's last poll cannot reach the next run.
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
        start = time.perf_counter()
        proc = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        Runtime.done.wait(30)
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        peaks.append(hwm / 1024)
        proc.kill()
        proc.wait()
        Runtime.killed.set()
        server.shutdown()
        server.server_close()
        m = Runtime.marks
        if m.get("status") != 200:
            raise SystemExit(f"unexpected result: {m}")
        inits.append((m["ready"] - start) * 1000)
        firsts.append((m["response"] - m["ready"]) * 1000)
    def summary(xs):
        xs = sorted(xs)
        return f"p50 {statistics.median(xs):.1f} ms, min {xs[0]:.1f}, max {xs[-1]:.1f}"
    print(f"runs: {args.runs}")
    print(f"init (process start -> ready for first event): {summary(inits)}")
    print(f"first invocation (POST /api/login, argon2id + DynamoDB): {summary(firsts)}")
    peaks.sort()
    print(f"peak resident memory (VmHWM) after the first invocation: p50 {statistics.median(peaks):.1f} MiB, "
          f"max {peaks[-1]:.1f} MiB, of MemorySize 256 MB")


if __name__ == "__main__":
    main()
