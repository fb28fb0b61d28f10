"""HTTP front of the Kubernetes API double: discovery, REST verbs, pod proxy, request log.

THIS IS A TEST DOUBLE, not a Kubernetes API server. It speaks enough of the API, over real HTTP on
127.0.0.1, for the ``kubernetes`` Python client's DynamicClient (what kubernetes.core uses) and for
pgfleet's own modules. See README.md next to this file for what it does and does not do.
"""

import copy
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import execs, patching
from .controller import Controllers
from .resources import Registry
from .store import ApiError, Store

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class RequestRecord(dict):
    """One request: method, path, query, content_type, status, dry_run, mutated, user_agent, resource (and
    subject: the involvedObject name of a posted Event)."""

    @property
    def is_write(self):
        return (self["method"] in WRITE_METHODS and not self["dry_run"] and not self.get("proxy")
                and not self.get("exec"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class KubeDouble(object):
    """Start with ``KubeDouble().start()``; ``url``, ``write_kubeconfig(path)``, ``requests``, ``stop()``."""

    def __init__(self, controllers=True, patroni=True, pod_start_seconds=0.2, pod_grace_seconds=0.0,
                 schema_version=None, strict_schema=True, host="127.0.0.1", port=0, version="1.33"):
        self.registry = Registry()
        self.store = Store(self.registry, schema_version=schema_version, strict_schema=strict_schema,
                           pod_grace_seconds=pod_grace_seconds)
        self.controllers = Controllers(self.store, pod_start_seconds=pod_start_seconds,
                                       pod_grace_seconds=pod_grace_seconds, patroni=patroni) if controllers else None
        self.host, self.port = host, port
        self.version = version
        self.requests = []
        self._req_lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self.fail_next = []   # [(method, path-substring, code)] injected failures, consumed in order
        self.execs = execs.Execs(self)  # pods/exec: handlers the tests register (execs.py)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self):
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._httpd = _Server((self.host, self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="k8s-double-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.controllers is not None:
            self.controllers.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def write_kubeconfig(self, path, namespace="default"):
        text = (
            "# kubeconfig for the pgfleet Kubernetes API TEST DOUBLE (tests/k8s_double), not a real cluster\n"
            "apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: k8s-double\n  cluster:\n    server: %s\n"
            "users:\n- name: k8s-double\n  user:\n    token: not-a-secret-double-token\n"
            "contexts:\n- name: k8s-double\n  context:\n    cluster: k8s-double\n    user: k8s-double\n"
            "    namespace: %s\n"
            "current-context: k8s-double\n" % (self.url, namespace))
        with open(path, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
        return path

    # --- request log helpers for tests --------------------------------------------------------
    def mark(self):
        """Index into ``requests`` to count from (``since=double.mark()``)."""
        with self._req_lock:
            return len(self.requests)

    def requests_since(self, since=0):
        with self._req_lock:
            return list(self.requests[since:])

    def writes(self, since=0):
        """Write requests (not dry-run, not pod-proxy) received since ``since``."""
        return [r for r in self.requests_since(since) if r.is_write]

    def mutations(self, since=0):
        """Write requests that actually changed stored state (a resourceVersion moved)."""
        return [r for r in self.writes(since) if r.get("mutated")]

    def settle(self, timeout=10.0):
        """Wait until the fake controllers have nothing due; False when they are still busy at ``timeout``."""
        if self.controllers is not None:
            return self.controllers.settle(timeout)
        return True

    def start_pods(self, hold_new=False):
        """Start the pods held back by ``pod_start_seconds=None`` (see ``Controllers.start_pods``)."""
        return self.controllers.start_pods(hold_new) if self.controllers is not None else []

    # --- direct access for tests (not recorded) -----------------------------------------------
    def rtype(self, api_version, kind):
        t = self.registry.by_kind(api_version, kind)
        if t is None:
            raise KeyError("%s %s is not served by the double" % (api_version, kind))
        return t

    def get(self, api_version, kind, name, namespace=None):
        try:
            return self.store.get(self.rtype(api_version, kind), namespace, name)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return self.store.list(self.rtype(api_version, kind), namespace, label_selector)["items"]

    def put_object(self, obj, manager="test-setup"):
        """Create or replace ``obj`` directly in the store (test set-up, not recorded)."""
        t = self.rtype(obj["apiVersion"], obj["kind"])
        ns = obj["metadata"].get("namespace") if t.namespaced else None
        if t.namespaced and not ns:
            ns = "default"
        try:
            cur = self.store.get(t, ns, obj["metadata"]["name"])
        except ApiError:
            return self.store.create(t, ns, obj, manager=manager)
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        out = self.store.update(t, ns, obj["metadata"]["name"], body, manager=manager)
        if out.get("kind") == "Status" or (out.get("metadata") or {}).get("uid") is None:
            return None  # the update completed a pending deletion (last finalizer removed)
        try:
            self.store.get(t, ns, obj["metadata"]["name"])
        except ApiError:
            return None
        if "status" in obj and "status" in t.subresources and obj["status"] != out.get("status"):
            out = self.store.update(t, ns, obj["metadata"]["name"], dict(out, status=obj["status"]),
                                    manager=manager, subresource="status")
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    double = None
    server_version = "k8s-double/0.1"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    # --- entry points -------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        parsed = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/")]
        if method in ("GET", "POST") and len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] \
                and parts[4] == "pods" and parts[6] == "exec":
            return self._exec(method, parsed, parts[3], parts[5])
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type") or ""
        rec = RequestRecord(method=method, path=parsed.path, query=query, content_type=ctype.split(";")[0],
                            dry_run=query.get("dryRun") == "All", user_agent=self.headers.get("User-Agent", ""),
                            status=None, mutated=False, time=time.time(), resource=None, proxy=False)
        if method == "POST" and parsed.path.endswith("/events") and raw:
            # whose event it is: benchmarks count the writes of each cluster's runs, and an event's path names none
            try:
                rec["subject"] = (json.loads(raw).get("involvedObject") or {}).get("name")
            except (ValueError, AttributeError):
                pass
        d = self.double
        d.store.local.mutated = False
        try:
            for i, (m, frag, code) in enumerate(d.fail_next):
                if m == method and frag in parsed.path:
                    del d.fail_next[i]
                    raise ApiError(code, "InternalError" if code >= 500 else "Forbidden",
                                   "injected failure for %s %s" % (method, parsed.path))
            code, body, extra = self._route(method, parsed.path, query, raw, ctype, rec)
        except ApiError as exc:
            code, body, extra = exc.code, exc.status(), {}
        except Exception as exc:  # a bug in the double: answer 500, loudly
            import traceback

            traceback.print_exc()
            code, body, extra = 500, ApiError(500, "InternalError", "k8s double bug: %r" % exc).status(), {}
        rec["status"] = code
        rec["mutated"] = bool(getattr(d.store.local, "mutated", False)) and not rec["dry_run"]
        with d._req_lock:
            d.requests.append(rec)
        self._send(code, body, extra)

    def _exec(self, method, parsed, ns, pod):
        """pods/exec: a WebSocket served by execs.py; an error before the upgrade is a plain answer."""
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        rec = RequestRecord(method=method, path=parsed.path, query=query, content_type="", dry_run=False,
                            user_agent=self.headers.get("User-Agent", ""), status=None, mutated=False,
                            time=time.time(), resource="v1/pods", proxy=False, exec=True)
        d = self.double
        try:
            answer = execs.serve(self, method, ns, pod, query, rec)
        except ApiError as exc:
            answer = (exc.code, exc.status())
        if answer is not None:
            rec["status"] = answer[0]
        with d._req_lock:
            d.requests.append(rec)
        if answer is not None:
            self._send(answer[0], answer[1], {})

    def _send(self, code, body, extra):
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
            ctype = "application/json"
        else:
            data = (body if isinstance(body, bytes) else str(body).encode("utf-8"))
            ctype = extra.pop("content_type", "text/plain; charset=utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "k8s-double")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    # --- routing ------------------------------------------------------------------------------
    def _route(self, method, path, query, raw, ctype, rec):
        d = self.double
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
        if method == "GET" and path in ("/healthz", "/readyz", "/livez"):
            return 200, "ok", {}
        if method == "GET" and path == "/version":
            major, minor = d.version.split(".")[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": "v%s.0-k8s-double" % d.version,
                         "gitCommit": "double", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                         "goVersion": "none", "compiler": "none", "platform": "linux/amd64"}, {}
        if not parts:
            return 200, {"paths": ["/api", "/api/v1", "/apis", "/version", "/healthz"]}, {}
        if parts[0] == "api":
            if len(parts) == 1:
                return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (d.host, d.port)}]}, {}
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return 200, self._group_list(), {}
            if len(parts) == 2:
                group = self._group_list(parts[1])
                if not group:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return 200, group, {}
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource (%s)" % path)
        if not rest:
            types = d.registry.in_group_version(group, version)
            if not types:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            resources = []
            for t in sorted(types, key=lambda t: t.plural):
                resources.extend(t.discovery_entries())
            return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                         "groupVersion": "%s/%s" % (group, version) if group else version,
                         "resources": resources}, {}
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        rtype = d.registry.lookup(group, version, plural)
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource (%s %s)" % (method, path))
        rec["resource"] = "%s/%s" % (rtype.group_version, rtype.plural)
        if rtype.plural == "pods" and sub == "proxy" or (name and ":" in name and sub == "proxy"):
            return self._proxy(method, ns, name, rest[3:], raw, rec)
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource (subresource %s)" % sub)
        if sub == "status" and "status" not in rtype.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource (no status subresource)")
        if rtype.namespaced and ns is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or (self.headers.get("User-Agent") or "unknown").split("/")[0]
        store = d.store
        if method == "GET":
            if query.get("watch") in ("true", "1"):
                raise ApiError(405, "MethodNotAllowed", "watch is not implemented by the k8s double")
            if name is None:
                return 200, store.list(rtype, ns, query.get("labelSelector"), query.get("fieldSelector")), {}
            return 200, store.get(rtype, ns, name), {}
        body = patching.loads(raw, ctype) if raw else None
        if method == "POST":
            if name is not None:
                raise ApiError(405, "MethodNotAllowed", "POST to a named resource is not allowed")
            out = store.create(rtype, ns, body, dry_run=dry_run, manager=manager)
            return 201, out, {}
        if method == "PUT":
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "PUT needs a name")
            return 200, store.update(rtype, ns, name, body, dry_run=dry_run, manager=manager, subresource=sub), {}
        if method == "PATCH":
            if name is None:
                raise ApiError(405, "MethodNotAllowed", "PATCH needs a name")
            force = query.get("force") in ("true", "True", "1")
            if ctype.startswith("application/apply-patch") and not query.get("fieldManager"):
                raise ApiError(400, "BadRequest", "PATCH with apply-patch requires the fieldManager parameter")
            before = None
            try:
                before = store.get(rtype, ns, name)
            except ApiError:
                pass
            out = store.patch(rtype, ns, name, body, ctype, dry_run=dry_run, manager=manager, force=force,
                              subresource=sub)
            return (201 if before is None else 200), out, {}
        if method == "DELETE":
            opts = body if isinstance(body, dict) else {}
            propagation = query.get("propagationPolicy") or opts.get("propagationPolicy")
            if opts.get("orphanDependents") is True or query.get("orphanDependents") == "true":
                propagation = "Orphan"
            dry_run = dry_run or opts.get("dryRun") == ["All"]
            rec["dry_run"] = dry_run
            grace = query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
            grace = float(grace) if grace not in (None, "") else None
            if name is None:
                return 200, store.delete_collection(rtype, ns, query.get("labelSelector"),
                                                    query.get("fieldSelector"), propagation, dry_run), {}
            return 200, store.delete(rtype, ns, name, propagation=propagation, dry_run=dry_run, grace=grace,
                                     preconditions=opts.get("preconditions")), {}
        raise ApiError(405, "MethodNotAllowed", "method %s not allowed" % method)

    def _group_list(self, only=None):
        groups = []
        for name, versions in sorted(self.double.registry.groups().items()):
            gv = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in sorted(versions)]
            entry = {"name": name, "versions": gv, "preferredVersion": gv[0]}
            if only is not None:
                if name == only:
                    return dict(entry, kind="APIGroup", apiVersion="v1")
                continue
            groups.append(entry)
        if only is not None:
            return None
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _proxy(self, method, ns, name_port, tail, raw, rec):
        rec["proxy"] = True
        d = self.double
        pod, _sep, port = name_port.partition(":")
        port = port or "80"
        if d.controllers is None or d.controllers.patroni is None:
            raise ApiError(503, "ServiceUnavailable", "no endpoints available (the double has no fake Patroni)")
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = raw.decode("utf-8", "replace")
        code, answer = d.controllers.patroni.handle(method, ns, pod, port, "/".join(tail), body, d.url)
        if isinstance(answer, (dict, list)):
            return code, answer, {}
        return code, answer, {"content_type": "text/plain; charset=utf-8"}
