"""The envtest emulation (tests/system/operator/envtest.py) works, without a kube-apiserver.

The envtest path needs KUBEBUILDER_ASSETS, absent on most machines; its own parts - ``ApiStore``
(the double's controllers driven over HTTP) and ``FakePatroniServer`` (Patroni under the pod-proxy
URL shape) - are checked here against the API double with its built-in controllers switched off,
standing in for the real API server: a create and a no-op reconcile of the complete manifest.
"""

import time

import pytest
from k8s_double import KubeDouble

from conftest import CRD_FILE, OPERATOR_NS, DoubleHarness, load_yaml, manifest, operator_configmap

pytestmark = [pytest.mark.k8s]


def test_envtest_emulation_reconciles_over_http(tmp_path):
    import envtest
    from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import Api
    from k8s_double.controller import Controllers
    from k8s_double.resources import Registry

    double = KubeDouble(controllers=False).start()
    store = ctl = patroni = None
    try:
        kubeconfig = double.write_kubeconfig(str(tmp_path / "kubeconfig"))
        store = envtest.ApiStore(Api({"kubeconfig": kubeconfig}, user_agent="envtest-emulation"), Registry()).start()
        ctl = Controllers(store, pod_start_seconds=0.2, patroni=True)
        patroni = envtest.FakePatroniServer(ctl.patroni)
        harness = DoubleHarness(double, kubeconfig, str(tmp_path))
        harness.watch_vars["reconcile_api_proxy_url"] = patroni.url

        def settle():
            time.sleep(0.5)
            ctl.settle(timeout=20)

        harness.settle = settle
        for obj in (load_yaml(CRD_FILE), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}},
                    operator_configmap(), manifest()):
            harness.put(obj)
        first = harness.reconcile("acid-test-cluster")
        assert first.rc == 0, first.stdout[-3000:]
        settle()
        assert harness.status("acid-test-cluster")["PostgresClusterStatus"] == "Running"
        pods = harness.list("v1", "Pod", "default", "cluster-name=acid-test-cluster")
        assert sorted(p["metadata"]["labels"].get("spilo-role") for p in pods) == ["master", "replica"]
        mark = double.mark()
        second = harness.reconcile("acid-test-cluster")
        assert second.rc == 0, second.stdout[-3000:]
        # the emulated controllers write too (pod status); the playbook wrote nothing
        assert [r for r in double.requests_since(mark) if r.is_write and r["user_agent"].startswith("pgfleet")] == []
        assert [r for r in double.requests_since(0) if r["user_agent"] == "envtest-emulation" and r.is_write]
    finally:
        for part in (ctl, store, patroni):
            if part is not None:
                part.stop()
        double.stop()
