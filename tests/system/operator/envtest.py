"""A REAL kube-apiserver + etcd for the operator tests (the envtest convention).

``KUBEBUILDER_ASSETS`` names a directory with ``kube-apiserver`` and ``etcd`` (3.5 or newer). The
harness starts both on free ports under a temporary directory, with a static token for the
playbooks (user ``pgfleet-test``) and another for the harness itself (``harness``), both in
``system:masters``, and the audit log on, so that the tests count the playbooks' writes from the
API server's own record.

There is no kube-controller-manager, scheduler or kubelet in envtest. What the tests need of them
is emulated over the API, as clearly-labelled test doubles:

* the StatefulSet controller, the kubelet (pods become Running/Ready, graceful deletions complete)
  and Patroni's label/DCS behaviour: the same ``Controllers`` as the API test double, driven by
  ``ApiStore`` (below), which polls the real API server and writes through it;
* the garbage collector, for what the reconcile relies on: the ``orphan`` finalizer (ownerReferences
  removed from dependents) and background deletion of dependents whose owner is gone;
* Patroni's REST API, served by ``FakePatroniServer`` under the same URL shape as the API server's
  pod proxy (``/api/v1/namespaces/<ns>/pods/<pod>:8008/proxy/...``), because a real API server
  cannot proxy to pods that do not run anywhere. The playbooks use ``reconcile_patroni_access:
  proxy`` with that server as ``reconcile_api_proxy_url``. It records the requests it answers
  (``EnvtestHarness.patroni_requests``), as the double records its pod-proxy requests;
* a cluster's default StorageClass that allows volume expansion, so that the API server's own
  admission lets a bound claim grow.

Faults (the double's ``fail_next``, through ``EnvtestHarness.fail_next``) are injected without
touching the API server: a failing write is refused by a validating admission webhook the server
calls (``FaultWebhook``); a failing read, which admission never sees, is answered by a forwarding
proxy in front of the server that the playbooks' kubeconfig names only while the fault is pending
(``ReadFaultProxy``, a test double of a load balancer).

Not verified on the machine this was written on (no kube-apiserver there): the tests skip with a
message when the assets are absent.
"""

import copy
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import ThreadingHTTPServer

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import Api
from ansible_collections.pgfleet.postgres.tests.harness import BackgroundLoop, QuietHandler, free_port
from ansible_collections.pgfleet.postgres.tests.system.operator.conftest import Harness  # by full name: several conftest modules exist
from k8s_double.controller import Controllers
from k8s_double.resources import Registry
from k8s_double.store import ApiError

PLAYBOOK_USER = "pgfleet-test"
WRITE_VERBS = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}
WATCHED = (("apps", "v1", "statefulsets"), ("", "v1", "pods"), ("", "v1", "persistentvolumeclaims"),
           ("", "v1", "configmaps"), ("", "v1", "endpoints"))


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    raise RuntimeError("envtest: %s did not come up within %ss" % (what, timeout))


def _service_account_key(path):
    """An RSA key for --service-account-key-file / --service-account-signing-key-file."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with open(path, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    except ImportError:
        subprocess.run(["openssl", "genrsa", "-out", path, "2048"], check=True, capture_output=True)


def _kubeconfig(path, server, token):
    with open(path, "w") as fh:
        fh.write("apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: %s\n"
                 "    insecure-skip-tls-verify: true\nusers:\n- name: envtest\n  user:\n    token: %s\n"
                 "contexts:\n- name: envtest\n  context: {cluster: envtest, user: envtest, namespace: default}\n"
                 "current-context: envtest\n" % (server, token))
    os.chmod(path, 0o600)
    return path


class ApiStore(BackgroundLoop):
    """The double's Store interface (what ``Controllers`` uses) over a real API server, plus a small GC."""

    def __init__(self, api, registry, interval=0.2):
        super(ApiStore, self).__init__(self._poll, "envtest-apistore", join_timeout=5)
        self.api = api
        self.registry = registry
        self.listeners = []
        self.objects = {}
        self.pod_grace_seconds = 0.0
        self.interval = interval
        self._snapshot = {}

    # --- the Store interface ----------------------------------------------------------------
    @staticmethod
    def _err(exc):
        status = exc.context.get("status") or 500
        return ApiError(status, "NotFound" if status == 404 else "Error", exc.msg)

    def get(self, rtype, ns, name):
        obj = self.api.get(rtype.group_version, rtype.kind, name, ns if rtype.namespaced else None)
        if obj is None:
            raise ApiError(404, "NotFound", "%s %s not found" % (rtype.plural, name))
        obj.setdefault("apiVersion", rtype.group_version)
        obj.setdefault("kind", rtype.kind)
        return obj

    def find(self, group, plural, ns=None, predicate=None):
        rtype = self.registry.lookup(group, "v1", plural)
        items = self.api.list(rtype.group_version, rtype.kind, ns) if ns else \
            self.api.request("GET", "/api/v1/%s" % plural if not group else "/apis/%s/v1/%s" % (group, plural))["items"]
        out = [i for i in items if predicate is None or predicate(i)]
        return sorted(out, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))

    def create(self, rtype, ns, body, dry_run=False, manager=None):
        body = copy.deepcopy(body)
        body.setdefault("apiVersion", rtype.group_version)
        body.setdefault("kind", rtype.kind)
        body.setdefault("metadata", {})["namespace"] = ns
        try:
            return self.api.create(body)
        except KubernetesError as exc:
            raise self._err(exc) from exc

    def update(self, rtype, ns, name, body, dry_run=False, manager=None, subresource=None):
        for _attempt in range(5):
            try:
                path = self.api.path(rtype.group_version, rtype.kind, ns, name, subresource)
                return self.api.request("PUT", path, body=body, write=True)
            except KubernetesError as exc:
                if exc.context.get("status") != 409:
                    raise self._err(exc) from exc
                fresh = self.get(rtype, ns, name)
                if subresource == "status":
                    fresh["status"] = body.get("status")
                body = fresh
        raise ApiError(409, "Conflict", "could not update %s %s" % (rtype.plural, name))

    def patch(self, rtype, ns, name, body, content_type, dry_run=False, manager=None, force=False, subresource=None):
        kind = {"application/merge-patch+json": "merge", "application/json-patch+json": "json",
                "application/strategic-merge-patch+json": "strategic"}[content_type]
        try:
            return self.api.patch(rtype.group_version, rtype.kind, name, ns, body, patch_type=kind, subresource=subresource)
        except KubernetesError as exc:
            raise self._err(exc) from exc

    def delete(self, rtype, ns, name, propagation=None, dry_run=False, grace=None, preconditions=None):
        answer = self.api.delete(rtype.group_version, rtype.kind, name, ns, propagation=propagation, grace_period=grace)
        if answer is None:
            raise ApiError(404, "NotFound", "%s %s not found" % (rtype.plural, name))
        return answer

    def finish_graceful_delete(self, rtype, ns, name):
        """The kubelet's part: the containers stopped, the pod object goes."""
        self.api.delete(rtype.group_version, rtype.kind, name, ns, grace_period=0)

    # --- events and garbage collection by polling ---------------------------------------------
    def _poll(self):
        while not self._stop.wait(self.interval):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the next tick tries again
                import traceback

                traceback.print_exc()

    def _tick(self):
        current = {}
        for group, version, plural in WATCHED:
            rtype = self.registry.lookup(group, version, plural)
            path = "/api/v1/%s" % plural if not group else "/apis/%s/%s/%s" % (group, version, plural)
            for obj in self.api.request("GET", path)["items"]:
                obj.setdefault("apiVersion", rtype.group_version)
                obj.setdefault("kind", rtype.kind)
                meta = obj["metadata"]
                current[(group, plural, meta.get("namespace"), meta["name"])] = (rtype, obj)
        self.objects = dict((k, pair[1]) for k, pair in current.items() if k[1] == "statefulsets")
        uids = set(pair[1]["metadata"]["uid"] for pair in current.values())
        for key, (rtype, obj) in current.items():
            meta = obj["metadata"]
            old = self._snapshot.get(key)
            if old is None or old[1]["metadata"]["uid"] != meta["uid"]:
                self._emit("ADDED", rtype, obj)
            elif old[1]["metadata"]["resourceVersion"] != meta["resourceVersion"]:
                self._emit("MODIFIED", rtype, obj)
            self._gc(rtype, obj, current, uids)
        for key, (rtype, obj) in self._snapshot.items():
            if key not in current:
                self._emit("DELETED", rtype, obj)
        self._snapshot = current

    def _emit(self, event, rtype, obj):
        for cb in list(self.listeners):
            cb(event, rtype, copy.deepcopy(obj))

    def _gc(self, rtype, obj, current, uids):
        meta = obj["metadata"]
        ns = meta.get("namespace")
        if meta.get("deletionTimestamp") and rtype.kind == "Pod" and not meta.get("finalizers"):
            self.finish_graceful_delete(rtype, ns, meta["name"])  # no kubelet: stop at once
            return
        if meta.get("deletionTimestamp") and "orphan" in (meta.get("finalizers") or []):
            for dep_type, dep in current.values():
                refs = dep["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == meta["uid"] for r in refs):
                    kept = [r for r in refs if r.get("uid") != meta["uid"]]
                    self.api.patch(dep_type.group_version, dep_type.kind, dep["metadata"]["name"],
                                   dep["metadata"].get("namespace"), {"metadata": {"ownerReferences": kept or None}})
            self.api.patch(rtype.group_version, rtype.kind, meta["name"], ns,
                           {"metadata": {"finalizers": [f for f in meta["finalizers"] if f != "orphan"] or None}})
            return
        refs = meta.get("ownerReferences") or []
        if refs and not meta.get("deletionTimestamp") and all(r.get("uid") not in uids for r in refs) \
                and all(r.get("kind") == "StatefulSet" for r in refs):
            try:
                self.api.delete(rtype.group_version, rtype.kind, meta["name"], ns, propagation="Background")
            except KubernetesError:
                pass


class FakePatroniServer(object):
    """Patroni's REST API (the double's FakePatroni) under the API server's pod-proxy URL shape."""

    def __init__(self, patroni):
        self.patroni = patroni
        self.requests = []   # what the double records for a pod-proxy request: method, path, status, proxy
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def _do(self, method):
                parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
                raw = self.body()
                code, answer = 404, {"message": "not a pod proxy path"}
                if len(parts) >= 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods" and parts[6:7] == ["proxy"]:
                    pod, _sep, port = parts[5].partition(":")
                    body = json.loads(raw) if raw else None
                    code, answer = server.patroni.handle(method, parts[3], pod, port or "80", "/".join(parts[7:]), body, server.url)
                    with server._lock:
                        server.requests.append({"method": method, "path": urllib.parse.urlsplit(self.path).path,
                                                "status": code, "proxy": True, "time": time.time()})
                structured = isinstance(answer, (dict, list))
                self.send_body(code, json.dumps(answer).encode() if structured else str(answer).encode(),
                               [("Content-Type", "application/json" if structured else "text/plain")])

            def do_GET(self):
                self._do("GET")

            def do_POST(self):
                self._do("POST")

            def do_PATCH(self):
                self._do("PATCH")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def mark(self):
        with self._lock:
            return len(self.requests)

    def requests_since(self, since=0):
        with self._lock:
            return list(self.requests[since:])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _serving_cert(workdir):
    """A self-signed certificate for 127.0.0.1 (the admission webhook's), as (cert path, key path, PEM)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envtest-fault-webhook")])
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = os.path.join(workdir, "webhook.crt"), os.path.join(workdir, "webhook.key")
    with open(cert_path, "wb") as fh:
        fh.write(pem)
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()))
    return cert_path, key_path, pem


def take_fault(faults, lock, method, path):
    """The code of the first ``(method, path fragment, code)`` in ``faults`` that matches, removed
    from the list (each fault fires once, as the double's ``fail_next``); None when none matches."""
    with lock:
        for i, (m, frag, code) in enumerate(faults):
            if m == method and frag in path:
                del faults[i]
                return code
    return None


class FaultWebhook(object):
    """Fault injection for writes, the way a real API server allows it: a validating admission webhook
    (a TEST DOUBLE of a failing admission step) that the API server calls for every DELETE and that
    answers the first DELETE by the playbooks matching an entry of ``fail_next`` with that entry's
    code, once - what the double's ``fail_next`` does for a DELETE. Nothing in the API server changes."""

    PROBE = "envtest-fault-webhook-probe"
    OPERATIONS = {"DELETE": "DELETE"}

    def __init__(self, workdir):
        import ssl

        self.fail_next = []   # [(method, path-substring, code)], consumed in order, as the double's
        self._lock = threading.Lock()
        cert_path, key_path, self.ca_pem = _serving_cert(workdir)
        hook = self

        class Handler(QuietHandler):
            def do_POST(self):
                review = json.loads(self.body() or b"{}")
                request = review.get("request") or {}
                answer = {"uid": request.get("uid"), "allowed": True}
                code = hook.decide(request)
                if code:
                    answer.update(allowed=False, status={
                        "code": code, "reason": "InternalError" if code >= 500 else "Forbidden",
                        "message": "injected failure for %s %s" % (request.get("operation"), hook.path_of(request))})
                self.send_body(200, json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                                "response": answer}).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/validate" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def path_of(request):
        res = request.get("resource") or {}
        base = "/api/%s" % res.get("version") if not res.get("group") else "/apis/%s/%s" % (res.get("group"), res.get("version"))
        if request.get("namespace"):
            base += "/namespaces/%s" % request["namespace"]
        return "%s/%s/%s" % (base, res.get("resource"), request.get("name") or "")

    def decide(self, request):
        if request.get("name") == self.PROBE:
            return 500
        if (request.get("userInfo") or {}).get("username") != PLAYBOOK_USER:
            return None  # the emulated controllers' own writes are never failed
        return take_fault(self.fail_next, self._lock, self.OPERATIONS.get(request.get("operation")), self.path_of(request))

    def install(self, api):
        """Register the webhook with the API server and wait until the server calls it."""
        import base64

        api.create({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                    "metadata": {"name": "envtest-fault-injection"},
                    "webhooks": [{"name": "faults.envtest.pgfleet.io", "admissionReviewVersions": ["v1"],
                                  "sideEffects": "None", "failurePolicy": "Fail", "timeoutSeconds": 10,
                                  "clientConfig": {"url": self.url, "caBundle": base64.b64encode(self.ca_pem).decode()},
                                  "rules": [{"operations": sorted(self.OPERATIONS), "apiGroups": ["*"],
                                             "apiVersions": ["*"], "resources": ["*"], "scope": "*"}]}]})
        probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": self.PROBE, "namespace": "kube-system"}}
        api.create(probe)

        def called():
            try:
                api.request("DELETE", api.path("v1", "ConfigMap", "kube-system", self.PROBE), query={"dryRun": "All"},
                            write=True)
            except KubernetesError as exc:
                return exc.context.get("status") == 500
            return False

        _wait(called, 60, "the fault-injection webhook")

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ReadFaultProxy(object):
    """Fault injection for reads, which admission never sees: a TEST DOUBLE of a load balancer in front
    of the API server. It forwards every request unchanged (the playbooks' token too, so the audit log
    still names them) and answers the first GET matching an entry of ``fail_next`` with that entry's
    code, once. The playbooks' kubeconfig names it only while a read fault is pending (``arm``); once it
    answered with the fault, the kubeconfig names the API server again."""

    HOP = ("connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "upgrade")

    def __init__(self, upstream, on_fault):
        import ssl

        self.upstream = urllib.parse.urlsplit(upstream)
        self.fail_next = []
        self._lock = threading.Lock()
        self._context = ssl._create_unverified_context()  # the kubeconfig's insecure-skip-tls-verify
        self.on_fault = on_fault
        proxy = self

        class Handler(QuietHandler):
            def _do(self):
                raw = self.body() or None
                path = urllib.parse.urlsplit(self.path).path
                code = proxy.decide(self.command, path)
                if code:
                    status, headers = code, [("Content-Type", "application/json")]
                    data = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                                       "reason": "ServiceUnavailable" if code == 503 else "InternalError",
                                       "message": "injected failure for %s %s" % (self.command, path)}).encode()
                else:
                    status, headers, data = proxy.forward(self.command, self.path, dict(self.headers), raw)
                self.send_body(status, data, [(k, v) for k, v in headers if k.lower() not in proxy.HOP])
                if code:
                    proxy.on_fault()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def decide(self, method, path):
        return take_fault(self.fail_next, self._lock, method, path)

    def pending(self):
        with self._lock:
            return bool(self.fail_next)

    def forward(self, method, target, headers, raw):
        import http.client

        conn = http.client.HTTPSConnection(self.upstream.hostname, self.upstream.port, context=self._context, timeout=60)
        try:
            conn.request(method, target, body=raw,
                         headers=dict((k, v) for k, v in headers.items() if k.lower() not in self.HOP))
            answer = conn.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            conn.close()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Mark(int):
    """A point in the audit log (the int) and in the fake Patroni's request log (``patroni``)."""

    def __new__(cls, audit, patroni):
        obj = super(Mark, cls).__new__(cls, audit)
        obj.patroni = patroni
        return obj


class EnvtestHarness(Harness):
    kind = "envtest"

    def __init__(self, kubeconfig, workdir, patroni_url, api, audit_log, procs, store, controllers, patroni_server,
                 webhook=None, server=None):
        super(EnvtestHarness, self).__init__(kubeconfig, workdir, patroni_url)
        self.server = server
        self.read_faults = ReadFaultProxy(server, self._disarm) if server else None
        self.api = api
        self.audit_log = audit_log
        self.procs = procs
        self.store = store
        self.controllers = controllers
        self.patroni_server = patroni_server
        self.webhook = webhook

    # --- what the tests reach in the double, here: fake Patroni, its requests, injected faults ---
    @property
    def patroni(self):
        """The fake Patroni (the double's FakePatroni) behind ``patroni_server``."""
        return self.controllers.patroni

    def patroni_requests(self, since=0):
        """Requests to Patroni through the pod-proxy URL since ``since`` (a ``mark()``)."""
        return self.patroni_server.requests_since(getattr(since, "patroni", 0))

    def fail_next(self, method, fragment, code):
        """The next playbook request ``method`` whose path contains ``fragment`` fails with ``code``, once
        (the double's ``fail_next``); a write fails in the API server's admission (``FaultWebhook``)."""
        if method == "GET":
            with self.read_faults._lock:
                self.read_faults.fail_next.append((method, fragment, code))
            _kubeconfig(self.kubeconfig, self.read_faults.url, "playbook-token")  # arm
            return
        if method not in FaultWebhook.OPERATIONS:
            raise NotImplementedError("envtest injects faults into GET and %s only" % sorted(FaultWebhook.OPERATIONS))
        with self.webhook._lock:
            self.webhook.fail_next.append((method, fragment, code))

    def _disarm(self):
        if not self.read_faults.pending():
            _kubeconfig(self.kubeconfig, self.server, "playbook-token")

    @classmethod
    def start(cls, assets, workdir, kubeconfig):
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        procs = []
        logs = open(os.path.join(workdir, "envtest.log"), "ab")
        procs.append(subprocess.Popen(
            [os.path.join(assets, "etcd"), "--data-dir", os.path.join(workdir, "etcd"), "--name", "envtest",
             "--listen-client-urls", "http://127.0.0.1:%d" % etcd_port,
             "--advertise-client-urls", "http://127.0.0.1:%d" % etcd_port,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer_port,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer_port,
             "--initial-cluster", "envtest=http://127.0.0.1:%d" % peer_port, "--unsafe-no-fsync=true"],
            stdout=logs, stderr=logs))
        key = os.path.join(workdir, "sa.key")
        _service_account_key(key)
        tokens = os.path.join(workdir, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write("playbook-token,%s,1001,system:masters\nharness-token,harness,1002,system:masters\n" % PLAYBOOK_USER)
        policy = os.path.join(workdir, "audit-policy.yaml")
        with open(policy, "w") as fh:
            fh.write("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n")
        audit_log = os.path.join(workdir, "audit.log")
        procs.append(subprocess.Popen(
            [os.path.join(assets, "kube-apiserver"), "--etcd-servers", "http://127.0.0.1:%d" % etcd_port,
             "--cert-dir", os.path.join(workdir, "certs"), "--secure-port", str(api_port),
             "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
             "--service-cluster-ip-range", "10.0.0.0/24", "--service-account-issuer", "https://kubernetes.default.svc",
             "--service-account-key-file", key, "--service-account-signing-key-file", key,
             "--token-auth-file", tokens, "--authorization-mode", "RBAC", "--allow-privileged=true",
             "--audit-policy-file", policy, "--audit-log-path", audit_log, "--audit-log-mode", "blocking"],
            stdout=logs, stderr=logs))
        server = "https://127.0.0.1:%d" % api_port
        _kubeconfig(kubeconfig, server, "playbook-token")
        harness_kc = _kubeconfig(os.path.join(workdir, "harness.kubeconfig"), server, "harness-token")
        api = Api({"kubeconfig": harness_kc}, user_agent="envtest-emulation")
        try:
            _wait(lambda: api.request("GET", "/readyz") is not None and api.get("v1", "Namespace", "default"),
                  120, "kube-apiserver")
        except Exception:
            for proc in procs:
                proc.terminate()
            raise
        webhook = FaultWebhook(workdir)
        try:
            webhook.install(api)
            # a cluster's default StorageClass (a kind cluster's "standard"), which can expand volumes:
            # the API server's PersistentVolumeClaimResize admission refuses a claim without one to grow
            api.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                        "metadata": {"name": "standard",
                                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "envtest.pgfleet.io/none", "allowVolumeExpansion": True,
                        "volumeBindingMode": "Immediate"})
        except Exception:
            webhook.stop()
            for proc in procs:
                proc.terminate()
            raise
        registry = Registry()
        store = ApiStore(api, registry).start()
        controllers = Controllers(store, pod_start_seconds=0.2, pod_grace_seconds=0.0, patroni=True)
        patroni_server = FakePatroniServer(controllers.patroni)
        return cls(kubeconfig, workdir, patroni_server.url, api, audit_log, procs, store, controllers, patroni_server,
                   webhook, server)

    def stop(self):
        self.controllers.stop()
        self.store.stop()
        self.patroni_server.stop()
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.webhook is not None:
            self.webhook.stop()  # after the API server: its failurePolicy is Fail
        if self.read_faults is not None:
            self.read_faults.stop()

    # --- API access ---------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        obj = self.api.get(api_version, kind, name, namespace)
        if obj is not None:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
        return obj

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return self.api.list(api_version, kind, namespace, label_selector)

    def put(self, obj):
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        if obj["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole") and not ns:
            ns = meta["namespace"] = "default"
        cur = self.api.get(obj["apiVersion"], obj["kind"], meta["name"], ns)
        if cur is None:
            body = dict(obj)
            status = body.pop("status", None)
            out = self.api.create(body)
            if obj["kind"] == "CustomResourceDefinition":
                _wait(lambda: any(c.get("type") == "Established" and c.get("status") == "True" for c in
                                  (self.api.get(obj["apiVersion"], obj["kind"], meta["name"]) or {}).get("status", {})
                                  .get("conditions", [])), 30, "the CRD")
            if status is not None and obj["kind"] == "postgresql":
                out["status"] = status
                out = self.api.request("PUT", self.api.path(obj["apiVersion"], obj["kind"], ns, meta["name"], "status"),
                                       body=out, write=True)
            return out
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        out = self.api.request("PUT", self.api.path(obj["apiVersion"], obj["kind"], ns, meta["name"]), body=body, write=True)
        return out if out.get("metadata", {}).get("uid") else None

    def delete(self, api_version, kind, name, namespace=None):
        return self.api.delete(api_version, kind, name, namespace)

    def recreate_as(self, obj, manager):
        from ansible_collections.pgfleet.postgres.tests.system.operator.conftest import strip_for_create  # by full name, as above

        meta = obj["metadata"]
        self.api.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                        propagation="Orphan" if obj["kind"] == "StatefulSet" else "Background")
        _wait(lambda: self.api.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")) is None,
              60, "the deletion of %s %s" % (obj["kind"], meta["name"]))
        return self.api.request("POST", self.api.path(obj["apiVersion"], obj["kind"], meta.get("namespace")),
                                body=strip_for_create(obj), query={"fieldManager": manager}, write=True)

    def update_as(self, obj, manager):
        meta = obj["metadata"]
        return self.api.request("PUT", self.api.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]),
                                body=obj, query={"fieldManager": manager}, write=True)

    def mark(self):
        self.settle()
        patroni = self.patroni_server.mark()
        if not os.path.exists(self.audit_log):
            return Mark(0, patroni)
        with open(self.audit_log) as fh:
            return Mark(sum(1 for _line in fh), patroni)

    def writes(self, since):
        out = []
        if not os.path.exists(self.audit_log):
            return out
        with open(self.audit_log) as fh:
            for i, line in enumerate(fh):
                if i < since:
                    continue
                ev = json.loads(line)
                if (ev.get("user") or {}).get("username") != PLAYBOOK_USER or ev.get("verb") not in WRITE_VERBS:
                    continue
                uri = ev.get("requestURI") or ""
                if "dryRun=All" in uri:
                    continue
                out.append((WRITE_VERBS[ev["verb"]], uri.split("?")[0]))
        return out

    def settle(self):
        time.sleep(0.5)
        self.controllers.settle(timeout=20)


__all__ = ["EnvtestHarness", "sys"]
