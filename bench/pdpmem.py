#!/usr/bin/env python3
"""Resident memory of `gatehouse pdp` against `gatehouse-pdp` on one server.

Starts `gatehouse serve` on a data dir (made by `gatehouse init` and
go run ./tools/benchdata), makes an environment key with
check:access, then runs each PDP in turn, alternating, each from an empty
snapshot folder: waits for its /healthz, sends 200 checks taken from the
data's role assignments, lets it settle, reads /proc/PID/status and stops it.
Prints one line per run and the medians, in MB of 10^6 bytes.

  python3 bench/pdpmem.py --gatehouse /tmp/gh --pdp /tmp/gh-pdp --data-dir /tmp/d1 --init /tmp/init1.json --runs 3
"""
import argparse, json, os, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request, urllib.error


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, key=None, body=None, timeout=30):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if key:
        req.add_header("Authorization", "Bearer " + key)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ok(url, proc, within):
    deadline = time.time() + within
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{url}: the process ended ({proc.returncode})")
        try:
            if call("GET", url, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url}: not ready within {within} s")


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024 / 1e6
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatehouse", required=True)
    ap.add_argument("--pdp", required=True, help="the gatehouse-pdp binary")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--init", required=True, help="gatehouse init -o json's output for the data dir")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--settle", type=float, default=8)
    a = ap.parse_args()
    org_key = json.load(open(a.init))["api_key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tempfile.gettempdir(), f"pdpmem-serve-{port}.log"), "w")
    srv = subprocess.Popen([a.gatehouse, "serve", "--data-dir", a.data_dir, "--addr", f"127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        t0 = time.time()
        wait_ok(base + "/readyz", srv, 600)
        print(f"server ready in {time.time() - t0:.1f} s", flush=True)
        st, made = call("POST", base + "/v1/api-keys", org_key, {"name": "pdpmem", "level": "environment", "project": "default",
                        "environment": "development", "scopes": ["check:access", "view:role", "view:role_assignment"]})
        assert st == 201, (st, made)
        key = made["data"]["token"]
        st, roles = call("GET", base + "/v1/roles?per_page=100", key)
        assert st == 200, (st, roles)
        perm = {r["key"]: r["permissions"][0] for r in roles["data"] if r.get("permissions")}
        st, assigned = call("GET", base + "/v1/role-assignments?per_page=100", key)
        assert st == 200, (st, assigned)
        checks = []
        for x in assigned["data"]:
            if x.get("role") in perm and x.get("tenant"):
                typ, _, action = perm[x["role"]].partition(":")
                checks.append({"user": x["user"], "action": action, "resource": {"type": typ, "tenant": x["tenant"]}})
        assert checks, assigned["data"][:3]
        st, first = call("POST", base + "/v1/allowed", key, checks[0])
        assert st == 200 and first["data"]["allow"], (st, first)
        engines = [("gatehouse pdp", [a.gatehouse, "pdp"]), ("gatehouse-pdp", [a.pdp])]
        results = {name: [] for name, _ in engines}
        for run in range(a.runs):
            for name, argv in (engines if run % 2 == 0 else engines[::-1]):
                pport = free_port()
                pbase = f"http://127.0.0.1:{pport}"
                snap = tempfile.mkdtemp(prefix="pdpmem-snap-")
                plog = open(os.path.join(snap, "pdp.log"), "w")
                env = dict(os.environ, GATEHOUSE_API_KEY=key)
                t0 = time.time()
                p = subprocess.Popen(argv + ["--api-url", base, "--addr", f"127.0.0.1:{pport}", "--snapshot-dir", snap], env=env, stdout=plog, stderr=plog)
                try:
                    wait_ok(pbase + "/healthz", p, 600)
                    ready = time.time() - t0
                    allowed = 0
                    for i in range(a.checks):
                        st, ans = call("POST", pbase + "/v1/allowed", key, checks[i % len(checks)])
                        assert st == 200, (st, ans)
                        allowed += ans["data"]["allow"]
                    time.sleep(a.settle)
                    m = status(p.pid)
                    m["ready"], m["allowed"] = ready, allowed
                    results[name].append(m)
                    print(f"run {run + 1} {name:14} VmRSS {m['VmRSS']:6.1f}  RssAnon {m['RssAnon']:6.1f}  RssFile {m['RssFile']:6.1f}  "
                          f"VmHWM {m['VmHWM']:6.1f}  ready {ready:5.1f} s  allowed {allowed}/{a.checks}", flush=True)
                finally:
                    p.send_signal(signal.SIGINT)
                    p.wait(60)
        print("medians (MB):")
        base_m = {k: statistics.median(r[k] for r in results["gatehouse pdp"]) for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
        for name, _ in engines:
            med = {k: statistics.median(r[k] for r in results[name]) for k in base_m}
            print(f"  {name:14} " + "  ".join(f"{k} {med[k]:6.1f} ({med[k] / base_m[k]:.2f}x)" for k in base_m))
        for b in (a.gatehouse, a.pdp):
            print(f"  {os.path.basename(b)}: {os.path.getsize(b) / 1e6:.1f} MB")
    finally:
        srv.send_signal(signal.SIGINT)
        srv.wait(120)


if __name__ == "__main__":
    main()
