"""Issue 8 (Deliver 6): a cluster whose objects carry custom names (pdb_name_format,
logical_backup_job_prefix) is deleted without leaving anything behind: teardown takes every name
from the model (model["names"], plugins/module_utils/model/names.py), never from its own defaults.
"""

import time

import pytest

from conftest import manifest

pytestmark = [pytest.mark.k8s]

NS = "default"
NAME = "acid-custom-names"
SELECTOR = "cluster-name=%s" % NAME
CUSTOM = {"pdb_name_format": "pdb-{cluster}-custom", "logical_backup_job_prefix": "dump-"}


def left_of(api, api_version, kind, names=(), timeout=120):
    """Objects of the cluster (by label or by name) still there once none is left or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = [o["metadata"]["name"] for o in api.list(api_version, kind, NS, SELECTOR)]
        left += [n for n in names if n not in left and api.get(api_version, kind, n, NS) is not None]
        if not left or time.monotonic() > deadline:
            return sorted(left)
        api.settle()
        time.sleep(0.5)


def test_custom_names_are_rendered_and_nothing_is_left_after_delete(api):
    cm = api.get("v1", "ConfigMap", "postgres-operator", "pgfleet-system")
    saved = dict((k, cm["data"].get(k)) for k in CUSTOM)
    cm["data"].update(CUSTOM)
    api.put(cm)
    try:
        api.put(manifest(NAME, NS, numberOfInstances=1, enableLogicalBackup=True, enableConnectionPooler=True))
        result = api.reconcile(NAME, NS)
        assert result.rc == 0, result.stdout[-3000:]
        api.settle()
        assert api.get("policy/v1", "PodDisruptionBudget", "pdb-%s-custom" % NAME, NS) is not None
        assert api.get("policy/v1", "PodDisruptionBudget", "postgres-%s-pdb" % NAME, NS) is None
        assert api.get("batch/v1", "CronJob", "dump-%s" % NAME, NS) is not None

        api.delete("acid.zalan.do/v1", "postgresql", NAME, NS)
        result = api.finalize(NAME, NS)
        assert result.rc == 0, result.stdout[-3000:]
        api.settle()
        assert api.current_cr(NAME, NS) is None
        named = {
            "PodDisruptionBudget": ["pdb-%s-custom" % NAME, "postgres-%s-critical-op-pdb" % NAME],
            "CronJob": ["dump-%s" % NAME],
            "Deployment": ["%s-pooler" % NAME],
            "Secret": ["%s-pooler-u" % NAME],
        }
        for api_version, kind in (("policy/v1", "PodDisruptionBudget"), ("batch/v1", "CronJob"), ("apps/v1", "Deployment"),
                                  ("apps/v1", "StatefulSet"), ("v1", "Service"), ("v1", "Secret"), ("v1", "Pod"),
                                  ("v1", "PersistentVolumeClaim")):
            assert left_of(api, api_version, kind, named.get(kind, ())) == [], kind
    finally:
        cm = api.get("v1", "ConfigMap", "postgres-operator", "pgfleet-system")
        for key, value in saved.items():
            if value is None:
                cm["data"].pop(key, None)
            else:
                cm["data"][key] = value
        api.put(cm)
