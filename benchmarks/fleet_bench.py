#!/usr/bin/env python
"""Benchmark: a fleet of postgresql clusters reconciled as ansible-operator would, on the API test double
and, when ``KUBEBUILDER_ASSETS`` names a kube-apiserver and etcd, on a real API server.

For each fleet size N (``--sizes``, default 10) and each concurrency C (``--concurrency``, default 1,2),
on a fresh Kubernetes API double (tests/k8s_double, fake StatefulSet controller and fake Patroni):

1. N clusters are created: the complete example manifest, two of them (when N >= 2) with
   ``--big-users`` users (default 1,000); each is reconciled once (the create run, not timed here).
2. One full resync of the fleet: every CR is reconciled again, C at a time, from one FIFO queue, the
   way ansible-operator's work queue hands the periodic resync to ``maxConcurrentReconciles`` workers.
   While it runs, a new manifest is created and queued behind the resync (an add event lands behind
   the resync events already queued): the time from its creation to its StatefulSet existing is printed.
   Then the next periodic resync, compressed in time: ansible-operator requeues each cluster
   ``reconcilePeriod`` after its last reconcile ended, so each is due again that long after its
   reconcile in step 2 ended (the period taken as step 2's wall time plus 1 s); a second new manifest
   arrives halfway through, and its time to a StatefulSet is printed too.
3. Printed: time of the full resync, time from the new manifest to its StatefulSet, the peak memory of
   one reconcile's process tree (ansible-runner, ansible-playbook, workers, modules; PSS and RSS sum),
   the API writes made by the resync of the N steady clusters (target 0), and the growth of each number
   against the previous N.

Each run goes through ``ansible-runner run <dir> -p <watches.yaml playbook>`` with the input
directory ansible-operator writes (benchmarks/reconcile_bench.py ``input_dir``). Numbers are printed
with the load average, never asserted.

    .venv/bin/python benchmarks/fleet_bench.py                                # N=10, C=1,2
    .venv/bin/python benchmarks/fleet_bench.py --sizes 10,50,100 --concurrency 1,2
    KUBEBUILDER_ASSETS=/opt/envtest/1.36 .venv/bin/python benchmarks/fleet_bench.py --servers envtest

``--servers`` (default: ``double``, and ``envtest`` too when ``KUBEBUILDER_ASSETS`` is set): on ``envtest``
the API server, etcd and the fake kubelet/Patroni of the operator tests' envtest tier
(tests/system/operator/envtest.py) stand where the double was; writes are counted from the API
server's audit log (reads are not counted there).
"""

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from k8s_double import KubeDouble  # noqa: E402
from reconcile_bench import OPERATOR_NS, run_once  # noqa: E402

FINALIZER = "postgres-operator.acid.zalan.do"
CRD = os.path.join(REPO, "operator", "config", "crd", "bases", "acid.zalan.do_postgresqls.yaml")


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def fleet_manifests(n, big_users, base):
    """N manifests named fleet-NNN in namespace default; the first two with ``big_users`` users."""
    result = []
    for i in range(n):
        cr = copy.deepcopy(base)
        cr["metadata"] = {"name": "fleet-%03d" % i, "namespace": "default", "finalizers": [FINALIZER]}
        if i < 2 and big_users:
            users = dict(cr["spec"].get("users") or {})
            users.update(("app_user_%05d" % j, []) for j in range(max(0, big_users - len(users))))
            cr["spec"]["users"] = users
        result.append(cr)
    return result


class EnvtestServer(object):
    """What this benchmark uses of the API double, on a real kube-apiserver + etcd (the operator tests'
    envtest tier: its fake kubelet and fake Patroni make the pods run and ready)."""

    def __init__(self, work):
        sys.path.insert(0, os.path.join(REPO, ".collections"))
        sys.path.insert(0, os.path.join(REPO, "tests", "system", "operator"))
        from envtest import EnvtestHarness  # noqa: E402 pylint: disable=import-outside-toplevel

        self.harness = EnvtestHarness.start(os.environ["KUBEBUILDER_ASSETS"], work, os.path.join(work, "kubeconfig"))
        self.url = self.harness.url

    def write_kubeconfig(self, _path):
        return self.harness.kubeconfig  # written by the harness (the playbook's token)

    def put_object(self, obj):
        self.harness.put(obj)

    def get(self, api_version, kind, name, namespace=None):
        return self.harness.get(api_version, kind, name, namespace)

    def settle(self):
        self.harness.settle()

    def mark(self):
        return self.harness.mark()

    def writes(self, since):
        # the audit log names no Event's involvedObject: the new cluster's Events count as steady writes here
        return [{"method": method, "path": path} for method, path in self.harness.writes(since)]

    def mutations(self, since):
        return self.writes(since)

    def requests_since(self, _since):
        return []  # the audit log is read for writes only

    def stop(self):
        self.harness.stop()


class Fleet(object):
    """One API server (the double, or envtest) with the CRD, the operator ConfigMap and N created clusters."""

    def __init__(self, work, manifests, server="double"):
        self.work = work
        self.double = EnvtestServer(work) if server == "envtest" else KubeDouble(pod_start_seconds=0.2).start()
        self.kubeconfig = self.double.write_kubeconfig(os.path.join(work, "kubeconfig"))
        self.double.put_object(_load(CRD))
        self.double.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
        config = _load(os.path.join(REPO, "examples", "configmap.yaml"))
        config["metadata"] = {"name": "postgres-operator", "namespace": OPERATOR_NS}
        config["data"]["enable_database_access"] = "false"  # no PostgreSQL behind the double's pods
        self.double.put_object(config)
        self.names = []
        for cr in manifests:
            self.double.put_object(cr)
            self.names.append(cr["metadata"]["name"])

    def reconcile(self, name, ident):
        cr = self.double.get("acid.zalan.do/v1", "postgresql", name, "default")
        data_dir = os.path.join(self.work, "runner", name)
        row = run_once(self.double, data_dir, cr, self.kubeconfig, ident)
        row["full_reason"] = full_reason(data_dir, ident)
        return row

    def statefulset_exists(self, name):
        return self.double.get("apps/v1", "StatefulSet", name, "default") is not None

    def stop(self):
        self.double.stop()


def full_reason(data_dir, ident):
    """Why the run was a full reconcile (role reconcile says it in a debug task), or None."""
    events = os.path.join(data_dir, "artifacts", ident, "job_events")
    for fname in os.listdir(events) if os.path.isdir(events) else []:
        try:
            event = json.load(open(os.path.join(events, fname)))
        except ValueError:
            continue
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("task") == "Say why this reconcile is a full one":
            return (data.get("res") or {}).get("msg")
    return None


def run_queue(fleet, names, concurrency, ident, late=None):
    """Reconcile ``names`` from one FIFO queue with ``concurrency`` workers; returns (wall, results, late_s).
    ``late`` = (delay_s, manifest): created after delay_s and queued behind the names still waiting."""
    now = time.monotonic()
    # all due at once, in this order (a microsecond apart keeps the FIFO order whatever the names)
    due = [(now + index * 1e-6, name) for index, name in enumerate(names)]
    return run_due(fleet, due, concurrency, ident, (now + late[0], late[1]) if late else None)


def run_due(fleet, due, concurrency, ident, late=None):
    """Reconcile each cluster of ``due`` = [(monotonic time it is due, name)] once it is due, the longest-due
    first, with ``concurrency`` workers. ``late`` = (monotonic time, manifest): created then, due at once,
    behind the clusters already due. Returns (wall, results, late_s); each result row has ``finished``.

    The first resync of a fleet has every cluster due at once (an operator start queues them all); the
    periodic resync after it has each cluster due ``reconcilePeriod`` after its last reconcile ended
    (ansible-operator requeues it then), so the clusters come back spread as their reconciles ended."""
    due = sorted(due)
    lock = threading.Lock()
    results = []
    late_state = {}

    def worker():
        while True:
            with lock:
                if not due:
                    return
                name = due.pop(0)[1] if due[0][0] <= time.monotonic() else None
            if name is None:
                time.sleep(0.05)
                continue
            row = fleet.reconcile(name, ident)
            row["name"] = name
            row["finished"] = time.monotonic()
            with lock:
                results.append(row)

    def add_late():
        time.sleep(max(0.0, late[0] - time.monotonic()))
        fleet.double.put_object(late[1])
        late_state["created"] = time.monotonic()
        with lock:
            due.append((late_state["created"], late[1]["metadata"]["name"]))
            due.sort()
        while not fleet.statefulset_exists(late[1]["metadata"]["name"]):
            time.sleep(0.1)
        late_state["statefulset"] = time.monotonic()

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _index in range(concurrency)]
    watcher = threading.Thread(target=add_late, daemon=True) if late else None
    for thread in threads + ([watcher] if watcher else []):
        thread.start()
    for thread in threads:
        thread.join()
    if watcher:
        watcher.join(timeout=600)
    late_s = late_state["statefulset"] - late_state["created"] if "statefulset" in late_state else None
    return time.monotonic() - start, results, late_s


def measure(n, concurrency, big_users, base, server="double"):
    work = tempfile.mkdtemp(prefix="pgfleet-fleet-")
    manifests = fleet_manifests(n, big_users, base)
    fleet = Fleet(work, manifests, server)
    try:
        create_wall, created, _unused = run_queue(fleet, fleet.names, concurrency, "create")
        failed = [r["name"] for r in created if r["rc"] != 0]
        fleet.double.settle()
        mark = fleet.double.mark()
        new = copy.deepcopy(base)
        new["metadata"] = {"name": "fleet-new", "namespace": "default", "finalizers": [FINALIZER]}
        resync_wall, resynced, late_s = run_queue(fleet, list(fleet.names), concurrency, "resync", late=(1.0, new))
        # the next period, compressed: each steady cluster is due again as long after its last reconcile
        # ended as the queued resync took; a second new manifest arrives halfway through
        period = resync_wall + 1.0
        ready = [(r["finished"] + period, r["name"]) for r in resynced if r["name"] != "fleet-new"]
        first, last = min(entry[0] for entry in ready), max(entry[0] for entry in ready)
        second = copy.deepcopy(base)
        second["metadata"] = {"name": "fleet-new-2", "namespace": "default", "finalizers": [FINALIZER]}
        halfway = ((first + last) / 2.0, second)
        periodic_wall, periodic, periodic_late_s = run_due(fleet, ready, concurrency, "periodic", halfway)
        steady = [r for r in resynced if r["name"] != "fleet-new"]
        # per-run counts overlap when C > 1: count the double's writes by path, the new cluster's apart
        writes = fleet.double.writes(mark)
        # (the two new clusters: fleet-new and fleet-new-2)
        new_writes = [w for w in writes if "fleet-new" in w["path"] or str(w.get("subject") or "").startswith("fleet-new")]
        steady_writes = len(writes) - len(new_writes)
        steady_paths = sorted(set("%s %s" % (w.get("method"), w["path"]) for w in writes
                                  if not any(w is n for n in new_writes)))
        return {
            "server": server, "n": n, "c": concurrency, "create_wall": create_wall, "create_failed": failed, "resync_wall": resync_wall,
            "noop_median": statistics.median(r["wall"] for r in steady), "noop_max": max(r["wall"] for r in steady),
            # the fast path: the run had no apply task (the full reconcile was skipped after the read)
            "fast": len([r for r in steady if not any("Apply the objects" in t for t in r.get("tasks") or {})]),
            "late_s": late_s, "periodic_late_s": periodic_late_s, "periodic_wall": periodic_wall,
            "periodic_failed": [r["name"] for r in periodic if r["rc"] != 0],
            "periodic_full": sorted("%s (%s)" % (r["name"], r.get("full_reason") or "?") for r in periodic
                                    if not r["name"].startswith("fleet-new")
                                    and any("Apply the objects" in t for t in r.get("tasks") or {})),
            "pss_mb": max(r["pss_mb"] for r in resynced + created),
            "rss_mb": max(r["rss_mb"] for r in resynced + created), "steady_writes": steady_writes,
            "new_writes": len(new_writes), "steady_paths": steady_paths,
            "failed": [r["name"] for r in resynced if r["rc"] != 0],
        }
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)


def _growth(rows, key, row):
    previous = [r for r in rows if r["server"] == row["server"] and r["c"] == row["c"] and r["n"] < row["n"] and r.get(key)]
    if not previous or not row.get(key):
        return ""
    prev = previous[-1]
    return " x%.2f for N x%.1f" % (row[key] / prev[key], float(row["n"]) / prev["n"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="10", help="comma-separated fleet sizes (e.g. 10,50,100)")
    ap.add_argument("--concurrency", default="1,2", help="comma-separated worker counts (maxConcurrentReconciles)")
    ap.add_argument("--big-users", type=int, default=1000, help="users of the two big clusters (0: none)")
    ap.add_argument("--manifest", default=os.path.join(REPO, "examples", "complete-postgres-manifest.yaml"))
    ap.add_argument("--servers", default="double,envtest" if os.environ.get("KUBEBUILDER_ASSETS") else "double",
                    help="double (the API test double) and/or envtest (a real kube-apiserver from KUBEBUILDER_ASSETS)")
    args = ap.parse_args()
    servers = [x for x in args.servers.split(",") if x]
    if "envtest" in servers and not os.environ.get("KUBEBUILDER_ASSETS"):
        sys.exit("--servers envtest needs KUBEBUILDER_ASSETS (a directory with kube-apiserver and etcd)")
    if not os.path.exists(os.path.join(REPO, ".collections", "ansible_collections", "pgfleet", "postgres")):
        sys.exit("run scripts/setup.sh first (the collection is not linked into .collections)")
    base = _load(args.manifest)
    load = " ".join("%.2f" % x for x in os.getloadavg())
    print("fleet benchmark on %s: %d CPU(s), load average %s" % (" and ".join(servers), os.cpu_count(), load))
    rows = []
    for server in servers:
        for n in [int(x) for x in args.sizes.split(",")]:
            for c in [int(x) for x in args.concurrency.split(",")]:
                _report(rows, measure(n, c, args.big_users, base, server))


def _report(rows, row):
    """Print one measured row, with how each number grew against the previous N."""
    rows.append(row)
    n, c = row["n"], row["c"]
    failed = " (FAILED: %s)" % ", ".join(row["create_failed"]) if row["create_failed"] else ""
    print("[%s] N=%d C=%d: create of the fleet %.1f s%s" % (row["server"], n, c, row["create_wall"], failed))
    print("  full resync %.1f s%s; one no-op reconcile median %.1f s, max %.1f s; %d of %d took the fast path" % (
        row["resync_wall"], _growth(rows, "resync_wall", row), row["noop_median"], row["noop_max"],
        row["fast"], row["n"]))
    print("  new manifest -> StatefulSet while the fleet resyncs: %s%s" % (
        "%.1f s" % row["late_s"] if row["late_s"] is not None else "never", _growth(rows, "late_s", row)))
    print("  new manifest -> StatefulSet halfway through the next periodic resync (each cluster due again "
          "after its last reconcile, as ansible-operator requeues): %s%s%s" % (
              "%.1f s" % row["periodic_late_s"] if row["periodic_late_s"] is not None else "never",
              _growth(rows, "periodic_late_s", row),
              " FAILED runs: %s" % ", ".join(row["periodic_failed"]) if row["periodic_failed"] else ""))
    print("  periodic resync: %d of %d took the fast path%s" % (
        row["n"] - len(row["periodic_full"]), row["n"],
        "; full reconcile: %s" % ", ".join(row["periodic_full"]) if row["periodic_full"] else ""))
    print("  peak memory of one reconcile's process tree: %.0f MB PSS, %.0f MB RSS sum%s" % (
        row["pss_mb"], row["rss_mb"], _growth(rows, "pss_mb", row)))
    print("  API writes of the no-op resyncs of the %d steady clusters: %d (the new clusters: %s)%s" % (
        n, row["steady_writes"], row["new_writes"], " FAILED runs: %s" % ", ".join(row["failed"]) if row["failed"] else ""))
    for path in row["steady_paths"][:10]:
        print("    write not made by the new cluster's run: %s" % path)
    print("  load average now: %s" % " ".join("%.2f" % x for x in os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
