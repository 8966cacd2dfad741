#!/usr/bin/env python3
"""Our CPU and store calls per request, endpoint by endpoint, on a running local platform.

The load is wrk's (Debian package `wrk`; one Lua script per endpoint, rotating through
logged-in students); this script only sets up the students and reads the counters:
  - our CPU: utime + stime of the platform process (/proc/PID/stat) over the run, per request;
  - store calls: requests moto served over the run (its `/_campus/stats`), per request, by
    operation; moto's own CPU over the run, per request.
A run is --duration seconds at --connections connections, after a 2 s warm-up.

Setup: --students students from the school's fee bills (scripts/gen_school.py output) log in
with their initial password, change it, and each makes (or reuses) an order of their payable
items: the order pages and 明细 have something to show.

usage: endpoints.py --base http://127.0.0.1:3000 --moto http://127.0.0.1:4566 --pid PID
                    --school .local/school-30000 [--table NAME] [--students 100] [--duration 10]
                    [--connections 4] [--only me,fees] [--json out.json]
Prints a Markdown table.
"""
import argparse
import csv
import glob
import http.cookiejar
import json
import os
import subprocess
import tempfile
import time
import urllib.request

NEW_PASSWORD = "Bench2026pw"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def moto_stats(moto: str) -> dict:
    with urllib.request.urlopen(f"{moto}/_campus/stats") as r:
        return json.load(r)


def first_login_code(moto: str, phone: str) -> str:
    """The code of the newest first-login SMS to `phone` (11 digits), as moto recorded it."""
    url = f"{moto}/_campus/sms?phone=%2B86{phone}"
    for _ in range(50):
        with urllib.request.urlopen(url) as r:
            texts = json.loads(r.read())
        codes = [t.split("验证码", 1)[1][:6] for t in texts if "首次登录验证" in t]
        if codes:
            return codes[-1]
        time.sleep(0.1)
    raise AssertionError(f"no first-login code sent to {phone}")


class Student:
    def __init__(self, base: str, moto: str, no: str, id_card: str, phone: str):
        self.base, self.moto, self.no, self.id_card, self.phone = base, moto, no, id_card, phone
        self.jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.order_no = None

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"})
        try:
            with self.http.open(req) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def activate(self, activated: set):
        """Logs in; the first time (not in `activated`, the school's record of earlier runs)
        with the initial password, the SMS code to the phone on file and the forced change. Never a wrong password: 50 failures
        from one address throttle it."""
        if self.no in activated:
            status, _ = self.call("POST", "/api/login", {"username": self.no, "password": NEW_PASSWORD})
            assert status == 200, f"login {self.no}: {status}"
            return
        status, _ = self.call("POST", "/api/login", {"username": self.no, "password": self.id_card[-8:]})
        assert status == 200, f"first login {self.no}: {status}"
        status, body = self.call("POST", "/api/password/code", {})
        assert status == 200, f"first-login code {self.no}: {status} {body}"
        code = first_login_code(self.moto, self.phone)
        change = {"old_password": self.id_card[-8:], "new_password": NEW_PASSWORD, "code": code}
        status, body = self.call("POST", "/api/password", change)
        assert status == 204, f"password change {self.no}: {status} {body}"
        activated.add(self.no)

    def order(self):
        status, fees = self.call("GET", "/api/fees")
        assert status == 200, status
        picked = [
            {"academic_year": y["academic_year"], "item_id": i["item_id"]}
            for y in fees["years"] for i in y["items"] if i.get("payable")
        ]
        if picked:
            status, body = self.call("POST", "/api/orders", {"items": picked})
            if status in (200, 201):
                self.order_no = body["order_no"]
        return picked

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def school_students(school: str, n: int):
    seen = {}
    for path in sorted(glob.glob(os.path.join(school, "fee-bill-*.csv"))):
        with open(path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["学号"] not in seen and row["状态"] == "收费":
                    seen[row["学号"]] = (row["身份证号"], row["手机号"])
                    if len(seen) == n:
                        return list(seen.items())
    return list(seen.items())


LUA = r"""
local reqs = {%(reqs)s}
local i = 0
request = function()
  i = i + 1
  local r = reqs[(i %% #reqs) + 1]
  return wrk.format(r[1], r[2], {["Cookie"] = r[3], ["Content-Type"] = "application/json", ["X-Forwarded-For"] = "127.0.0.1"}, r[4])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT {\"requests\": %%d, \"non2xx\": %%d, \"socket_errors\": %%d, \"p50_us\": %%d, \"p99_us\": %%d}\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_str(s):
    return "[==[" + s + "]==]" if s is not None else "nil"


def endpoints(students):
    """(name, [(method, path, cookie, body)]) for every student endpoint."""
    def each(method, path_of, body_of=None, who=students):
        return [(method, path_of(s), s.cookie, None if body_of is None else json.dumps(body_of(s))) for s in who]
    with_orders = [s for s in students if s.order_no]
    return [
        ("POST /api/login", each("POST", lambda s: "/api/login", lambda s: {"username": s.no, "password": NEW_PASSWORD})),
        ("GET /api/me", each("GET", lambda s: "/api/me")),
        ("GET /api/profile", each("GET", lambda s: "/api/profile")),
        ("GET /api/fees", each("GET", lambda s: "/api/fees")),
        ("GET /api/security-question", each("GET", lambda s: "/api/security-question")),
        ("GET /api/enrolment", each("GET", lambda s: "/api/enrolment")),
        ("GET /api/announcements", each("GET", lambda s: "/api/announcements")),
        ("POST /api/orders (reused)", each("POST", lambda s: "/api/orders", lambda s: {"items": s.picked}, with_orders)),
        ("GET /api/orders/{no}", each("GET", lambda s: f"/api/orders/{s.order_no}", None, with_orders)),
        ("GET /api/transactions", each("GET", lambda s: "/api/transactions")),
        ("GET /api/paid", each("GET", lambda s: "/api/paid")),
        ("GET /api/receipts", each("GET", lambda s: "/api/receipts")),
    ]


def run(name, reqs, args, pid):
    script = LUA % {"reqs": ",\n".join("{%s, %s, %s, %s}" % (lua_str(m), lua_str(p), lua_str(c), lua_str(b)) for m, p, c, b in reqs)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        wrk = ["wrk", "-t1", f"-c{args.connections}", "-s", f.name, args.base]
        subprocess.run(wrk + ["-d2s"], capture_output=True, check=True)  # warm-up
        cpu0, moto0 = cpu_seconds(pid), moto_stats(args.moto)
        out = subprocess.run(wrk + [f"-d{args.duration}s", "--latency"], capture_output=True, text=True, check=True).stdout
        cpu1, moto1 = cpu_seconds(pid), moto_stats(args.moto)
    finally:
        os.unlink(f.name)
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    n = result["requests"]
    calls = {k: (moto1["requests"].get(k, 0) - moto0["requests"].get(k, 0)) / n for k in moto1["requests"]}
    calls = {k.split(".", 1)[-1]: v for k, v in calls.items() if v > 0}
    return {
        "endpoint": name,
        "requests": n,
        "rps": n / args.duration,
        "non2xx": result["non2xx"] + result["socket_errors"],
        "our_cpu_ms": (cpu1 - cpu0) * 1000 / n,
        "moto_cpu_ms": (moto1["cpu_seconds"] - moto0["cpu_seconds"]) * 1000 / n,
        "store_calls": sum(v for k, v in calls.items() if k[0].isupper()),
        "by_operation": calls,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--moto", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--school", required=True)
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--table", default="campus-pay-local", help="names the record of activated students")
    ap.add_argument("--only")
    ap.add_argument("--json")
    args = ap.parse_args()

    t0 = time.time()
    students = [Student(args.base, args.moto, no, idc, tel) for no, (idc, tel) in school_students(args.school, args.students)]
    record = os.path.join(args.school, f"activated-{args.table}.txt")
    activated = set(open(record).read().split()) if os.path.exists(record) else set()
    try:
        for s in students:
            s.activate(activated)
            s.picked = s.order()
    finally:
        with open(record, "w") as f:
            f.write("\n".join(sorted(activated)))
    print(f"{len(students)} students logged in and ordered in {time.time() - t0:.1f} s "
          f"({sum(1 for s in students if s.order_no)} with an open order)", flush=True)
    wanted = set(args.only.split(",")) if args.only else None
    rows = []
    for name, reqs in endpoints(students):
        if wanted and not any(w in name for w in wanted):
            continue
        rows.append(run(name, reqs, args, args.pid))
        r = rows[-1]
        print(f"  {name}: {r['rps']:.0f}/s, our CPU {r['our_cpu_ms']:.3f} ms, store calls {r['store_calls']:.2f}", flush=True)
    print("\n| endpoint | requests/s | our CPU per request | store calls per request | moto CPU per request | p50 | p99 | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ops = ", ".join(f"{v:.2g} {k}" for k, v in sorted(r["by_operation"].items()))
        print(f"| {r['endpoint']} | {r['rps']:.0f} | {r['our_cpu_ms']:.3f} ms | {r['store_calls']:.2f} ({ops}) | "
              f"{r['moto_cpu_ms']:.2f} ms | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['non2xx']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
