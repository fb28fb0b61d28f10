"""A present that fails on a new cluster stops what it started and says what to run.

The cluster is made to fail for real: PostgreSQL's binaries are replaced by a directory whose
``postgres``, ``initdb`` and ``pg_ctl`` exit 1, so etcd starts, Patroni starts, bootstrap fails
and Patroni exits. No test here waits on the clock; the module notices the exit itself.
"""

import json
import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.tests.harness import MINIMAL_MANIFEST as MANIFEST
from ansible_collections.pgfleet.postgres.tests.harness import minimal_state_dir, run_playbook

pytestmark = pytest.mark.patroni


@pytest.fixture(scope="module")
def state_dir():
    with minimal_state_dir(prefix="pgf-fail-") as path:
        yield path


def broken_bin_dir(state_dir):
    """Fake PostgreSQL binaries that fail, in a directory the postgres user can read."""
    path = os.path.join(os.path.dirname(os.path.dirname(state_dir)), "broken-bin")
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    for name in ("postgres", "initdb", "pg_ctl", "pg_controldata", "pg_isready"):
        with open(os.path.join(path, name), "w") as fh:
            fh.write("#!/bin/sh\necho 'broken on purpose' >&2\nexit 1\n")
        os.chmod(os.path.join(path, name), 0o755)
    return path


def test_a_failed_present_stops_etcd_and_patroni_and_says_what_to_run(state_dir):
    proc = run_playbook("playbooks/local.yml", "-e", "manifest=%s" % MANIFEST, "-e", "state_dir=%s" % state_dir,
                        "-e", "local_pg_bin_dir=%s" % broken_bin_dir(state_dir), "-e", "local_timeout=300")
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out
    assert "this run created the cluster, so what it started was stopped" in out
    assert "-e name=acid-minimal-cluster -e state=absent" in out
    with open(os.path.join(state_dir, "state.json")) as fh:
        state = json.load(fh)
    assert state["etcd"]["pid"]
    assert not lc.pid_alive(state["etcd"]["pid"], state_dir)
    for member, info in state["members"].items():
        assert not lc.pid_alive(info.get("pid"), info["config"]), member
    assert lc.processes_using(state_dir) == []
    # the logs stay, and the command it named removes the rest
    assert os.path.exists(os.path.join(state_dir, "etcd.log"))
    proc = run_playbook("playbooks/local.yml", "-e", "name=acid-minimal-cluster", "-e", "state_dir=%s" % state_dir,
                        "-e", "state=absent")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not os.path.exists(state_dir)
