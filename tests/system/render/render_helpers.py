"""Helpers of the render tests: run ``playbooks/render.yml`` like a user does
(``ansible-playbook`` in the repo root, tests/harness.py) and read back what it wrote.

A module of its own (not conftest.py): every test area has a conftest.py, so ``from conftest
import`` could pick up another area's.
"""

import base64
import glob
import os

import yaml
from ansible_collections.pgfleet.postgres.tests.harness import REFERENCE_DIR, run_playbook

REFERENCE = REFERENCE_DIR


def run_render(manifest, output_dir, config=None, pod_env=None, extra=()):
    """One ``ansible-playbook playbooks/render.yml`` run; returns the CompletedProcess."""
    args = ["playbooks/render.yml", "-e", "manifest=%s" % manifest, "-e", "output_dir=%s" % output_dir]
    if config:
        args += ["-e", "operator_config=%s" % config]
    for key, path in sorted((pod_env or {}).items()):
        args += ["-e", "pod_environment_%s=%s" % (key, path)]
    return run_playbook(*(args + list(extra)))


def cluster_dir(output_dir):
    """The one cluster subdirectory ``<output_dir>/<namespace>/<name>`` that render.yml wrote."""
    found = sorted(glob.glob(os.path.join(output_dir, "*", "*", ".pgfleet-render.json")))
    assert len(found) == 1, "expected one cluster directory in %s, found %s" % (output_dir, found)
    return os.path.dirname(found[0])


def read_objects(output_dir):
    """The written objects of the one cluster in ``output_dir``, in file (= apply) order, as ``[(file name, object)]``."""
    result = []
    for path in sorted(glob.glob(os.path.join(cluster_dir(output_dir), "*.yaml"))):
        with open(path) as handle:
            result.append((os.path.basename(path), yaml.safe_load(handle)))
    return result


def passwords(objects):
    return dict((obj["metadata"]["name"], base64.b64decode(obj["data"]["password"]).decode())
                for _file, obj in objects if obj["kind"] == "Secret" and "password" in obj.get("data", {}))


class Rendered(object):
    def __init__(self, case, output_dir, first, second, objects_first, objects_second):
        self.case = case
        self.output_dir = output_dir
        self.first = first
        self.second = second
        self.objects = objects_second
        self.objects_first = objects_first

    def get(self, kind, name=None):
        found = [o for _file, o in self.objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
        assert found, "no %s %s rendered for %s" % (kind, name or "", self.case["id"])
        return found[0]

    def all(self, kind):
        return [o for _file, o in self.objects if o["kind"] == kind]

    def kinds(self):
        return [o["kind"] for _file, o in self.objects]

    @property
    def statefulset(self):
        return self.get("StatefulSet")

    @property
    def pod(self):
        return self.statefulset["spec"]["template"]["spec"]

    def container(self, name):
        for c in self.pod["containers"] + self.pod.get("initContainers", []):
            if c["name"] == name:
                return c
        raise AssertionError("no container %s" % name)

    def env(self, container="postgres"):
        return dict((e["name"], e.get("value", e.get("valueFrom"))) for e in self.container(container)["env"])
