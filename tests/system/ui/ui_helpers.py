"""Helpers of the console tests (the fixtures are in conftest.py beside this file).

The web console (ui/) against real things, driven by a real headless Chromium:

* ``rbac_double``: the Kubernetes API test double with an authorizing front: bearer tokens map to
  users; ``viewer`` may only read, ``admin`` (and the double's own kubeconfig token, which the
  operator playbooks use) may do everything; no token or an unknown one is 401. The refusals come
  from the API side, as a real API server's RBAC would answer (a Status object, 403).
* ``operator``: the operator's own playbooks (reconcile, finalizer) run as ansible-operator runs them,
  in a background loop, for every ``postgresql`` object that changed or is not Running yet.
* ``console_server``: the console's WSGI app served by waitress on a free loopback port.
* ``browser``: Selenium + Debian's chromium/chromium-driver, headless; ``shot(name)`` saves a
  screenshot under tests/output/ui-screenshots/.
"""

import importlib.util
import json
import os
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
for path in (os.path.join(REPO, "ui"), os.path.join(REPO, "tests")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.pgfleet.postgres.tests.harness import BackgroundLoop, free_port  # noqa: E402
from k8s_double import KubeDouble  # noqa: E402
from k8s_double import server as double_server  # noqa: E402

SCREENSHOTS = os.path.join(REPO, "tests", "output", "ui-screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKENS = {"admin-token": "admin", "viewer-token": "viewer", "not-a-secret-double-token": "admin"}
DELETE_KEYS = {"delete_annotation_date_key": "delete-date", "delete_annotation_name_key": "delete-clustername"}


def operator_helpers():
    """The operator test area's harness (runs playbooks as ansible-operator does), loaded by path."""
    name = "pgfleet_ui_operator_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tests", "system", "operator", "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class _AuthHandler(double_server._Handler):
    def _dispatch(self, method):
        auth = self.headers.get("Authorization") or ""
        user = TOKENS.get(auth[7:]) if auth.startswith("Bearer ") else None
        path = self.path.split("?")[0]
        public = path in ("/healthz", "/readyz", "/livez", "/version")
        # The operator tests reach Patroni through the pod proxy with Patroni's own basic auth, standing in
        # for pod IPs (which do not exist here): that path is not the API's RBAC and stays open.
        public = public or ("/proxy" in path and not auth.startswith("Bearer "))
        if not public and user is None:
            return self._refuse(method, 401, "Unauthorized", "Unauthorized")
        if not public and user == "viewer" and (method != "GET" or "/proxy" in path):
            verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method)
            return self._refuse(method, 403, "Forbidden", 'user "viewer" cannot %s resource at %s' % (verb, path))
        if method == "GET" and ":8080/proxy" in path and user is not None:
            return self._bg_mon(path)
        return super(_AuthHandler, self)._dispatch(method)

    def _bg_mon(self, path):
        """A stand-in for Spilo's bg_mon (port 8080) behind the pod proxy: the double has no PostgreSQL, so
        this answers a document of bg_mon's shape whose numbers move with every call."""
        parts = path.strip("/").split("/")
        ns, pod = parts[3], parts[5].split(":")[0]
        if self.double.get("v1", "Pod", pod, ns) is None:
            return self._refuse("GET", 404, "NotFound", 'pods "%s" not found' % pod)
        self.double.bg_mon_calls = n = getattr(self.double, "bg_mon_calls", 0) + 1
        doc = {"hostname": pod, "time": int(time.time()), "cpu_cores": 2,
               "postgresql": {"version": "15", "role": "master", "wal": {"written": 1000 * n},
                              "connections": {"max": 100, "total": 3, "idle_in_transaction": 0, "active": 2}},
               "disk_stats": {"data": {"directory": {"name": "/home/postgres/pgdata", "size": 50 * 1048576 + n}}},
               "databases": {"app": {"xact": {"commit": 100 + n % 7, "rollback": 1}}},
               "processes": [
                   {"pid": 100, "type": "backend", "state": "R", "cpu": {"user": 10.0 + n % 5, "system": 2.0},
                    "io": {"read": 4096 * n, "write": 0}, "uss": 2097152, "age": 0.5 * n, "database": "app",
                    "username": "app_owner", "query": "UPDATE accounts SET balance = balance - 1 WHERE id = %d" % n},
                   {"pid": 101, "type": "backend", "state": "S", "cpu": {"user": 0, "system": 0},
                    "io": {"read": 0, "write": 0}, "uss": 1048576, "locked_by": [100], "age": 0.4 * n,
                    "database": "app", "username": "app_owner", "wait_event_type": "Lock",
                    "wait_event": "transactionid", "query": "UPDATE accounts SET balance = 0 WHERE id = 1"}]}
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def _refuse(self, method, code, reason, message):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        rec = double_server.RequestRecord(method=method, path=self.path.split("?")[0], query={}, content_type="",
                                          dry_run=False, user_agent=self.headers.get("User-Agent", ""), status=code,
                                          mutated=False, time=time.time(), resource=None, proxy=False)
        with self.double._req_lock:
            self.double.requests.append(rec)
        self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                          "reason": reason, "code": code}, {})


class RbacDouble(KubeDouble):
    def start(self):
        double = self

        class Handler(_AuthHandler):
            pass

        Handler.double = double
        self._httpd = double_server._Server((self.host, self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="k8s-double-http", daemon=True)
        self._thread.start()
        return self


class OperatorLoop(BackgroundLoop):
    """Reconciles every postgresql object that changed or is not Running, like the operator would."""

    def __init__(self, harness, double):
        super(OperatorLoop, self).__init__(self._loop, "ui-test-operator", join_timeout=300)
        self.harness = harness
        self.double = double
        self.seen = {}
        self.runs = []

    def _loop(self):
        while not self._stop.wait(0.5):
            for cr in self.double.list("acid.zalan.do/v1", "postgresql"):
                meta = cr["metadata"]
                key = (meta.get("namespace"), meta["name"])
                status = cr.get("status") if isinstance(cr.get("status"), dict) else {}
                deleting = bool(meta.get("deletionTimestamp"))
                done = (self.seen.get(key) == (meta.get("uid"), meta.get("generation"))
                        and status.get("PostgresClusterStatus") == "Running")
                if done and not deleting:
                    continue
                if deleting and not meta.get("finalizers"):
                    continue
                try:
                    if deleting:
                        result = self.harness.finalize(meta["name"], key[0])
                    else:
                        result = self.harness.reconcile(meta["name"], key[0])
                        self.seen[key] = (meta.get("uid"), meta.get("generation"))
                    self.runs.append((key, "finalize" if deleting else "reconcile", result.rc))
                except Exception as err:  # keep the loop alive; the test sees the missing progress
                    self.runs.append((key, "error", repr(err)))
                if self._stop.is_set():
                    return


class ConsoleServer(object):
    def __init__(self, console):
        from pgfleet_console.app import create_app
        from waitress import create_server

        self.console = console
        self.app = create_app(console)
        self.port = free_port()
        self.server = create_server(self.app, host="127.0.0.1", port=self.port, threads=8)
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.server.close()


def skip_without_browser():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip("%s missing: run bash scripts/setup.sh (installs chromium and chromium-driver)" % path)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium missing: run bash scripts/setup.sh (ui/requirements.txt)")


class Browser(object):
    def __init__(self, prefix):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ.setdefault("SE_OFFLINE", "true")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,1800", "--no-first-run", "--disable-extensions"):
            opts.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(60)
        self.prefix = prefix
        os.makedirs(SCREENSHOTS, exist_ok=True)

    def shot(self, name):
        path = os.path.join(SCREENSHOTS, "%s-%s.png" % (self.prefix, name))
        self.driver.save_screenshot(path)
        return path

    def wait_for(self, check, timeout=120, what="condition", interval=0.3):
        """Poll ``check()`` until it returns a true value (generous timeouts; never a timing assert)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except Exception as err:  # stale elements while the page updates
                last = err
            time.sleep(interval)
        self.shot("timeout")
        raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))

    def quit(self):
        self.driver.quit()


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=str)
