"""Each pre-check refuses on a real cluster made to fail it, and nothing is touched; then a
failure injected after pg_upgrade --link has run (before the point of no return) puts the
cluster back on 15, healthy, with the reason in its state. One 3-member cluster for the module."""

import os
import time

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade.local import (
    LocalUpgrade,
    UpgradeError,
    controldata,
)
from ansible_collections.pgfleet.postgres.tests.harness import NO_PLAYBOOK, PLAYBOOK_BIN, run_playbook

CHECKSUM = "SELECT count(*)::text || md5(string_agg(g::text, ',' ORDER BY g)) FROM public.t"


@pytest.fixture(scope="module")
def h(upgrade_cluster):
    with upgrade_cluster.connect() as conn:
        conn.execute("CREATE TABLE public.t AS SELECT g FROM generate_series(1, 5000) g")
    return upgrade_cluster


def fingerprint(h):
    """What must not change when an upgrade is refused."""
    state = h.state()
    rows = h.cluster.wait_healthy(120)
    leader = next(r["member"] for r in rows if r["role"] == "leader")
    info = state["members"][leader]
    answers = dict((m, lc.patroni_state(i["api_url"])) for m, i in state["members"].items())
    with h.connect() as conn:
        data = conn.execute(CHECKSUM).fetchone()[0]
    leftovers = sorted(n for m, i in state["members"].items() for n in os.listdir(os.path.dirname(i["data_dir"]))
                       if n.startswith(("data.", "upgrade-")))
    return {"pg_version": state["pg_version"], "bin": state["pg_bin_dir"], "leader": leader,
            "sysid": controldata(state["pg_bin_dir"], info["data_dir"]).get("Database system identifier"),
            "majors": sorted(a["server_version"] // 10000 for a in answers.values()),
            "paused": any(a.get("pause") for a in answers.values()), "data": data, "leftovers": leftovers,
            "marks": state.get("upgrade")}


def refused(h, **kwargs):
    before = fingerprint(h)
    with pytest.raises(UpgradeError) as err:
        LocalUpgrade(h.cluster, "18", **kwargs).run()
    assert "nothing was changed" in err.value.msg
    assert fingerprint(h) == before
    assert before["majors"] == [15, 15, 15] and not before["paused"] and before["marks"] is None
    return err.value.msg


def playbook(h, *args):
    proc = run_playbook("playbooks/upgrade.yml", "-e", "name=%s" % h.cluster.name,
                        "-e", "state_root=%s" % h.cluster.home, *args)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.skipif(not os.access(PLAYBOOK_BIN, os.X_OK), reason=NO_PLAYBOOK)
def test_playbook_check_mode_runs_the_pre_checks_only(h):
    before = fingerprint(h)
    rc, out = playbook(h, "-e", "version=18", "--check")
    assert rc == 0, out
    assert "would upgrade %s from 15 to 18" % h.cluster.name in out and "pg_upgrade --check passed" in out
    rc, out = playbook(h, "-e", "version=18", "-e", "mode=off", "-e", "team=acid")
    assert rc == 0 and "mode is off" in out, out
    assert fingerprint(h) == before


def test_an_open_transaction_refuses(h):
    conn = h.connect(autocommit=False)
    try:
        conn.execute("SELECT txid_current()")
        time.sleep(2.5)
        msg = refused(h, max_seconds=1)
        assert "transactions:" in msg and "open longer than 1s" in msg
    finally:
        conn.close()


def test_an_extension_missing_in_18_refuses(h):
    with h.connect("app") as conn:
        conn.execute('CREATE EXTENSION "uuid-ossp" SCHEMA public')
    try:
        msg = refused(h)
        assert "uuid-ossp (database app)" in msg
    finally:
        with h.connect("app") as conn:
            conn.execute('DROP EXTENSION "uuid-ossp"')


def test_a_lagging_replica_refuses(h):
    replica = next(r["member"] for r in h.cluster.wait_healthy(120) if r["role"] != "leader")
    h.cluster.stop_member(replica)
    try:
        with h.connect() as conn:  # the replica falls behind
            conn.execute("CREATE TABLE public.behind AS SELECT g FROM generate_series(1, 10000) g")
        with pytest.raises(UpgradeError) as err:
            LocalUpgrade(h.cluster, "18").run()
        assert "nothing was changed" in err.value.msg and replica in err.value.msg
        assert h.state()["pg_version"] == "15" and "upgrade" not in h.state()
    finally:
        h.cluster.start_member(replica)
        with h.connect() as conn:
            conn.execute("DROP TABLE public.behind")
    h.cluster.wait_healthy(120)


def test_a_failure_after_pg_upgrade_rolls_back_to_15(h):
    before = fingerprint(h)
    with pytest.raises(UpgradeError) as err:
        LocalUpgrade(h.cluster, "18", fault="pg_upgrade_done").run()
    assert err.value.context["rolled_back"] is True
    assert "PostgreSQL 15 runs again" in err.value.msg
    after = fingerprint(h)
    assert after["majors"] == [15, 15, 15] and not after["paused"]
    assert (after["data"], after["sysid"], after["leftovers"]) == (before["data"], before["sysid"], [])
    marks = after["marks"]
    assert marks[gates.FAILURE_KEY] and "injected at step pg_upgrade_done" in marks["reason"]
    assert marks["rolled_back"] is True and [s["step"] for s in marks["steps"]][:4] == ["initdb", "pause", "stop", "pg_upgrade"]
    # not retried while the mark is there; asking for 15 again clears it
    assert gates.decide("15", "18", marks=marks)["action"] == "blocked"
    assert gates.decide("15", "15", marks=marks)["clear_failure"]
    with h.connect() as conn:  # writable again
        conn.execute("INSERT INTO public.t VALUES (0)")


@pytest.mark.skipif(not os.access(PLAYBOOK_BIN, os.X_OK), reason=NO_PLAYBOOK)
def test_playbook_does_not_retry_and_version_back_clears_the_failure(h):
    rc, out = playbook(h, "-e", "version=18")
    assert rc == 0 and "is not retried" in out, out
    rc, out = playbook(h, "-e", "version=15")
    assert rc == 0 and "failure mark" in out, out
    marks = h.state()["upgrade"]
    assert gates.FAILURE_KEY not in marks and "reason" not in marks
    assert h.state()["pg_version"] == "15"
