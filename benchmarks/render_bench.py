"""How long rendering a cluster takes: in-process, and as a full ``ansible-playbook`` run.

1. In process: ``build_model`` + ``spilo_pod_parts`` + every Jinja template of role ``cluster``
   (loaded from ``roles/cluster/templates``, with Ansible's own core filters) + YAML parsing + the
   template checksum, for the complete reference manifest and the shipped ConfigMap.
2. The whole ``ansible-playbook playbooks/render.yml`` run (interpreter start, role, file writes).
3. Scaling (``--users 100,300,1000,10000``): the complete manifest with N extra users and
   ``--prepared`` prepared databases (3 schemas each, default users): ``build_model`` in process and the
   whole render.yml run per N, with the time per user and the growth factor against the previous N
   (linear: the factor is close to the ratio of the Ns; quadratic: its square).

Prints numbers and the load average; asserts nothing.

    .venv/bin/python benchmarks/render_bench.py                       # 1. and 2.
    .venv/bin/python benchmarks/render_bench.py --users 100,1000 --prepared 50   # 3. only
"""

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, ".collections"))

import jinja2  # noqa: E402
import yaml  # noqa: E402
from ansible.plugins.filter.core import FilterModule as CoreFilters  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import checksum, spilo  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model  # noqa: E402
from ansible_collections.pgfleet.postgres.tests import harness  # noqa: E402

MANIFEST = os.path.join(REPO, "examples", "complete-postgres-manifest.yaml")
CONFIG = os.path.join(REPO, "examples", "configmap.yaml")
TEMPLATES = os.path.join(REPO, "roles", "cluster", "templates")


def _environment():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(CoreFilters().filters())
    return env


def render_in_process(env, cr, config):
    """The same steps as roles/cluster/tasks/render.yml, without Ansible around them."""
    model = build_model(cr, config)
    owner = []
    if model["config"]["enable_owner_references"] and model["uid"]:
        owner = [{"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "name": model["name"], "uid": model["uid"], "controller": True}]
    variables = {"cluster_model": model, "cluster_pod": spilo.pod_parts(model), "cluster_owner_references": owner}

    def render(name, **extra):
        return yaml.safe_load(env.get_template(name).render(dict(variables, **extra)))

    objects = [render("clusterrole/postgres-pod.yaml.j2"), render("serviceaccount/postgres-pod.yaml.j2"),
               render("rolebinding/postgres-pod.yaml.j2")]
    objects += [render("secret/credentials.yaml.j2", cluster_secret=s) for s in model["secrets"]]
    if model["dcs"] == "endpoints":
        objects.append(render("endpoints/primary.yaml.j2"))
    objects += [render("service/primary.yaml.j2"), render("service/replica.yaml.j2")]
    if model["dcs"] == "endpoints":
        objects.append(render("service/config.yaml.j2"))
    objects += [render("poddisruptionbudget/primary.yaml.j2"), render("poddisruptionbudget/critical-op.yaml.j2")]
    objects.append(checksum.annotate(render("statefulset/spilo.yaml.j2")))
    return objects


def _timed(fn, runs):
    samples = []
    for _run in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _report(label, samples, unit="ms", scale=1000.0):
    print("%-52s median %8.2f %s   min %8.2f   max %8.2f   (n=%d)" % (
        label, statistics.median(samples) * scale, unit, min(samples) * scale, max(samples) * scale, len(samples)))


def scaled_manifest(cr, users, prepared):
    """The complete manifest with ``users`` users in all and ``prepared`` more prepared databases of 3 schemas."""
    cr = copy.deepcopy(cr)
    spec = cr["spec"]
    existing = dict(spec.get("users") or {})
    spec["users"] = dict(existing, **{"app_user_%05d" % i: [] for i in range(max(0, users - len(existing)))})
    spec["preparedDatabases"] = dict(spec.get("preparedDatabases") or {}, **{
        "prep%02d" % i: {"defaultUsers": True, "schemas": {"s1": {}, "s2": {}, "s3": {}}} for i in range(prepared)})
    return cr


def scaling(cr, config, counts, prepared):
    print("load average before: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    print("%-8s %8s %12s %12s %14s %10s" % ("users", "secrets", "build_model", "render.yml", "render.yml/user", "growth"))
    previous = None
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "configmap.yaml")
        with open(config_path, "w") as handle:
            yaml.safe_dump(config, handle)
        for users in counts:
            scaled = scaled_manifest(cr, users, prepared)
            start = time.perf_counter()
            model = build_model(scaled, config)
            model_s = time.perf_counter() - start
            path = os.path.join(tmp, "manifest-%d.yaml" % users)
            with open(path, "w") as handle:
                yaml.safe_dump(scaled, handle)
            out = os.path.join(tmp, "out-%d" % users)
            start = time.perf_counter()
            proc = harness.run_playbook("playbooks/render.yml", "-e", "manifest=" + path, "-e", "operator_config=" + config_path,
                                        "-e", "output_dir=" + out, timeout=3600)
            run_s = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit("render.yml failed at %d users: %s %s" % (users, proc.stdout[-3000:], proc.stderr[-3000:]))
            growth = "" if previous is None else "x%.2f (N x%.1f)" % (run_s / previous[1], float(users) / previous[0])
            row = (users, len(model["secrets"]), model_s, run_s, run_s * 1000.0 / max(users, 1), growth)
            print("%-8d %8d %10.2f s %10.2f s %12.2f ms %s" % row, flush=True)
            previous = (users, run_s)
    print("load average after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--users", help="comma-separated user counts for the scaling run (e.g. 100,300,1000,10000)")
    parser.add_argument("--prepared", type=int, default=50, help="prepared databases (3 schemas each) in the scaling run")
    args = parser.parse_args()
    with open(MANIFEST) as handle:
        cr = yaml.safe_load(handle)
    with open(CONFIG) as handle:
        config = yaml.safe_load(handle)
    if args.users:
        scaling(cr, config, [int(n) for n in args.users.split(",")], args.prepared)
        return
    env = _environment()
    objects = render_in_process(env, cr, config)  # warm-up: template compilation
    print("complete manifest: %d objects" % len(objects))
    _report("build_model", _timed(lambda: build_model(cr, config), 200))
    model = build_model(cr, config)
    _report("spilo_pod_parts (env, volumes, containers)", _timed(lambda: spilo.pod_parts(model), 200))
    _report("build_model + render every template in process", _timed(lambda: render_in_process(env, cr, config), 100))

    runs = []
    with tempfile.TemporaryDirectory() as out:
        for _run in range(3):
            start = time.perf_counter()
            proc = harness.run_playbook("playbooks/render.yml", "-e", "manifest=" + MANIFEST, "-e", "operator_config=" + CONFIG,
                                        "-e", "output_dir=" + out)
            runs.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit("render.yml failed: %s %s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    _report("ansible-playbook playbooks/render.yml (whole run)", runs, "s", 1.0)


if __name__ == "__main__":
    main()
