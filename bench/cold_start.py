#!/usr/bin/env python3
"""Cold start, size and peak memory of every function binary, under a local Lambda Runtime API.

For each function and each run: start its binary (a fresh process, as a cold Lambda sandbox
would), time
  init  = process start -> its first GET /runtime/invocation/next (ready for its first event)
  first = that GET -> the POST of its answer to a real event (an API Gateway v2 request for the
          HTTP functions, the console or schedule event for the others)
then hand it the same event `--warm` more times and read its peak resident memory (VmHWM)
before stopping it. Peak memory is reported against the function's MemorySize in
infra/template.yaml; zip size is the binary zipped as `bootstrap` (deflate), as deployed.

Events act on a seeded table (`campus-local --seed-only`): 李四 changes his password at every
profile event (to one of two passwords, in turn); 张三, already ready to pay, reads fees, makes
an order (the open order is reused after the first run), reads records and receipts. Session
cookies come from the login binary itself. Notifications carry no valid signature and the
gateways are not configured here, so their first invocation is a refusal: their figure is init
plus a rejected request (the sandboxes' keys are in-process only).

usage: cold_start.py TARGET_DIR --runs N --endpoint http://127.0.0.1:4577 --table NAME
           [--only login,profile] [--warm 3]
Needs boto3 (moto's venv) for the import's file.
"""
import argparse, http.server, io, json, os, re, statistics, subprocess, threading, time, zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FUNCTIONS = ["login", "profile", "fees", "orders", "records", "receipts", "notify", "sweeper", "outbox", "reconcile",
             "refund", "import", "audit"]
PASSWORDS = ["Campus2026a", "Campus2026b"]  # 李四's, in turn, after the initial 0708456X


def http_event(method, path, body=None, cookie=None, headers=None):
    # As our pages' fetches arrive: JSON, same-origin (the cross-site guard refuses others).
    h = {"content-type": "application/json", "sec-fetch-site": "same-origin", "host": "bench.local", **(headers or {})}
    e = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": h,
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench", "routeKey": "$default", "stage": "$default", "time": "04/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    if cookie:
        e["cookies"] = [cookie]
    if body is not None:
        e["body"] = body if isinstance(body, str) else json.dumps(body)
    return e


class Runtime(http.server.BaseHTTPRequestHandler):
    """The Runtime API for one process: hands out `events` in turn, records each answer."""
    events, answers, marks = [], [], {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        n = len(Runtime.answers)
        if n >= len(Runtime.events):  # nothing more: park until the process is gone
            Runtime.killed.wait(30)
            self.close_connection = True
            return
        Runtime.marks.setdefault("ready", time.perf_counter())
        body = json.dumps(Runtime.events[n]).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{n}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-0-0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Runtime.marks.setdefault("answer", time.perf_counter())
        Runtime.answers.append((self.path.rsplit("/", 1)[-1], json.loads(payload) if payload else None))
        self.send_response(202)
        self.end_headers()
        if len(Runtime.answers) == len(Runtime.events):
            Runtime.done.set()


def run(binary, env, events):
    """One cold process through `events`: (init ms, first ms, peak MiB, answers)."""
    Runtime.events, Runtime.answers, Runtime.marks = events, [], {}
    Runtime.done, Runtime.killed = threading.Event(), threading.Event()
    # A fresh Runtime API per process, so a killed process's last poll cannot reach the next.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = Runtime.done.wait(60)
    with open(f"/proc/{proc.pid}/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    proc.kill()
    _, err = proc.communicate()
    Runtime.killed.set()
    server.shutdown()
    server.server_close()
    if not ok:
        raise SystemExit(f"{binary}: no answer to {len(events)} events within 60 s: {err.decode()[-2000:]}")
    m = Runtime.marks
    return (m["ready"] - start) * 1000, (m["answer"] - m["ready"]) * 1000, peak, Runtime.answers


def outcome(answer):
    kind, payload = answer
    if kind == "error":
        return "error: " + str((payload or {}).get("errorMessage", ""))[:60]
    if isinstance(payload, dict) and "statusCode" in payload:
        return str(payload["statusCode"])
    return "ok"


def session_cookie(answer):
    payload = answer[1] or {}
    for c in payload.get("cookies", []):
        if c.startswith("cp_session=") and not c.startswith("cp_session=;"):  # plain http: no __Host- prefix
            return c.split(";", 1)[0]
    raise SystemExit(f"no session cookie in {payload}")


def memory_sizes():
    """Each function's MemorySize from the template (the Globals' value unless it sets its own)."""
    text = open(os.path.join(ROOT, "infra", "template.yaml")).read()
    default = int(re.search(r"Globals:.*?MemorySize: (\d+)", text, re.S).group(1))
    sizes = {}
    for block in re.split(r"\n  (?=\w+Function:\n)", text)[1:]:
        binary = re.search(r"\n        Binary: ([\w-]+)", block)
        if binary:
            own = re.search(r"\n      MemorySize: (\d+)", block)
            sizes[binary.group(1)] = int(own.group(1)) if own else default
    return sizes


def zip_size(binary):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    return len(buf.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target", help="the directory of the release binaries")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warm", type=int, default=3, help="events after the first, in the same process")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--only", default=",".join(FUNCTIONS))
    args = ap.parse_args()
    bucket = "ops-" + re.sub(r"[^a-z0-9-]", "-", args.table.lower())  # local::ops_bucket's name
    env = dict(os.environ, OPS_BUCKET=bucket,
                AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="1",
                AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench",
                AWS_ENDPOINT_URL=args.endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="local",
                AWS_SECRET_ACCESS_KEY="local", TABLE_NAME=args.table, JWT_SECRET="b" * 48,
                COOKIE_SECURE="false", RUST_LOG="warn")
    binary = lambda name: os.path.join(args.target, name)
    login = lambda user, password: run(binary("login"), env, [http_event("POST", "/api/login", {"username": user, "password": password})])[3][0]

    # 张三 ready to pay: his initial password changed once, through the functions themselves.
    first = login("2021010101", "03151235")
    ready = session_cookie(run(binary("profile"), env, [http_event("POST", "/api/password", {"old_password": "03151235", "new_password": "Campus2026a"}, session_cookie(first))])[3][0])
    fees = json.loads(run(binary("fees"), env, [http_event("GET", "/api/fees", cookie=ready)])[3][0][1]["body"])
    items = [{"academic_year": y["academic_year"], "item_id": i["item_id"]} for y in fees.get("years", []) for i in y.get("items", []) if i.get("payable")][:1]
    import boto3  # moto's venv
    boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local") \
        .put_object(Bucket=bucket, Key="imports/cold.csv", Body="学号,姓名,身份证号,学年,收费项目代码,收费项目,应缴金额,收费开始,收费结束,状态\n".encode())
    li_si = {"password": "0708456X", "turn": 0}

    def events(name):
        if name == "login":
            return [http_event("POST", "/api/login", {"username": "2021010102", "password": li_si["password"]})] * (1 + args.warm)
        if name == "profile":  # password changes (each two argon2id runs), one after another
            cookie = session_cookie(login("2021010102", li_si["password"]))
            changes = []
            for _ in range(1 + args.warm):
                new = PASSWORDS[li_si["turn"] % 2]
                changes.append(http_event("POST", "/api/password", {"old_password": li_si["password"], "new_password": new}, cookie))
                li_si["password"], li_si["turn"] = new, li_si["turn"] + 1
            return changes
        one = {
            "fees": http_event("GET", "/api/fees", cookie=ready),
            "orders": http_event("POST", "/api/orders", {"items": items}, ready),
            "records": http_event("GET", "/api/paid", cookie=ready),
            "receipts": http_event("GET", "/api/receipts", cookie=ready),
            # An Alipay notification that does not verify (all three channels share the function).
            "notify": http_event("POST", "/api/notify/alipay", "out_trade_no=x&sign=bm90IGEgc2lnbmF0dXJl", headers={"content-type": "application/x-www-form-urlencoded"}),
            "sweeper": {"source": "aws.events", "detail-type": "Scheduled Event"},
            # A stream batch naming an outbox item that is not there: claimed by nobody, nothing sent.
            "outbox": {"Records": [{"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                                    "dynamodb": {"ApproximateCreationDateTime": 1765000000, "SequenceNumber": "100", "SizeBytes": 40,
                                                 "StreamViewType": "KEYS_ONLY", "Keys": {"pk": {"S": "OUTBOX#PJXF261207LUTAU999999"}, "sk": {"S": "SMS"}}}}]},
            "reconcile": {"date": "2026-12-01", "operator": "财务处-张敏"},
            "refund": {"out_trade_no": "XF261204LUTAU000001A01", "reason": "冷启动测量", "operator": "财务处-张敏"},
            "import": {"key": "imports/cold.csv", "operator": "财务处-张敏"},
            "audit": {"student_no": "2021010101"},
        }[name]
        return [one] * (1 + args.warm)

    sizes = memory_sizes()
    print(f"runs: {args.runs} cold processes per function, each answering 1 + {args.warm} events\n")
    print("| function | zip | binary | init p50 (min–max) | first invocation p50 (min–max) | first answer | peak memory p50, max | MemorySize | peak / MemorySize |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.only.split(","):
        fenv = env  # the functions that serve no sessions run without the session key, as deployed
        if name in ("notify", "sweeper", "outbox"):
            fenv = {k: v for k, v in env.items() if k != "JWT_SECRET"}
        inits, firsts, peaks, answers = [], [], [], None
        for _ in range(args.runs):
            i, f, p, answers = run(binary(name), fenv, events(name))
            inits.append(i)
            firsts.append(f)
            peaks.append(p)
        s = lambda xs: f"{statistics.median(xs):.1f} ms ({min(xs):.1f}–{max(xs):.1f})"
        mem = sizes.get(name, 0)
        print(f"| {name} | {zip_size(binary(name)) / 1e6:.1f} MB | {os.path.getsize(binary(name)) / 1e6:.1f} MB | {s(inits)} | {s(firsts)} "
              f"| {outcome(answers[0])} | {statistics.median(peaks):.1f} MiB, {max(peaks):.1f} | {mem} MB | {max(peaks) * 1.048576 / mem:.0%} |", flush=True)


if __name__ == "__main__":
    main()
