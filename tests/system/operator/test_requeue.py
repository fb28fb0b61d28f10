"""A cluster that is not ready within one reconcile's wait is requeued, not waited for.

ansible-operator reads the requeue from a task event whose action is exactly ``requeue_after``
(its ``res.period``); the harness reads it the same way. The pods are held back explicitly
(``pod_start_seconds=None``) and started by the test between the two reconciles, so the outcome does
not depend on how fast this machine runs the first reconcile.
"""

import pytest
from k8s_double import KubeDouble

from conftest import CRD_FILE, OPERATOR_NS, DoubleHarness, load_yaml, manifest, operator_configmap

pytestmark = [pytest.mark.k8s]


def test_slow_pods_requeue_and_then_run(tmp_path):
    double = KubeDouble(pod_start_seconds=None).start()
    try:
        kubeconfig = double.write_kubeconfig(str(tmp_path / "kubeconfig"))
        harness = DoubleHarness(double, kubeconfig, str(tmp_path))
        harness.watch_vars["reconcile_wait_timeout"] = 1
        for obj in (load_yaml(CRD_FILE), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
                    operator_configmap(), manifest("acid-slow", "default", numberOfInstances=1)):
            harness.put(obj)
        first = harness.reconcile("acid-slow")
        assert first.rc == 0, first.stdout[-3000:]
        assert first.requeue == "15s"
        status = harness.status("acid-slow")
        assert status["PostgresClusterStatus"] == "Creating"
        assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["False"]
        assert "observedGeneration" not in status
        # the pod was created and is still not started: the requeue came from the pods, not from a race
        assert double.controllers.held_pods() == ["acid-slow-0"]
        assert double.start_pods() == ["acid-slow-0"]
        harness.settle()
        second = harness.reconcile("acid-slow")
        assert second.rc == 0, second.stdout[-3000:]
        assert second.requeue is None
        assert harness.status("acid-slow")["PostgresClusterStatus"] == "Running"
    finally:
        double.stop()
