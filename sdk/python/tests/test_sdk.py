"""Tests of the Python SDK against a running server (the Go test
TestPythonSDK starts one and sets GATEHOUSE_API_URL, GATEHOUSE_API_KEY
to an organization key and GATEHOUSE_ENV_API_KEY to an environment key)."""

import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import unittest

from gatehouse import Client, GatehouseError, WebhookVerificationError, verify_webhook

BASE = os.environ.get("GATEHOUSE_API_URL")
KEY = os.environ.get("GATEHOUSE_API_KEY")
if not BASE or not KEY:
    raise SystemExit("set GATEHOUSE_API_URL and GATEHOUSE_API_KEY (an organization key) to a running server")

org = Client(api_key=KEY, base_url=BASE)
gh = org.with_environment("default", "development")


class SeedExample(unittest.TestCase):
    def test_seed_002(self):
        # Our API reference's Python example, as written there but for the package
        # name and the key (the server comes from GATEHOUSE_API_URL).
        client = Client(api_key=os.environ["GATEHOUSE_ENV_API_KEY"])
        resources = client.resources.list()
        self.assertIsInstance(resources.items, list)
        self.assertIn("total_items", resources.meta)


class Facts(unittest.TestCase):
    def test_facts_checks_and_decisions(self):
        user = gh.users.create(key="py-alice", email="alice@example.com", attributes={"plan": "pro"})
        self.assertEqual(user["key"], "py-alice")
        self.assertEqual(user["attributes"], {"plan": "pro"})
        gh.tenants.create(key="py-acme", name="Acme")
        gh.resources.create(key="py-doc", name="Document", actions=["read", "write"])
        gh.roles.create(key="py-reader", permissions=["py-doc:read"])
        a = gh.role_assignments.assign("py-alice", "py-reader", tenant="py-acme")
        self.assertEqual(a["role"], "py-reader")

        self.assertTrue(gh.checks.allowed("py-alice", "read", "py-doc", tenant="py-acme")["allow"])
        self.assertFalse(gh.checks.allowed("py-alice", "write", {"type": "py-doc", "tenant": "py-acme"})["allow"])
        bulk = gh.checks.bulk([
            {"user": "py-alice", "action": "read", "resource": {"type": "py-doc", "tenant": "py-acme"}},
            {"user": "py-alice", "action": "write", "resource": {"type": "py-doc", "tenant": "py-acme"}},
        ])
        self.assertEqual([d["allow"] for d in bulk], [True, False])
        perms = {p["tenant"]: p["permissions"] for p in gh.checks.user_permissions("py-alice")}
        self.assertEqual(perms["py-acme"], ["py-doc:read"])

        gh.roles.set_permissions("py-reader", ["py-doc:read", "py-doc:write"])
        self.assertTrue(gh.checks.allowed("py-alice", "write", "py-doc", tenant="py-acme")["allow"])
        self.assertEqual(gh.users.update("py-alice", first_name="Alice")["first_name"], "Alice")
        gh.role_assignments.unassign("py-alice", "py-reader", tenant="py-acme")
        self.assertFalse(gh.checks.allowed("py-alice", "read", "py-doc", tenant="py-acme")["allow"])
        gh.users.delete("py-alice")
        with self.assertRaises(GatehouseError) as cm:
            gh.users.get("py-alice")
        self.assertTrue(cm.exception.is_not_found)
        self.assertEqual(cm.exception.status, 404)
        self.assertTrue(cm.exception.request_id)

    def test_seed_002_resource_fields(self):
        r = gh.resources.create(name="Py Server", type="server", config={"region": "eu-west-1"})
        self.assertEqual(r["type"], "server")
        self.assertEqual(r["config"], {"region": "eu-west-1"})
        self.assertEqual(gh.resources.update(r["id"], status="archived")["status"], "archived")
        keys = [x["key"] for x in gh.resources.all(status="archived")]
        self.assertIn(r["key"], keys)

    def test_pages_and_iterator(self):
        for i in range(7):
            gh.tenants.create(key=f"py-page-{i}")
        first = gh.tenants.list(search="py-page-", per_page=3)
        self.assertEqual(len(first), 3)
        self.assertEqual(first.meta["total_items"], 7)
        self.assertEqual(first.meta["total_pages"], 3)
        self.assertTrue(first.meta["has_next"])
        keys = [t["key"] for t in gh.tenants.all(search="py-page-", per_page=2)]
        self.assertEqual(len(set(keys)), 7)


class Errors(unittest.TestCase):
    def test_codes(self):
        with self.assertRaises(GatehouseError) as cm:
            gh.users.create(key="")
        self.assertEqual((cm.exception.status, cm.exception.code), (400, "INVALID_REQUEST"))
        gh.tenants.create(key="py-dup")
        with self.assertRaises(GatehouseError) as cm:
            gh.tenants.create(key="py-dup")
        self.assertTrue(cm.exception.is_conflict)
        with self.assertRaises(GatehouseError) as cm:
            Client(api_key="not-a-key", base_url=BASE).projects.list()
        self.assertTrue(cm.exception.is_unauthorized)
        with self.assertRaises(GatehouseError) as cm:
            org.users.list()  # an organization key names no environment
        self.assertEqual(cm.exception.code, "INVALID_REQUEST")
        with self.assertRaises(GatehouseError) as cm:
            Client(api_key=KEY, base_url="http://127.0.0.1:1", retries=0).projects.list()
        self.assertEqual(cm.exception.status, 0)

    def test_environment_key(self):
        k = org.api_keys.create(name="py-env", level="environment", project="default", environment="development",
                                scopes=["check:access", "view:user"])
        env_client = Client(api_key=k["token"], base_url=BASE)
        self.assertEqual(env_client.system.me()["level"], "environment")
        self.assertIsInstance(env_client.users.list().items, list)
        with self.assertRaises(GatehouseError) as cm:
            env_client.tenants.create(key="py-nope")
        self.assertTrue(cm.exception.is_forbidden)
        self.assertEqual(org.api_keys.revoke(k["id"])["status"], "revoked")


class Jobs(unittest.TestCase):
    def test_import_wait_export(self):
        rows = "".join(json.dumps({"type": "user", "key": f"py-u{i}"}) + "\n" for i in range(120)).encode()
        job = gh.jobs.import_file(rows, batch_size=50)
        seen = []
        done = gh.jobs.wait(job["id"], interval=0.1, timeout=60, on_progress=lambda j: seen.append(j["progress"]["percent"]))
        self.assertEqual(done["status"], "succeeded")
        self.assertEqual(done["result"]["created"], 120)
        self.assertEqual(seen[-1], 100)
        with self.assertRaises(GatehouseError) as cm:
            gh.jobs.import_file(b'{"type":"user","key":""}\nnot json\n')
        self.assertEqual([e["line"] for e in cm.exception.details["errors"]], [1, 2])
        csv = b"key,email\npy-c1,c1@example.com\npy-c2,c2@example.com\n"
        j = gh.jobs.wait(gh.jobs.import_file(csv, format="csv", type="users")["id"], interval=0.1, timeout=60)
        self.assertEqual(j["result"]["created"], 2)
        exp = gh.jobs.start("export")
        self.assertEqual(gh.jobs.wait(exp["id"], interval=0.1, timeout=60)["status"], "succeeded")
        self.assertIn('"key":"py-u119"', gh.jobs.output(exp["id"]))


class Retries(unittest.TestCase):
    def test_retry_after(self):
        calls = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                calls.append(self.path)
                if len(calls) == 1:
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"status":"error","error":{"code":"RATE_LIMITED","message":"slow down"}}')
                    return
                if len(calls) == 2:
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                body = json.dumps({"status": "success", "data": [{"key": "default"}], "meta": {"has_next": False}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{srv.server_port}"
            start = time.monotonic()
            self.assertEqual(Client(api_key="k", base_url=url).projects.list().items[0]["key"], "default")
            self.assertEqual(len(calls), 3)
            self.assertGreaterEqual(time.monotonic() - start, 0.9)
            calls.clear()
            with self.assertRaises(GatehouseError) as cm:
                Client(api_key="k", base_url=url, retries=0).projects.list()
            self.assertEqual((cm.exception.status, cm.exception.code), (429, "RATE_LIMITED"))
        finally:
            srv.shutdown()


class Webhooks(unittest.TestCase):
    def test_verify(self):
        secret = "whsec_test"
        body = json.dumps({"id": "evt_1", "event": "user.created", "data": {"key": "alice"}}).encode()
        sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        now = str(int(time.time()))
        self.assertEqual(verify_webhook(secret, {"X-Signature": sig, "X-Webhook-Timestamp": now}, body)["event"], "user.created")
        self.assertEqual(verify_webhook(secret, {"x-signature": "old", "x-signature-new": sig, "x-webhook-timestamp": now}, body)["id"], "evt_1")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook("wrong", {"X-Signature": sig, "X-Webhook-Timestamp": now}, body)
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(secret, {"X-Signature": sig, "X-Webhook-Timestamp": str(int(now) - 3600)}, body)

    def test_endpoints(self):
        w = org.webhooks.create("https://hooks.example.com/py", ["user.created"], description="py")
        self.assertTrue(w["secret"])
        self.assertIn(w["id"], [x["id"] for x in org.webhooks.list().items])
        org.webhooks.delete(w["id"])


if __name__ == "__main__":
    unittest.main()
