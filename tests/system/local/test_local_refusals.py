"""playbooks/local.yml never removes or adopts a directory it did not create.

Each test makes its own victim directory (with a file in it) under pytest's tmp_path and a fresh
home for local clusters (tests/harness.py ``local_home``); nothing here points at a system path.
No cluster is started: every run must be refused (or find nothing) before anything is written.
"""

import os
import stat

import pytest
from ansible_collections.pgfleet.postgres.tests.harness import MINIMAL_MANIFEST as MANIFEST
from ansible_collections.pgfleet.postgres.tests.harness import (
    NO_PLAYBOOK,
    PLAYBOOK_BIN,
    local_home,
    run_playbook,
    victim_dir,
)

pytestmark = pytest.mark.skipif(not os.access(PLAYBOOK_BIN, os.X_OK), reason=NO_PLAYBOOK)


@pytest.fixture
def home():
    with local_home(prefix="pgf-ref-") as path:
        yield path


@pytest.fixture
def victim(tmp_path):
    return victim_dir(tmp_path)


def local(*args):
    proc = run_playbook("playbooks/local.yml", *args)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def intact(path, mode=0o755):
    assert os.path.exists(os.path.join(path, "precious.txt"))
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == mode
    assert st.st_uid == os.geteuid()


def test_absent_with_a_relative_path_as_name_removes_nothing(home, victim):
    rel = os.path.relpath(victim, os.path.join(home, "x"))  # ../../../victim from the state dir's place
    rc, out = local("-e", "name=%s" % rel, "-e", "state=absent")
    assert rc != 0, out
    assert "is not a cluster name" in out
    intact(victim)


def test_absent_with_an_absolute_path_as_name_removes_nothing(home, victim):
    rc, out = local("-e", "name=%s" % victim, "-e", "state=absent")
    assert rc != 0, out
    assert "is not a cluster name" in out
    intact(victim)


def test_absent_with_a_state_dir_outside_the_home_removes_nothing(home, victim):
    rc, out = local("-e", "name=acid-x", "-e", "state_dir=%s" % victim, "-e", "state=absent")
    assert rc != 0, out
    assert "outside the home of the local clusters" in out
    intact(victim)


def test_absent_of_a_directory_in_the_home_that_we_did_not_create_removes_nothing(home, victim):
    os.makedirs(home)
    os.rename(victim, os.path.join(home, "acid-x"))
    rc, out = local("-e", "name=acid-x", "-e", "state=absent")
    assert rc != 0, out
    assert "was not created by the local target" in out
    intact(os.path.join(home, "acid-x"))


def test_present_with_an_existing_state_dir_changes_nothing(home, victim):
    rc, out = local("-e", "manifest=%s" % MANIFEST, "-e", "state_dir=%s" % victim)
    assert rc != 0, out
    intact(victim)
    os.makedirs(home)
    inside = os.path.join(home, "acid-minimal-cluster")
    os.rename(victim, inside)
    rc, out = local("-e", "manifest=%s" % MANIFEST, "-e", "state_dir=%s" % inside)
    assert rc != 0, out
    assert "was not created by the local target" in out
    intact(inside)  # not chown-ed to postgres, not chmod-ed to 0700
    assert sorted(os.listdir(inside)) == ["precious.txt"]


def test_absent_of_nothing_says_nothing_existed(home):
    rc, out = local("-e", "name=acid-never-made", "-e", "state=absent")
    assert rc == 0, out
    assert "nothing existed" in out
    assert "changed=0" in out
