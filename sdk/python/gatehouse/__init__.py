"""Gatehouse's Python SDK: the standard library only.

    from gatehouse import Client

    client = Client(api_key="YOUR_API_KEY")
    resources = client.resources.list()
    decision = client.checks.allowed(user="alice", action="read", resource={"type": "document", "tenant": "acme"})

The key defaults to GATEHOUSE_API_KEY and the server to GATEHOUSE_API_URL
(else http://127.0.0.1:8080). Every method raises GatehouseError on an
error answer; 429 and 503 answers are retried as Retry-After says.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Union

__all__ = ["Client", "GatehouseError", "Page", "verify_webhook", "WebhookVerificationError"]
__version__ = "0.1.0"


class GatehouseError(Exception):
    """An error answer of the API (or status 0: the server was not reached).

    code is the API's code (NOT_FOUND, INVALID_REQUEST, UNAUTHORIZED,
    FORBIDDEN, CONFLICT, RATE_LIMITED, ...); details its details, e.g. the
    line numbers of an import's bad rows in details["errors"].
    """

    def __init__(self, status: int, code: str, message: str, details: Optional[dict] = None, request_id: str = ""):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id

    @property
    def is_not_found(self) -> bool:
        return self.code == "NOT_FOUND"

    @property
    def is_conflict(self) -> bool:
        return self.code == "CONFLICT"

    @property
    def is_unauthorized(self) -> bool:
        return self.code == "UNAUTHORIZED"

    @property
    def is_forbidden(self) -> bool:
        return self.code == "FORBIDDEN"


@dataclass
class Page:
    """One page of a list: items and the list's meta (page, per_page,
    total_items, total_pages, has_next, has_previous, request_id)."""

    items: List[dict]
    meta: Dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


class Client:
    """A Gatehouse client.

    api_key: an API key (default GATEHOUSE_API_KEY).
    base_url: the server (default GATEHOUSE_API_URL, else http://127.0.0.1:8080).
    project, environment: the environment of environment-scoped calls made
        with an organization or project key (an environment key implies its own).
    organization_id: sent as X-Organization-Id.
    retries: how often a 429 or 503 is retried (default 3); max_retry_wait
        (seconds, default 30) is the longest Retry-After waited for.
    timeout: seconds per request (default 30).
    """

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *, project: Optional[str] = None,
                 environment: Optional[str] = None, organization_id: Optional[str] = None, retries: int = 3,
                 max_retry_wait: float = 30.0, timeout: float = 30.0, user_agent: str = "gatehouse-python/" + __version__):
        self.api_key = api_key if api_key is not None else os.environ.get("GATEHOUSE_API_KEY", "")
        self.base_url = (base_url or os.environ.get("GATEHOUSE_API_URL") or "http://127.0.0.1:8080").rstrip("/")
        self.project, self.environment = project, environment
        self.organization_id = organization_id
        self.retries, self.max_retry_wait, self.timeout = retries, max_retry_wait, timeout
        self.user_agent = user_agent
        self.users = _Facts(self, "/v1/users")
        self.tenants = _Facts(self, "/v1/tenants")
        self.resources = _Resources(self, "/v1/resources")
        self.roles = _Roles(self, "/v1/roles")
        self.role_assignments = _RoleAssignments(self)
        self.checks = _Checks(self)
        self.decisions = _Decisions(self)
        self.projects = _Projects(self)
        self.environments = _Environments(self)
        self.api_keys = _APIKeys(self)
        self.logs = _Logs(self)
        self.webhooks = _Webhooks(self)
        self.jobs = _Jobs(self)
        self.system = _System(self)

    def with_environment(self, project: str, environment: str) -> "Client":
        """A client whose environment-scoped calls act on this environment."""
        return Client(self.api_key, self.base_url, project=project, environment=environment,
                      organization_id=self.organization_id, retries=self.retries,
                      max_retry_wait=self.max_retry_wait, timeout=self.timeout, user_agent=self.user_agent)

    # ---- transport ----

    def _env(self, query: Optional[dict]) -> dict:
        q = dict(query or {})
        if self.project or self.environment:
            q.setdefault("project", self.project)
            q.setdefault("environment", self.environment)
        return q

    def request(self, method: str, path: str, *, query: Optional[dict] = None, body: Any = None, raw: Optional[bytes] = None,
                content_type: Optional[str] = None, env: bool = False) -> "tuple[Any, dict]":
        """Sends a request and returns the envelope's (data, meta); raises
        GatehouseError on an error answer."""
        q = self._env(query) if env else dict(query or {})
        q = {k: _qv(v) for k, v in q.items() if v is not None}
        url = self.base_url + path + ("?" + urllib.parse.urlencode(q, doseq=True) if q else "")
        headers = {"Authorization": "Bearer " + self.api_key, "Accept": "application/json", "User-Agent": self.user_agent}
        if self.organization_id:
            headers["X-Organization-Id"] = self.organization_id
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        attempt = 0
        while True:
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as res:
                    payload = res.read()
                    ctype = res.headers.get("Content-Type", "")
                    if res.status == 204 or not payload:
                        return None, {}
                    if ctype.split(";")[0].strip().lower() != "application/json":
                        return payload.decode(), {}  # an export's JSON Lines, CSV, ...
                    doc = json.loads(payload)
                    if isinstance(doc, dict) and "data" in doc:
                        return doc["data"], doc.get("meta") or {}
                    return doc, {}
            except urllib.error.HTTPError as err:
                payload = err.read()
                if err.code in (429, 503) and attempt < self.retries:
                    wait = _retry_after(err.headers.get("Retry-After"), attempt)
                    if wait <= self.max_retry_wait:
                        attempt += 1
                        time.sleep(wait)
                        continue
                raise _error(err.code, payload, err.headers.get("X-Request-Id", "")) from None
            except urllib.error.URLError as err:
                raise GatehouseError(0, "UNREACHABLE", f"cannot reach {self.base_url}: {err.reason}") from None

    def _one(self, method: str, path: str, **kw) -> Any:
        return self.request(method, path, **kw)[0]

    def _page(self, path: str, query: Optional[dict], env: bool) -> Page:
        data, meta = self.request("GET", path, query=query, env=env)
        return Page(items=data or [], meta=meta)

    def _all(self, path: str, query: Optional[dict], env: bool) -> Iterator[dict]:
        q = dict(query or {})
        q.setdefault("per_page", 100)
        page = int(q.pop("page", 1))
        while True:
            p = self._page(path, dict(q, page=page), env)
            yield from p.items
            if not p.meta.get("has_next"):
                return
            page += 1


def _qv(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _retry_after(value: Optional[str], attempt: int) -> float:
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return 0.25 * (2 ** attempt)


def _error(status: int, payload: bytes, request_id: str) -> GatehouseError:
    try:
        doc = json.loads(payload)
        e = doc.get("error") or {}
        rid = (doc.get("meta") or {}).get("request_id") or request_id
        if e.get("code"):
            return GatehouseError(status, e["code"], e.get("message", ""), e.get("details") or {}, rid)
    except (ValueError, AttributeError):
        pass
    return GatehouseError(status, f"HTTP_{status}", payload.decode(errors="replace")[:200], {}, request_id)


def _seg(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def _body(body: Optional[dict], fields: dict) -> dict:
    out = dict(body or {})
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


class _Facts:
    """An environment's users or tenants (resources and roles add to it)."""

    def __init__(self, c: Client, path: str):
        self._c, self._path = c, path

    def list(self, **query) -> Page:
        """A page: page, per_page, sort, order and the list's filters (key, search, ...)."""
        return self._c._page(self._path, query, True)

    def all(self, **query) -> Iterator[dict]:
        """Every item matching the filters, page after page."""
        return self._c._all(self._path, query, True)

    def get(self, ref: str) -> dict:
        """By id or key."""
        return self._c._one("GET", f"{self._path}/{_seg(ref)}", env=True)

    def create(self, body: Optional[dict] = None, **fields) -> dict:
        """Fields as the API names them: create(key="alice", email="alice@example.com")."""
        return self._c._one("POST", self._path, body=_body(body, fields), env=True)

    def update(self, ref: str, body: Optional[dict] = None, **fields) -> dict:
        """Changes the fields given (PATCH)."""
        return self._c._one("PATCH", f"{self._path}/{_seg(ref)}", body=_body(body, fields), env=True)

    def delete(self, ref: str) -> None:
        self._c._one("DELETE", f"{self._path}/{_seg(ref)}", env=True)


class _Resources(_Facts):
    def replace(self, ref: str, body: Optional[dict] = None, **fields) -> dict:
        """PUT: the fields given replace the resource's."""
        return self._c._one("PUT", f"{self._path}/{_seg(ref)}", body=_body(body, fields), env=True)


class _Roles(_Facts):
    def set_permissions(self, ref: str, permissions: List[str]) -> dict:
        return self.update(ref, permissions=list(permissions))


class _RoleAssignments:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        """Filters: user, role, tenant."""
        return self._c._page("/v1/role-assignments", query, True)

    def all(self, **query) -> Iterator[dict]:
        return self._c._all("/v1/role-assignments", query, True)

    def assign(self, user: str, role: str, tenant: Optional[str] = None) -> dict:
        """Gives user role in tenant (the default tenant when None)."""
        return self._c._one("POST", "/v1/role-assignments", body=_body(None, {"user": user, "role": role, "tenant": tenant}), env=True)

    def unassign(self, user: str, role: str, tenant: Optional[str] = None) -> None:
        self._c._one("DELETE", "/v1/role-assignments", query={"user": user, "role": role, "tenant": tenant}, env=True)


class _Checks:
    def __init__(self, c: Client):
        self._c = c

    def allowed(self, user: str, action: str, resource: Union[str, Mapping[str, Any]], tenant: Optional[str] = None,
                context: Optional[dict] = None) -> dict:
        """May user do action on resource? resource is a type ("document")
        or {"type", "key", "tenant"}. Returns the decision: allow, reason,
        role, tenant, explanation."""
        res = {"type": resource} if isinstance(resource, str) else dict(resource)
        if tenant is not None:
            res["tenant"] = tenant
        return self._c._one("POST", "/v1/allowed", body=_body(None, {"user": user, "action": action, "resource": res, "context": context}), env=True)

    def bulk(self, checks: List[dict]) -> List[dict]:
        """Many checks ({"user", "action", "resource"}) in one call; decisions in order."""
        return self._c._one("POST", "/v1/allowed/bulk", body={"checks": checks}, env=True)

    def user_permissions(self, user: str, tenants: Optional[List[str]] = None) -> List[dict]:
        """What user may do, per tenant."""
        return self._c._one("POST", "/v1/user-permissions", body=_body(None, {"user": user, "tenants": tenants}), env=True)


class _Decisions:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        return self._c._page("/v1/decisions", query, True)

    def get(self, id: str) -> dict:
        return self._c._one("GET", f"/v1/decisions/{_seg(id)}", env=True)


class _Projects:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        return self._c._page("/v1/projects", query, False)

    def all(self, **query) -> Iterator[dict]:
        return self._c._all("/v1/projects", query, False)

    def get(self, ref: str) -> dict:
        return self._c._one("GET", f"/v1/projects/{_seg(ref)}")

    def create(self, body: Optional[dict] = None, **fields) -> dict:
        return self._c._one("POST", "/v1/projects", body=_body(body, fields))

    def update(self, ref: str, body: Optional[dict] = None, **fields) -> dict:
        return self._c._one("PATCH", f"/v1/projects/{_seg(ref)}", body=_body(body, fields))

    def delete(self, ref: str) -> None:
        self._c._one("DELETE", f"/v1/projects/{_seg(ref)}")


class _Environments:
    def __init__(self, c: Client):
        self._c = c

    def list(self, project: str, **query) -> Page:
        return self._c._page(f"/v1/projects/{_seg(project)}/environments", query, False)

    def get(self, project: str, ref: str) -> dict:
        return self._c._one("GET", f"/v1/projects/{_seg(project)}/environments/{_seg(ref)}")

    def create(self, project: str, body: Optional[dict] = None, **fields) -> dict:
        return self._c._one("POST", f"/v1/projects/{_seg(project)}/environments", body=_body(body, fields))

    def delete(self, project: str, ref: str) -> None:
        self._c._one("DELETE", f"/v1/projects/{_seg(project)}/environments/{_seg(ref)}")


class _APIKeys:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        return self._c._page("/v1/api-keys", query, False)

    def get(self, id: str) -> dict:
        return self._c._one("GET", f"/v1/api-keys/{_seg(id)}")

    def create(self, body: Optional[dict] = None, **fields) -> dict:
        """name, level, project, environment, scopes, expires_at; the answer's token is shown this once."""
        return self._c._one("POST", "/v1/api-keys", body=_body(body, fields))

    def revoke(self, id: str) -> dict:
        return self._c._one("POST", f"/v1/api-keys/{_seg(id)}/revoke")

    def rotate(self, id: str, grace_period_seconds: Optional[int] = None) -> dict:
        """A new key like id (its token shown this once); the old one works for the grace period."""
        return self._c._one("POST", f"/v1/api-keys/{_seg(id)}/rotate", body=_body(None, {"grace_period_seconds": grace_period_seconds}))


class _Logs:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        """Newest first. Filters: actor, status ("404", "4xx"), method, path, request_id, since, until."""
        return self._c._page("/v1/logs", query, False)

    def all(self, **query) -> Iterator[dict]:
        return self._c._all("/v1/logs", query, False)

    def get(self, id: str) -> dict:
        return self._c._one("GET", f"/v1/logs/{_seg(id)}")


class _Webhooks:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        return self._c._page("/v1/webhooks", query, False)

    def get(self, id: str) -> dict:
        return self._c._one("GET", f"/v1/webhooks/{_seg(id)}")

    def create(self, url: str, events: List[str], **fields) -> dict:
        """The answer's secret is shown this once."""
        return self._c._one("POST", "/v1/webhooks", body=_body(None, dict(fields, url=url, events=list(events))))

    def update(self, id: str, body: Optional[dict] = None, **fields) -> dict:
        return self._c._one("PATCH", f"/v1/webhooks/{_seg(id)}", body=_body(body, fields))

    def delete(self, id: str) -> None:
        self._c._one("DELETE", f"/v1/webhooks/{_seg(id)}")

    def test(self, id: str) -> dict:
        return self._c._one("POST", f"/v1/webhooks/{_seg(id)}/test")

    def deliveries(self, id: str, **query) -> Page:
        return self._c._page(f"/v1/webhooks/{_seg(id)}/deliveries", query, False)

    def delivery(self, id: str, delivery: str) -> dict:
        return self._c._one("GET", f"/v1/webhooks/{_seg(id)}/deliveries/{_seg(delivery)}")

    def replay(self, id: str, delivery: str) -> dict:
        return self._c._one("POST", f"/v1/webhooks/{_seg(id)}/deliveries/{_seg(delivery)}/replay")

    def rotate_secret(self, id: str, grace_period_seconds: Optional[int] = None) -> dict:
        """A new signing secret (in the answer); the old one signs too for the grace period."""
        return self._c._one("POST", f"/v1/webhooks/{_seg(id)}/rotate-secret", body=_body(None, {"grace_period_seconds": grace_period_seconds}))


_ENDED = ("succeeded", "failed", "cancelled")


class _Jobs:
    def __init__(self, c: Client):
        self._c = c

    def list(self, **query) -> Page:
        return self._c._page("/v1/jobs", query, False)

    def get(self, id: str) -> dict:
        return self._c._one("GET", f"/v1/jobs/{_seg(id)}")

    def start(self, type: str, **fields) -> dict:
        """export, environment_copy (source, mode) or sandbox_reset."""
        return self._c._one("POST", "/v1/jobs", body=dict(fields, type=type), env=True)

    def import_file(self, file: Union[str, bytes, BinaryIO], *, format: str = "jsonl", type: Optional[str] = None,
                    batch_size: Optional[int] = None, events: bool = False) -> dict:
        """Uploads JSON Lines (default) or CSV: a path, bytes or a binary
        file. Every row is checked first: a bad file raises GatehouseError
        whose details["errors"] list the rows with their line numbers."""
        if isinstance(file, str):
            with open(file, "rb") as fh:
                data = fh.read()
        elif isinstance(file, bytes):
            data = file
        else:
            data = file.read()
        ctype = "text/csv" if format == "csv" else "application/x-ndjson"
        query = {"type": type, "batch_size": batch_size, "events": True if events else None, "format": format}
        return self._c._one("POST", "/v1/jobs/import", query=query, raw=data, content_type=ctype, env=True)

    def cancel(self, id: str) -> dict:
        return self._c._one("POST", f"/v1/jobs/{_seg(id)}/cancel")

    def tasks(self, id: str, **query) -> Page:
        return self._c._page(f"/v1/jobs/{_seg(id)}/tasks", query, False)

    def retry_task(self, task: str) -> dict:
        return self._c._one("POST", f"/v1/tasks/{_seg(task)}/retry")

    def output(self, id: str) -> str:
        """An export's JSON Lines."""
        out = self._c._one("GET", f"/v1/jobs/{_seg(id)}/output")
        return out if isinstance(out, str) else json.dumps(out)

    def wait(self, id: str, interval: float = 0.5, timeout: Optional[float] = None,
             on_progress: Optional[Callable[[dict], None]] = None) -> dict:
        """Polls the job until it has ended (or raises TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(id)
            if on_progress:
                on_progress(job)
            if job["status"] in _ENDED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {id} is still {job['status']}")
            time.sleep(interval)


class _System:
    def __init__(self, c: Client):
        self._c = c

    def me(self) -> dict:
        """The key in use: level, scopes, organization, project, environment."""
        return self._c._one("GET", "/v1/me")

    def scopes(self) -> List[dict]:
        return self._c._one("GET", "/v1/scopes")


class WebhookVerificationError(Exception):
    """A delivery that did not verify."""


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, tolerance: float = 300) -> dict:
    """Checks a webhook delivery: X-Signature (or, during a secret rotation,
    X-Signature-New) must be the hex HMAC-SHA256 of the raw body keyed with
    the endpoint's secret, and X-Webhook-Timestamp within tolerance seconds
    of now. Returns the event; raises WebhookVerificationError otherwise."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(h.get("x-webhook-timestamp", ""))
    except ValueError:
        raise WebhookVerificationError("missing or malformed X-Webhook-Timestamp") from None
    if abs(time.time() - ts) > tolerance:
        raise WebhookVerificationError("the timestamp is too far from now (a replay?)")
    if isinstance(body, str):
        body = body.encode()
    want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(h.get(name, ""), want) for name in ("x-signature", "x-signature-new")):
        raise WebhookVerificationError("the signature does not match")
    return json.loads(body)
