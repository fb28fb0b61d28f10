"""The local target never removes or adopts a directory it did not create (names, home, marker).

Every test works in directories it creates under pytest's tmp_path; none touches a system path.
"""

import os
import stat

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import layout
from ansible_collections.pgfleet.postgres.tests.harness import victim_dir


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return str(path)


@pytest.fixture
def victim(tmp_path):
    """A directory with content that is not ours."""
    return victim_dir(tmp_path)


@pytest.mark.parametrize("name", ["../../../../victim", "/victim", "a/b", "..", ".", "", "Acid", "acid_x",
                                  "-acid", "acid-", "a" * 59, "acid\n", "acid x", "acid\x00"])
def test_names_that_are_not_cluster_names_are_refused(name, home):
    with pytest.raises(PgfleetError) as err:
        lc.LocalCluster(name, state_root=home)
    assert "is not a cluster name" in err.value.msg
    assert os.listdir(home) == []


def test_a_cluster_name_is_accepted(home):
    cluster = lc.LocalCluster("acid-minimal-cluster", state_root=home)
    assert cluster.state_dir == os.path.join(os.path.realpath(home), "acid-minimal-cluster")


def test_state_dir_outside_the_home_is_refused(home, victim):
    with pytest.raises(PgfleetError) as err:
        lc.LocalCluster("acid-x", state_dir=victim, state_root=home)
    assert "outside the home of the local clusters" in err.value.msg
    with pytest.raises(PgfleetError):
        lc.LocalCluster("acid-x", state_dir=os.path.join(home, "..", "victim"), state_root=home)
    with pytest.raises(PgfleetError):
        lc.LocalCluster("acid-x", state_dir=home, state_root=home)  # the home itself
    assert os.path.exists(os.path.join(victim, "precious.txt"))


def test_a_symlink_inside_the_home_that_leads_outside_is_refused(home, victim):
    os.symlink(victim, os.path.join(home, "acid-x"))
    with pytest.raises(PgfleetError):
        lc.LocalCluster("acid-x", state_dir=os.path.join(home, "acid-x"), state_root=home)
    # <home>/<name> as a symlink: resolves to itself only when no state_dir is given; it is not ours
    cluster = lc.LocalCluster("acid-x", state_root=home)
    with pytest.raises(PgfleetError):
        cluster.plan_absent()
    assert os.path.exists(os.path.join(victim, "precious.txt"))


def test_the_whole_file_system_is_not_a_home():
    with pytest.raises(PgfleetError):
        lc.LocalCluster("acid-x", state_root="/")
    with pytest.raises(PgfleetError):
        lc.LocalCluster("acid-x", state_root="relative/home")


def test_absent_refuses_a_directory_without_our_marker(home):
    foreign = os.path.join(home, "acid-x")
    os.mkdir(foreign)
    with open(os.path.join(foreign, "precious.txt"), "w") as fh:
        fh.write("keep me")
    cluster = lc.LocalCluster("acid-x", state_root=home)
    with pytest.raises(PgfleetError) as err:
        cluster.plan_absent()
    assert "was not created by the local target" in err.value.msg
    with pytest.raises(PgfleetError):
        cluster.absent()
    assert os.path.exists(os.path.join(foreign, "precious.txt"))


def test_a_marker_of_another_cluster_does_not_count(home):
    path = os.path.join(home, "acid-x")
    layout.create_state_dir(path, "acid-y")
    cluster = lc.LocalCluster("acid-x", state_root=home)
    with pytest.raises(PgfleetError):
        cluster.plan_absent()
    assert os.path.isdir(path)


def test_a_symlinked_marker_does_not_count(home, tmp_path):
    path = os.path.join(home, "acid-x")
    os.mkdir(path)
    fake = tmp_path / "fake-marker"
    fake.write_text('{"name": "acid-x"}')
    os.symlink(str(fake), os.path.join(path, layout.MARKER))
    assert layout.ownership(path, "acid-x", {os.geteuid()}) == "foreign"


def test_absent_of_nothing_does_nothing(home):
    cluster = lc.LocalCluster("acid-x", state_root=home)
    plan = cluster.plan_absent()
    assert plan["actions"] == []
    assert cluster.absent(plan)["actions"] == []


def test_absent_removes_a_state_dir_we_created(home):
    cluster = lc.LocalCluster("acid-x", state_root=home)
    layout.create_state_dir(cluster.state_dir, "acid-x")
    assert stat.S_IMODE(os.stat(cluster.state_dir).st_mode) == 0o700
    plan = cluster.plan_absent()
    assert plan["actions"] == [{"action": "remove", "target": cluster.state_dir}]
    cluster.absent(plan)
    assert not os.path.exists(cluster.state_dir)


def test_present_refuses_an_existing_directory_we_did_not_create(home):
    foreign = os.path.join(home, "acid-x")
    os.mkdir(foreign, 0o755)
    cluster = lc.LocalCluster("acid-x", state_dir=foreign, state_root=home)
    with pytest.raises(PgfleetError) as err:
        cluster.plan_present({"name": "acid-x", "instances": 1}, {}, facts={})
    assert "was not created by the local target" in err.value.msg
    with pytest.raises(layout.LayoutError):
        layout.create_state_dir(foreign, "acid-x")
    assert stat.S_IMODE(os.stat(foreign).st_mode) == 0o755  # not chmod-ed to 0700


def test_private_dirs_never_follow_symlinks(tmp_path, victim):
    link = str(tmp_path / "link")
    os.symlink(victim, link)
    with pytest.raises(layout.LayoutError):
        layout.make_private_dir(link)
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o755


def test_a_socket_dir_under_tmp_taken_by_someone_else_is_refused(tmp_path, victim):
    path = layout.SOCKET_PREFIX + "pytest-%d" % os.getpid()
    os.symlink(victim, path)
    try:
        with pytest.raises(layout.LayoutError):
            layout.create_socket_dir(path, str(tmp_path / "long"), "acid-x")
        assert not layout.remove_ours(path, "acid-x", {os.geteuid()})
    finally:
        os.unlink(path)
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o755
    assert os.path.exists(os.path.join(victim, "precious.txt"))


def _fake_bin(root, major, programs):
    path = os.path.join(root, major, "bin")
    os.makedirs(path)
    for program in programs:
        with open(os.path.join(path, program), "w") as fh:
            fh.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(path, program), 0o755)
    return path


def test_a_major_is_usable_only_with_every_program_patroni_runs(tmp_path):
    from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import versions

    root = str(tmp_path)
    full = _fake_bin(root, "16", versions.REQUIRED_PROGRAMS)
    _fake_bin(root, "17", ("postgres", "initdb", "pg_ctl"))  # what the npm packages ship
    assert versions.bin_dir("16", root) == full
    assert versions.bin_dir("17", root) is None
    assert versions.installed(root)["16"] == full
    assert "17" not in versions.installed(root)
    assert versions.resolve("16", root) == full
    with pytest.raises(ManifestError) as err:
        versions.resolve("17", root)
    assert err.value.msg.startswith("spec.postgresql.version: PostgreSQL 17 is not installed")
    assert "16" in err.value.msg.split("installed:")[1]
    with pytest.raises(ManifestError):
        versions.resolve("../../etc", root)
