"""Run the operator playbooks exactly as ansible-operator does, against a Kubernetes API.

Two API servers, same tests:

* ``double`` - the Kubernetes API TEST DOUBLE in ``tests/k8s_double`` (always available), with its
  fake StatefulSet controller and fake Patroni (reached through the API server's pod proxy).
* ``envtest`` - a REAL kube-apiserver + etcd from ``KUBEBUILDER_ASSETS`` (the envtest convention),
  started by ``envtest.py`` here; tests marked ``envtest`` skip with a message when they are absent.

How a run is made (``Harness.reconcile`` / ``Harness.finalize``), as ansible-operator v1.42 does:
``ansible_runner.run(private_data_dir=..., playbook=<watches.yaml playbook>, inventory=localhost,
extravars=<spec fields verbatim (snakeCaseParameters: false), ansible_operator_meta,
_acid_zalan_do_postgresql, _acid_zalan_do_postgresql_spec, then watches vars, then finalizer vars>,
envvars={K8S_AUTH_KUBECONFIG, KUBECONFIG})``; the finalizer is added to the CR before the first
run and removed after a successful finalizer run, and a ``requeue_after`` task event is read back.
Test-only additions, each because this machine is not a pod: the collections path, the Python
interpreter of the venv, and the Patroni access mode (``proxy`` through the API server instead of
pod IPs, which do not exist here).
"""

import base64
import contextlib
import copy
import json
import os
import shutil
import sys
import tempfile

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from k8s_double import KubeDouble  # noqa: E402

# ansible-runner starts ansible-playbook from PATH: use the one next to this interpreter (the venv)
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

CRD_FILE = os.path.join(REPO, "operator", "config", "crd", "bases", "acid.zalan.do_postgresqls.yaml")
WATCHES = os.path.join(REPO, "watches.yaml")
COLLECTIONS = os.path.join(REPO, ".collections")
OPERATOR_NS = "pgfleet-system"
CONFIGMAP = "postgres-operator"


def load_yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def operator_configmap(overrides=None):
    """The reference operator ConfigMap (examples/configmap.yaml), in the operator namespace."""
    cm = load_yaml(os.path.join(REPO, "examples", "configmap.yaml"))
    cm["metadata"] = {"name": CONFIGMAP, "namespace": OPERATOR_NS}
    data = dict(cm.get("data") or {})
    # No PostgreSQL runs behind the test double's pods: the role/database sync is the SQL modules'
    # own suite (tests/system/sql); here it is switched off the Zalando way.
    data["enable_database_access"] = "false"
    data.update(overrides or {})
    cm["data"] = data
    return cm


def manifest(name="acid-test-cluster", namespace="default", source="complete-postgres-manifest.yaml", **spec):
    cr = load_yaml(os.path.join(REPO, "examples", source))
    cr["metadata"] = {"name": name, "namespace": namespace}
    cr["spec"].update(spec)
    return cr


def mark_unsafe(value):
    """watches.yaml markUnsafe: every string arrives as {"__ansible_unsafe": s} (never templated)."""
    if isinstance(value, dict):
        return dict((k, mark_unsafe(v)) for k, v in value.items())
    if isinstance(value, list):
        return [mark_unsafe(v) for v in value]
    if isinstance(value, str):
        return {"__ansible_unsafe": value}
    return value


class RunResult(object):
    def __init__(self, runner, requeue, stdout):
        self.rc = runner.rc
        self.status = runner.status
        self.requeue = requeue
        self.stdout = stdout
        self.events = list(runner.events)

    def failed_tasks(self):
        return [e for e in self.events if e.get("event") == "runner_on_failed"
                and not (e.get("event_data") or {}).get("ignore_errors")]

    def task_results(self, action):
        return [(e.get("event_data") or {}).get("res") for e in self.events
                if e.get("event") == "runner_on_ok" and (e.get("event_data") or {}).get("task_action") == action]

    def __repr__(self):
        return "<run rc=%s status=%s requeue=%s>" % (self.rc, self.status, self.requeue)


class Harness(object):
    """What a test needs from an API server, and ansible-operator's way of running playbooks."""

    kind = None

    def __init__(self, kubeconfig, workdir, url):
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.url = url
        self.watches = load_yaml(WATCHES)[0]
        self.runs = 0
        self.watch_vars = {
            # this machine is not a pod: reach Patroni through the API server's pod proxy
            "reconcile_patroni_access": "proxy",
            "reconcile_api_proxy_url": url,
            # generous: the wait ends as soon as the pods are ready; only a stuck cluster takes this long
            "reconcile_wait_timeout": 120,
            "reconcile_wait_interval": 0.3,
        }

    # --- API access for assertions (implemented per server) -----------------------------------
    def get(self, api_version, kind, name, namespace=None):
        raise NotImplementedError

    def list(self, api_version, kind, namespace=None, label_selector=None):
        raise NotImplementedError

    def put(self, obj):
        raise NotImplementedError

    def delete(self, api_version, kind, name, namespace=None):
        raise NotImplementedError

    def mark(self):
        raise NotImplementedError

    def recreate_as(self, obj, manager):
        """Delete ``obj`` (a StatefulSet orphans its pods) and create it again as field manager
        ``manager`` would with a create call (operation Update): how another operator made it."""
        raise NotImplementedError

    def update_as(self, obj, manager):
        """Replace ``obj`` (PUT) as field manager ``manager``."""
        raise NotImplementedError

    def writes(self, since):
        """[(method, path)] of API writes since ``mark()`` (dry runs excluded)."""
        raise NotImplementedError

    def settle(self):
        pass

    # --- ansible-operator ---------------------------------------------------------------------
    def _parameters(self, cr, finalizer=False):
        spec = copy.deepcopy(cr.get("spec") or {})
        params = dict(spec)  # snakeCaseParameters: false -> spec keys verbatim
        params["ansible_operator_meta"] = {"name": cr["metadata"]["name"],
                                           "namespace": cr["metadata"].get("namespace", "")}
        params["_acid_zalan_do_postgresql"] = copy.deepcopy(cr)
        params["_acid_zalan_do_postgresql_spec"] = spec
        params.update(self.watches.get("vars") or {})
        params.update(self.watch_vars)
        if finalizer:
            params.update((self.watches.get("finalizer") or {}).get("vars") or {})
        return params

    def _run(self, playbook, cr, finalizer=False, extravars=None):
        """ansible-operator's input directory (env/extravars, env/envvars as JSON, inventory/hosts), then run."""
        ns, name = cr["metadata"].get("namespace", "default"), cr["metadata"]["name"]
        data_dir = os.path.join(self.workdir, "runner", ns, name)
        for sub in ("env", "inventory", "project"):
            os.makedirs(os.path.join(data_dir, sub), exist_ok=True)
        params = self._parameters(cr, finalizer)
        params.update(extravars or {})
        if self.watches.get("markUnsafe"):
            params = mark_unsafe(params)
        envvars = {
            "K8S_AUTH_KUBECONFIG": self.kubeconfig, "KUBECONFIG": self.kubeconfig,
            # test-only: where this checkout's collections are (the image installs them)
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            # the operator Deployment's environment (operator/config/manager/manager.yaml)
            "ANSIBLE_GATHERING": "explicit", "CONFIG_MAP_NAME": CONFIGMAP, "OPERATOR_NAMESPACE": OPERATOR_NS,
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "false",
        }
        with open(os.path.join(data_dir, "env", "extravars"), "w") as fh:
            json.dump(params, fh)
        with open(os.path.join(data_dir, "env", "envvars"), "w") as fh:
            json.dump(envvars, fh)
        venv = os.path.dirname(os.path.dirname(sys.executable))
        with open(os.path.join(data_dir, "inventory", "hosts"), "w") as fh:
            fh.write("localhost ansible_connection=local ansible_python_interpreter=%s" % os.path.join(venv, "bin/python"))
        import ansible_runner

        self.runs += 1
        runner = ansible_runner.run(private_data_dir=data_dir, playbook=os.path.join(REPO, playbook),
                                    quiet=True, rotate_artifacts=3, ident="run%d-%d" % (os.getpid(), self.runs))
        requeue = None
        for ev in runner.events:
            data = ev.get("event_data") or {}
            if data.get("task_action") in ("requeue_after", "operator_sdk.util.requeue_after") \
                    and ev.get("event") == "runner_on_ok":
                requeue = (data.get("res") or {}).get("period")
                break
        stdout = runner.stdout.read() if hasattr(runner.stdout, "read") else ""
        return RunResult(runner, requeue, stdout)

    def current_cr(self, name, namespace):
        return self.get("acid.zalan.do/v1", "postgresql", name, namespace)

    def reconcile(self, name, namespace="default", extravars=None):
        """One reconcile of the CR as it is stored now (finalizer added first, like the operator)."""
        cr = self.current_cr(name, namespace)
        assert cr is not None, "postgresql %s/%s does not exist" % (namespace, name)
        fin = (self.watches.get("finalizer") or {}).get("name")
        if fin and fin not in (cr["metadata"].get("finalizers") or []) and not cr["metadata"].get("deletionTimestamp"):
            cr["metadata"]["finalizers"] = (cr["metadata"].get("finalizers") or []) + [fin]
            cr = self.put(cr)
        return self._run(self.watches["playbook"], cr, extravars=extravars)

    def finalize(self, name, namespace="default", extravars=None):
        """The finalizer run after a delete; removes the finalizer when the run succeeded."""
        cr = self.current_cr(name, namespace)
        assert cr is not None and cr["metadata"].get("deletionTimestamp"), "the CR is not being deleted"
        fin = self.watches["finalizer"]["name"]
        result = self._run(self.watches["finalizer"]["playbook"], cr, finalizer=True, extravars=extravars)
        if result.rc == 0:
            cr = self.current_cr(name, namespace)
            if cr is not None:
                cr["metadata"]["finalizers"] = [f for f in cr["metadata"].get("finalizers") or [] if f != fin]
                self.put(cr)
        return result

    def status(self, name, namespace="default"):
        cr = self.current_cr(name, namespace)
        st = (cr or {}).get("status") or {}
        return st if isinstance(st, dict) else {"PostgresClusterStatus": st}


class DoubleHarness(Harness):
    kind = "double"

    def __init__(self, double, kubeconfig, workdir):
        super(DoubleHarness, self).__init__(kubeconfig, workdir, double.url)
        self.double = double

    def get(self, api_version, kind, name, namespace=None):
        return self.double.get(api_version, kind, name, namespace)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return self.double.list(api_version, kind, namespace, label_selector)

    def put(self, obj):
        return self.double.put_object(obj)

    def delete(self, api_version, kind, name, namespace=None):
        t = self.double.rtype(api_version, kind)
        return self.double.store.delete(t, namespace, name)

    def mark(self):
        self.settle()
        return self.double.mark()

    def recreate_as(self, obj, manager):
        t = self.double.rtype(obj["apiVersion"], obj["kind"])
        ns = obj["metadata"].get("namespace")
        self.double.store.delete(t, ns, obj["metadata"]["name"],
                                 propagation="Orphan" if obj["kind"] == "StatefulSet" else "Background")
        return self.double.store.create(t, ns, strip_for_create(obj), manager=manager)

    def update_as(self, obj, manager):
        t = self.double.rtype(obj["apiVersion"], obj["kind"])
        return self.double.store.update(t, obj["metadata"].get("namespace"), obj["metadata"]["name"], obj,
                                        manager=manager)

    def writes(self, since):
        return [(r["method"], r["path"]) for r in self.double.writes(since)]

    def settle(self):
        # generous: returns as soon as the fake controllers have nothing due; a double that is still
        # busy after that is a failure to see, not a state to test against
        assert self.double.settle(timeout=120), "the test double's controllers did not settle"


def strip_for_create(obj):
    """``obj`` as a client sends it to create it: no server-set metadata, no status."""
    body = copy.deepcopy(obj)
    body.pop("status", None)
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "deletionTimestamp",
                "deletionGracePeriodSeconds", "selfLink"):
        body["metadata"].pop(key, None)
    return body


def _envtest_assets():
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if not assets:
        return None, "KUBEBUILDER_ASSETS is not set (it must name a directory with kube-apiserver and etcd)"
    for binary in ("kube-apiserver", "etcd"):
        if not os.access(os.path.join(assets, binary), os.X_OK):
            return None, "KUBEBUILDER_ASSETS=%s has no executable %s" % (assets, binary)
    return assets, None


@pytest.fixture(scope="module", params=["double", pytest.param("envtest", marks=pytest.mark.envtest)])
def api(request, tmp_path_factory):
    """A started API server with the CRD, the operator namespace and the operator ConfigMap."""
    workdir = str(tmp_path_factory.mktemp("operator-%s" % request.param))
    kubeconfig = os.path.join(workdir, "kubeconfig")
    overrides = getattr(request.module, "CONFIG_OVERRIDES", None)
    if request.param == "double":
        double = KubeDouble(pod_start_seconds=0.2).start()
        double.write_kubeconfig(kubeconfig)
        harness = DoubleHarness(double, kubeconfig, workdir)
        teardown = double.stop
    else:
        assets, why = _envtest_assets()
        if assets is None:
            pytest.skip("envtest: %s" % why)
        from envtest import EnvtestHarness

        harness = EnvtestHarness.start(assets, workdir, kubeconfig)
        teardown = harness.stop
    try:
        harness.put(load_yaml(CRD_FILE))
        harness.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
        harness.put(operator_configmap(overrides))
        yield harness
    finally:
        teardown()
        if not os.environ.get("PGFLEET_TEST_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres(request):
    """A plain PostgreSQL 15 for this test module (the SQL suite's, tests/system/sql/pg_server.py), with
    the role Spilo's bootstrap (post_init) creates and the sync expects: the team admin role."""
    from ansible_collections.pgfleet.postgres.tests.system.sql import pg_server

    if not pg_server.installed():
        pytest.skip(pg_server.NOT_INSTALLED)
    # pgfleet-reconcile-sql- for test_reconcile_sql.py
    prefix = "pgfleet-%s-" % request.module.__name__.rpartition(".")[2][len("test_"):].replace("_", "-")
    with pg_server.running(prefix) as server:
        server.query("CREATE ROLE admin CREATEDB NOLOGIN")
        yield server


@contextlib.contextmanager
def sql_double(workdir, postgres, name, **watch_vars):
    """A DoubleHarness on a fresh API double whose reconcile runs the role and database sync against
    ``postgres`` (pointed at it through ``reconcile_postgres_host``/``reconcile_postgres_port``, the way a
    DBA points it at a port-forward; ``watch_vars``: more of them). The double holds the CRD, the
    operator namespace, the operator ConfigMap with database access on, and the superuser's credential
    secret of cluster ``name`` with that server's password, as it would exist for an adopted cluster.
    The double is stopped on exit."""
    double = KubeDouble(pod_start_seconds=0.2).start()
    try:
        kubeconfig = double.write_kubeconfig(os.path.join(workdir, "kubeconfig"))
        harness = DoubleHarness(double, kubeconfig, workdir)
        harness.watch_vars.update({"reconcile_postgres_host": "127.0.0.1", "reconcile_postgres_port": postgres.port,
                                   "reconcile_postgres_sslmode": "disable"}, **watch_vars)
        for obj in (load_yaml(CRD_FILE), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
                    operator_configmap({"enable_database_access": "true"})):
            harness.put(obj)
        b64 = base64.b64encode
        harness.put({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": "postgres.%s.credentials.postgresql.acid.zalan.do" % name, "namespace": "default",
                                  "labels": {"application": "spilo", "cluster-name": name, "team": "acid"}},
                     "data": {"username": b64(b"postgres").decode(), "password": b64(postgres.password.encode()).decode()}})
        yield harness
    finally:
        double.stop()


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=str)


__all__ = ["manifest", "operator_configmap", "dump", "tempfile"]
