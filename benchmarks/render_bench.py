"""How long rendering a cluster takes: in-process, and as a full ``ansible-playbook`` run.

1. In process: ``build_model`` + ``spilo_pod_parts`` + every Jinja template of role ``cluster``
   (loaded from ``roles/cluster/templates``, with Ansible's own core filters) + YAML parsing + the
   template checksum, for the complete reference manifest and the shipped ConfigMap.
2. The whole ``ansible-playbook playbooks/render.yml`` run (interpreter start, role, file writes).

Prints numbers; asserts nothing.
"""

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


def main():
    with open(MANIFEST) as handle:
        cr = yaml.safe_load(handle)
    with open(CONFIG) as handle:
        config = yaml.safe_load(handle)
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
