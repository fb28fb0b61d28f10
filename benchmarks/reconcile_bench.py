#!/usr/bin/env python
"""Benchmark: one create reconcile and one no-op reconcile of the complete manifest.

Runs playbooks/reconcile.yml exactly as ansible-operator v1.42 does (``ansible-runner run <dir>
-p <playbook>`` with env/extravars, env/envvars and inventory/hosts written as its input
directory) against the Kubernetes API test double (tests/k8s_double, with its fake StatefulSet
controller and fake Patroni), and prints for each run:

* wall time of the ansible-runner process tree;
* peak memory of that whole process tree (ansible-runner, ansible-playbook, its workers and every
  module process), sampled every 20 ms, as the sum of RSS (counts shared pages once per process, an
  upper bound) and as the sum of PSS (shared pages split between the processes that map them);
* the API requests the run made: all, reads, writes (non-dry-run POST/PUT/PATCH/DELETE), writes that
  changed something, and Patroni REST calls through the pod proxy.

Three runs per fresh double: create, no-op (the steady cluster's resync: the fast path, one read) and
full (the same resync with ``reconcile_fast_path=false``: render, compare, Patroni view, status). For
the no-op it also prints where the time goes: the start-up of ansible-runner and ansible-playbook with
one task, and the read task (from ansible-runner's job events).

Targets: no-op <= 2 s with zero writes; peak memory <= 300 MB.
Numbers are printed, never asserted. The machine's load is printed too: the runs are CPU-bound.

    .venv/bin/python benchmarks/reconcile_bench.py [--runs 3] [--manifest examples/complete-postgres-manifest.yaml]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))

from k8s_double import KubeDouble  # noqa: E402

OPERATOR_NS = "pgfleet-system"


class TreeMemory(object):
    """Peak RSS/PSS sums of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid, interval=0.02):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            rss = pss = 0
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.max_procs = max(self.max_procs, len(procs))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)


def input_dir(path, cr, kubeconfig, api_url, extra=None):
    """ansible-operator's runner input directory for one CR (``extra``: more extra vars)."""
    for sub in ("env", "inventory", "project"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    watches = yaml.safe_load(open(os.path.join(REPO, "watches.yaml")))[0]
    params = dict(cr.get("spec") or {})
    params["ansible_operator_meta"] = {"name": cr["metadata"]["name"], "namespace": cr["metadata"]["namespace"]}
    params["_acid_zalan_do_postgresql"] = cr
    params["_acid_zalan_do_postgresql_spec"] = cr.get("spec") or {}
    params.update(watches.get("vars") or {})
    # this machine is not a pod: Patroni through the API server's pod proxy
    params.update({"reconcile_patroni_access": "proxy", "reconcile_api_proxy_url": api_url})
    params.update(extra or {})
    envvars = {"K8S_AUTH_KUBECONFIG": kubeconfig, "KUBECONFIG": kubeconfig,
               "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".collections"), "ANSIBLE_GATHERING": "explicit",
               "CONFIG_MAP_NAME": "postgres-operator", "OPERATOR_NAMESPACE": OPERATOR_NS}
    with open(os.path.join(path, "env", "extravars"), "w") as fh:
        json.dump(params, fh)
    with open(os.path.join(path, "env", "envvars"), "w") as fh:
        json.dump(envvars, fh)
    with open(os.path.join(path, "inventory", "hosts"), "w") as fh:
        fh.write("localhost ansible_connection=local ansible_python_interpreter=%s" % sys.executable)
    return os.path.join(REPO, watches["playbook"])


def task_times(data_dir, ident):
    """{task name: seconds} of one run, from ansible-runner's job events (artifacts/<ident>/job_events)."""
    out = {}
    events = os.path.join(data_dir, "artifacts", ident, "job_events")
    for fname in os.listdir(events) if os.path.isdir(events) else []:
        try:
            data = json.load(open(os.path.join(events, fname))).get("event_data") or {}
        except ValueError:
            continue
        if data.get("duration") is not None and data.get("task"):
            out[data["task"]] = out.get(data["task"], 0.0) + float(data["duration"])
    return out


def run_once(double, data_dir, cr, kubeconfig, ident, extra=None):
    playbook = input_dir(data_dir, cr, kubeconfig, double.url, extra)
    runner = os.path.join(os.path.dirname(sys.executable), "ansible-runner")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    mark = double.mark()
    start = time.monotonic()
    proc = subprocess.Popen([runner, "run", data_dir, "-p", playbook, "--rotate-artifacts", "3", "-i", ident],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    mem = TreeMemory(proc.pid)
    rc = proc.wait()
    wall = time.monotonic() - start
    mem.stop()
    reqs = double.requests_since(mark)
    return {
        "rc": rc, "wall": wall, "rss_mb": mem.peak_rss / 2 ** 20, "pss_mb": mem.peak_pss / 2 ** 20,
        "procs": mem.max_procs, "requests": len([r for r in reqs if not r.get("proxy")]),
        "reads": len([r for r in reqs if r["method"] == "GET" and not r.get("proxy")]),
        "writes": len(double.writes(mark)), "changed": len(double.mutations(mark)),
        "patroni": len([r for r in reqs if r.get("proxy")]), "tasks": task_times(data_dir, ident),
    }


def startup(data_dir):
    """Wall time of ansible-runner running a playbook with one debug task: what any reconcile pays first."""
    os.makedirs(os.path.join(data_dir, "project"), exist_ok=True)
    play = os.path.join(data_dir, "project", "empty.yml")
    with open(play, "w") as fh:
        fh.write("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n")
    runner = os.path.join(os.path.dirname(sys.executable), "ansible-runner")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    start = time.monotonic()
    subprocess.run([runner, "run", data_dir, "-p", play, "--rotate-artifacts", "3", "-i", "startup"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--runs", type=int, default=3, help="create+no-op pairs (each on a fresh API double)")
    ap.add_argument("--manifest", default=os.path.join(REPO, "examples", "complete-postgres-manifest.yaml"))
    args = ap.parse_args()
    if not os.path.exists(os.path.join(REPO, ".collections", "ansible_collections", "pgfleet", "postgres")):
        sys.exit("run scripts/setup.sh first (the collection is not linked into .collections)")
    config = yaml.safe_load(open(os.path.join(REPO, "examples", "configmap.yaml")))
    config["metadata"] = {"name": "postgres-operator", "namespace": OPERATOR_NS}
    # no PostgreSQL behind the double's pods: the SQL sync has its own benchmark (benchmarks/)
    config["data"]["enable_database_access"] = "false"
    base = yaml.safe_load(open(args.manifest))
    # no-op: the steady cluster's resync (the fast path); full: the same with reconcile_fast_path=false
    results = {"create": [], "no-op": [], "full": []}
    starts = []
    work = tempfile.mkdtemp(prefix="pgfleet-bench-")
    try:
        for i in range(args.runs):
            double = KubeDouble(pod_start_seconds=0.2).start()
            try:
                kubeconfig = double.write_kubeconfig(os.path.join(work, "kubeconfig-%d" % i))
                double.put_object(yaml.safe_load(open(os.path.join(REPO, "operator", "config", "crd", "bases",
                                                                   "acid.zalan.do_postgresqls.yaml"))))
                double.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}})
                double.put_object(config)
                cr = dict(base, metadata=dict(base["metadata"], namespace="default",
                                              finalizers=["postgres-operator.acid.zalan.do"]))
                double.put_object(cr)
                data_dir = os.path.join(work, "runner-%d" % i)
                cr = double.get("acid.zalan.do/v1", "postgresql", cr["metadata"]["name"], "default")
                results["create"].append(run_once(double, data_dir, cr, kubeconfig, "create"))
                double.settle()
                cr = double.get("acid.zalan.do/v1", "postgresql", cr["metadata"]["name"], "default")
                results["no-op"].append(run_once(double, data_dir, cr, kubeconfig, "noop"))
                results["full"].append(run_once(double, data_dir, cr, kubeconfig, "full", {"reconcile_fast_path": False}))
                starts.append(startup(os.path.join(work, "startup-%d" % i)))
            finally:
                double.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print("reconcile of %s: %d run(s) each, %d CPU(s), load average %.2f %.2f %.2f"
          % (os.path.relpath(args.manifest, REPO), args.runs, os.cpu_count(), *load))
    print("%-7s %9s %9s %9s %9s %6s %6s %6s %7s %8s %8s %3s" % (
        "run", "wall s", "min s", "max s", "peakRSS", "PSS", "procs", "reqs", "reads", "writes", "changed", "rc"))
    for name, rows in results.items():
        walls = [r["wall"] for r in rows]
        print("%-7s %9.2f %9.2f %9.2f %8.0fM %5.0fM %6d %6d %6d %7d %8d %3s" % (
            name, statistics.median(walls), min(walls), max(walls), max(r["rss_mb"] for r in rows),
            max(r["pss_mb"] for r in rows), max(r["procs"] for r in rows), rows[-1]["requests"], rows[-1]["reads"],
            rows[-1]["writes"], rows[-1]["changed"], ",".join(str(r["rc"]) for r in rows)))
        print("        Patroni REST calls through the pod proxy: %d" % rows[-1]["patroni"])
    noop = results["no-op"]
    tasks = noop[-1]["tasks"]
    print("no-op (fast path), where the time goes: ansible-runner + ansible-playbook start-up and one task %.2f s "
          "(median); the read (k8s_cluster_state: module start-up, config, model, %d API reads) %.2f s; "
          "all %d tasks %.2f s" % (statistics.median(starts), noop[-1]["reads"],
                                   sum(v for k, v in tasks.items() if "read every object" in k),
                                   len(tasks), sum(tasks.values())))
    print("targets: no-op <= 2 s -> median %.2f s; no-op writes 0 -> %d; peak memory <= 300 MB -> %.0f MB (PSS), "
          "%.0f MB (RSS sum)" % (statistics.median(r["wall"] for r in noop), max(r["writes"] for r in noop),
                                 max(r["pss_mb"] for r in results["create"] + noop),
                                 max(r["rss_mb"] for r in results["create"] + noop)))


if __name__ == "__main__":
    main()
