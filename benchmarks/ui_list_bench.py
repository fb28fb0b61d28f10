"""How fast the web console's cluster list loads: 100 postgresql objects on the Kubernetes API double.

The console (waitress, as ``ui/pgfleet-console`` serves it) in single-user mode, the API double in its
own process on loopback; timed from the client: the whole HTTP GET of /k8s (one list call to the API + the page
render), a cluster page (the object, its pods, StatefulSet, services, deployments, events) and the
progress JSON the page polls. Prints numbers; asserts nothing (the issue's target: <= 300 ms for the list).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (os.path.join(REPO, ".collections"), os.path.join(REPO, "ui"), os.path.join(REPO, "tests")):
    sys.path.insert(0, path)

import requests  # noqa: E402
import yaml  # noqa: E402
from pgfleet_console.app import Console, create_app  # noqa: E402
from pgfleet_console.kube import Kube, Target  # noqa: E402
from waitress import create_server  # noqa: E402

CRD = os.path.join(REPO, "operator", "config", "crd", "bases", "acid.zalan.do_postgresqls.yaml")
CLUSTERS = 100
RUNS = 30


def cluster(i):
    return {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-bench-%03d" % i, "namespace": "team-%d" % (i % 5)},
            "spec": {"teamId": "acid", "numberOfInstances": 1 + i % 3, "volume": {"size": "%dGi" % (1 + i % 9)},
                     "postgresql": {"version": "15"}, "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
                     "users": {"app_owner": ["createdb"]}, "databases": {"app": "app_owner"}},
            "status": {"PostgresClusterStatus": "Running", "observedGeneration": 1,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "PodsReady", "message": "ok"}]}}


def timed(func, runs=RUNS):
    func()  # warm-up
    out = []
    for _run in range(runs):
        t = time.perf_counter()
        func()
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(what, ms):
    ms = sorted(ms)
    print("%-44s median %6.1f ms  p95 %6.1f ms  max %6.1f ms  (n=%d)" % (
        what, statistics.median(ms), ms[int(len(ms) * 0.95) - 1], ms[-1], len(ms)))


def start_double(workdir):
    """The API double in a process of its own (as an API server is), preloaded with the CRD and the clusters."""
    objects = os.path.join(workdir, "objects.yaml")
    with open(CRD) as fh:
        docs = [yaml.safe_load(fh)]
    docs += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-%d" % ns}} for ns in range(5)]
    docs += [cluster(i) for i in range(CLUSTERS)]
    with open(objects, "w") as fh:
        yaml.safe_dump_all(docs, fh)
    kubeconfig = os.path.join(workdir, "kubeconfig")
    proc = subprocess.Popen([sys.executable, "-m", "k8s_double", "--kubeconfig", kubeconfig, "--objects", objects,
                             "--no-controllers"], cwd=os.path.join(REPO, "tests"), stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "k8s double listening on ..." once the objects are loaded
    return proc, kubeconfig


def main():
    workdir = tempfile.mkdtemp(prefix="pgf-ui-bench-")
    double, kubeconfig = start_double(workdir)
    target = Target.from_kubeconfig(kubeconfig)
    app = create_app(Console(target=target, auth="kubeconfig", local_enabled=False))
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    port = int(server.effective_port)
    threading.Thread(target=server.run, daemon=True).start()
    base = "http://127.0.0.1:%d" % port
    s = requests.Session()
    page = s.get(base + "/k8s", timeout=30)
    rows = page.text.count('<tr data-name="acid-bench-')
    print("cluster list: HTTP %d, %d rows, %d KiB of HTML" % (page.status_code, rows, len(page.content) // 1024))
    api = Kube(target, target.token)
    show("API list of %d postgresqls (no console)" % CLUSTERS, timed(api.list_clusters))
    show("GET /k8s (list of %d clusters, whole page)" % CLUSTERS, timed(lambda: s.get(base + "/k8s", timeout=30)))
    show("GET /k8s/<ns>/<name> (one cluster page)", timed(lambda: s.get(base + "/k8s/team-1/acid-bench-001", timeout=30)))
    show("GET /k8s/<ns>/<name>/progress.json", timed(lambda: s.get(base + "/k8s/team-1/acid-bench-001/progress.json",
                                                                   timeout=30)))
    s.close()
    server.close()
    double.terminate()
    double.wait(timeout=30)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
