"""The molecule scenarios in extensions/molecule, run the way a developer runs them.

``default`` converges a cluster against the Kubernetes API test double and checks idempotence;
``kind`` needs Docker, kind and kubectl and is skipped (with the reason) where they are missing.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.k8s, pytest.mark.slow]


def molecule(scenario, timeout):
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1", NO_COLOR="1")
    return subprocess.run([os.path.join(bindir, "molecule"), "test", "-s", scenario], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_default_scenario_converges_and_is_idempotent():
    proc = molecule("default", timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "idempotence" in out and "failed=0" in out


def test_kind_scenario():
    missing = [tool for tool in ("docker", "kind", "kubectl") if shutil.which(tool) is None]
    if missing:
        pytest.skip("molecule scenario kind needs %s on PATH (a container engine and kind): see docs/operator.md"
                    % ", ".join(missing))
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("molecule scenario kind needs a running Docker daemon")
    proc = molecule("kind", timeout=3600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
