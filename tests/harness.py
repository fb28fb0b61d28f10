"""What several test areas (and the benchmarks) need the same way: a small postgresql manifest, run one
of this repository's playbooks like a user does, and check that a local cluster can run here.

Import it as ``ansible_collections.pgfleet.postgres.tests.harness``: the root conftest.py puts
``.collections`` on ``sys.path`` for pytest, ansible-test units has the collection loader, and the
benchmarks put ``.collections`` on ``sys.path`` themselves. (Not a conftest.py: every test area has
one, so ``from conftest import`` could pick up another area's.)
"""

import contextlib
import copy
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackgroundLoop(object):
    """A daemon thread that runs ``target`` from start() on; stop() sets ``self._stop`` (the loop ends
    when it sees it) and waits up to ``join_timeout`` seconds for the thread."""

    def __init__(self, target, name, join_timeout):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._join_timeout = join_timeout

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self._join_timeout)


def reference_dir():
    """The reference manifests: $PGFLEET_REFERENCE_DIR, else shared/reference/manifests beside the
    clone (as in CI), else the verbatim copies in examples/ (tests/unit/test_examples.py keeps them
    identical)."""
    for candidate in (os.environ.get("PGFLEET_REFERENCE_DIR"),
                      os.path.join(os.path.dirname(REPO), "shared", "reference", "manifests")):
        if candidate and os.path.isdir(candidate):
            return candidate
    return os.path.join(REPO, "examples")


REFERENCE_DIR = reference_dir()
# The minimal manifest of examples/ and the name of its cluster (the local playbook tests run it).
MINIMAL_MANIFEST = os.path.join(REPO, "examples", "minimal-postgres-manifest.yaml")
MINIMAL_CLUSTER = "acid-minimal-cluster"
# The ansible-playbook of the interpreter that runs the tests (the repo's .venv); ansible-test units
# runs in a venv of its own without it, and tests that need it skip there.
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NO_PLAYBOOK = "ansible-playbook not installed next to this python"


# Patroni timings short enough for tests on one machine (leader key TTL, loop wait, retry timeout).
FAST_PATRONI = {"ttl": 20, "loop_wait": 2, "retry_timeout": 5}


def cluster_manifest(name, instances=3, version="15", parameters=None, patroni=None, **spec):
    """A fresh postgresql manifest (acid.zalan.do/v1) ``name`` in namespace default for team acid:
    ``instances`` members, a 1Gi volume, PostgreSQL ``version`` with ``parameters`` (left out when
    None), then ``spec.patroni`` when ``patroni`` is given, then the other ``spec`` fields in the
    order given. Nothing in it is shared with another call."""
    postgresql = {"version": version}
    if parameters is not None:
        postgresql["parameters"] = parameters
    body = {"teamId": "acid", "numberOfInstances": instances, "volume": {"size": "1Gi"}, "postgresql": postgresql}
    if patroni is not None:
        body["patroni"] = patroni
    body.update(spec)
    return copy.deepcopy({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                          "metadata": {"name": name, "namespace": "default"}, "spec": body})


def ansible_env(**overrides):
    """The environment of an ansible-playbook run: this repo's ansible.cfg and collections, no colour."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", NO_COLOR="1", PY_COLORS="0")
    env.update(overrides)
    return env


def run_playbook(*args, timeout=600, env=None):
    """``ansible-playbook ARGS...`` in the repo root; returns the CompletedProcess (text, never raises
    on a non-zero exit: the caller asserts on it). ``env``: extra environment variables."""
    return subprocess.run([PLAYBOOK_BIN] + [str(a) for a in args], cwd=REPO, env=ansible_env(**(env or {})),
                          capture_output=True, text=True, timeout=timeout, check=False)


def local_cluster_skip_reason(playbook=False):
    """Why a local cluster (etcd + Patroni + PostgreSQL 15 as the postgres user) cannot run here, or None.
    ``playbook``: the test also runs ansible-playbook."""
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc

    needed = [(lc.DEFAULT_ETCD, "etcd"), (lc.DEFAULT_PATRONI, "Patroni"),
              (os.path.join(lc.DEFAULT_PG_BIN_DIR, "postgres"), "PostgreSQL 15")]
    if playbook:
        needed.append((PLAYBOOK_BIN, "ansible-playbook"))
    for path, what in needed:
        if not os.access(path, os.X_OK):
            return "%s missing (%s): run bash scripts/setup.sh" % (what, path)
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != lc.DEFAULT_OS_USER:
        return "needs root (to run services as postgres) or the postgres user"
    return None


def skip_without_local_cluster(playbook=False):
    """Skip the calling test (or fixture) when a local cluster cannot run here
    (:func:`local_cluster_skip_reason` says why)."""
    import pytest

    reason = local_cluster_skip_reason(playbook=playbook)
    if reason:
        pytest.skip(reason)


@contextlib.contextmanager
def local_home(prefix="pgf-"):
    """A fresh, empty home for local clusters (``<tmp>/clusters``, short, under /tmp for the unix
    sockets). While it is open, ``PGFLEET_HOME`` points at it, so playbooks/local.yml run through
    ``run_playbook`` accepts state dirs inside it. On exit every cluster in it is stopped by PID and
    the directory is removed."""
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc

    top = tempfile.mkdtemp(prefix=prefix)
    os.chmod(top, 0o755)  # the postgres user must traverse it
    home = os.path.join(top, "clusters")
    previous = os.environ.get("PGFLEET_HOME")
    os.environ["PGFLEET_HOME"] = top
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("PGFLEET_HOME", None)
        else:
            os.environ["PGFLEET_HOME"] = previous
        for name in (os.listdir(home) if os.path.isdir(home) else []):
            if os.path.exists(os.path.join(home, name, "state.json")):
                lc.LocalCluster(name, state_root=home).absent(timeout=30)
        shutil.rmtree(top, ignore_errors=True)


@contextlib.contextmanager
def local_state_dir(cluster, prefix="pgf-"):
    """A fresh state dir path for the local cluster ``cluster`` inside a fresh home (``local_home``;
    not created: LocalCluster creates it with the right owner, mode and marker). On exit, whatever
    happened, the cluster's processes are stopped by PID and everything is removed."""
    with local_home(prefix) as home:
        yield os.path.join(home, cluster)


@contextlib.contextmanager
def minimal_state_dir(prefix):
    """``local_state_dir`` for the minimal manifest's cluster (:data:`MINIMAL_CLUSTER`), for tests that
    run playbooks/local.yml on it; skips the test when such a cluster cannot run here."""
    skip_without_local_cluster(playbook=True)
    with local_state_dir(MINIMAL_CLUSTER, prefix=prefix) as path:
        yield path


def victim_dir(tmp_path):
    """A directory ``<tmp_path>/victim`` (mode 0755) holding a file ``precious.txt``: content that is not
    ours, which nothing may remove or adopt. Returns its path as a string."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "precious.txt").write_text("keep me")
    os.chmod(str(path), 0o755)
    return str(path)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the small HTTP servers the tests start: HTTP/1.1, no access log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status, data, headers=(("Content-Type", "application/json"),)):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
