"""Fixtures of the console tests; the helpers (RBAC front of the API double, operator loop, console server,
browser) are in ui_helpers.py, named uniquely because every test area has a conftest.py."""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from ui_helpers import DELETE_KEYS, Browser, OperatorLoop, RbacDouble, operator_helpers, skip_without_browser  # noqa: E402


@pytest.fixture(scope="module")
def rbac_double():
    ops = operator_helpers()
    workdir = tempfile.mkdtemp(prefix="pgf-ui-")
    double = RbacDouble(pod_start_seconds=0.2).start()
    kubeconfig = double.write_kubeconfig(os.path.join(workdir, "kubeconfig"))
    harness = ops.DoubleHarness(double, kubeconfig, workdir)
    harness.put(ops.load_yaml(ops.CRD_FILE))
    harness.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ops.OPERATOR_NS}})
    harness.put(ops.operator_configmap(DELETE_KEYS))
    try:
        yield double, harness, kubeconfig
    finally:
        double.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def operator(rbac_double):
    double, harness, _kubeconfig = rbac_double
    loop = OperatorLoop(harness, double).start()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def browser_factory():
    skip_without_browser()
    made = []

    def make(prefix):
        b = Browser(prefix)
        made.append(b)
        return b

    yield make
    for b in made:
        b.quit()
