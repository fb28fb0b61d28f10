"""patroni_restart (rolling) against a real 3-member etcd + Patroni cluster.

A monitor thread polls every member's own ``GET /patroni`` while a restart runs, so the tests can
tell how often each member's postmaster started and in which role. A writer inserts every 20 ms
through the multi-host read-write DSN to show what clients see.
"""

import os
import threading
import time

import pytest
import requests
from test_switchover import api_args, finish_module, run_module, run_playbook, start_module, wait_for, wait_for_log

pytestmark = [pytest.mark.patroni, pytest.mark.slow]


class Monitor(object):
    """Polls each member's GET /patroni; keeps (time, member, role, state, postmaster_start_time)."""

    def __init__(self, cluster, interval=0.1):
        self.cluster = cluster
        self.interval = interval
        self.rows = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        session = requests.Session()
        while not self._stop.is_set():
            for member in self.cluster.members:
                try:
                    st = session.get(self.cluster.api_urls[member] + "/patroni", timeout=1).json()
                except (requests.RequestException, ValueError):
                    continue
                self.rows.append((time.monotonic(), member, st.get("role"), st.get("state"),
                                  st.get("postmaster_start_time")))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def start_times(self, member):
        seen = []
        for row in self.rows:
            m, started = row[1], row[4]
            if m == member and started and started not in seen:
                seen.append(started)
        return seen

    def roles_at_start(self, member, started):
        return set(row[2] for row in self.rows if row[1] == member and row[4] == started and row[3] == "running")


def start_times(cluster):
    return dict((m, (cluster.state(m) or {}).get("postmaster_start_time")) for m in cluster.members)


def error_bursts(writer, quiet=2.0):
    """Failed writes grouped into bursts separated by at least ``quiet`` seconds without a failure."""
    bursts = []
    for t, msg in writer.errors:
        if bursts and t - bursts[-1][-1][0] < quiet:
            bursts[-1].append((t, msg))
        else:
            bursts.append([(t, msg)])
    return bursts


def set_parameters(cluster, **parameters):
    result = run_module("patroni_config", dict(api_args(cluster), config={"postgresql": {"parameters": parameters}}))
    assert result["changed"] is True and "failed" not in result, result
    return result


def test_rolling_restart_after_a_restart_only_change(local_cluster, cluster_writer):
    leader = local_cluster.leader
    conf = set_parameters(local_cluster, max_connections=150)
    assert conf["restart_parameters"] == ["max_connections"]
    assert sorted(conf["pending_restart"]) == local_cluster.members
    before = start_times(local_cluster)
    conn = {"api_url": "{{ api_url }}", "api_username": "{{ user }}", "api_password": "{{ password }}"}
    tasks = [{"name": "rolling restart", "pgfleet.postgres.patroni_restart": dict(conn, timeout=180),
              "register": "restart"},
             {"name": "info", "pgfleet.postgres.patroni_cluster_info": {"api_url": "{{ api_url }}"},
              "register": "info"}]
    since = cluster_writer.now()
    with Monitor(local_cluster) as mon:
        results, rc, output = run_playbook(tasks, {"api_url": local_cluster.api_urls[leader],
                                                   "user": local_cluster.rest_username,
                                                   "password": local_cluster.rest_password})
    assert rc == 0, output
    result = results["restart"]
    assert result["changed"] is True, result
    assert [s["member"] for s in result["plan"]["steps"]][-1] == leader
    assert [(s["action"]) for s in result["plan"]["steps"]] == ["restart", "restart", "switchover"]
    assert all(m["status"] == "done" for m in result["members"]), result["members"]
    assert result["pending_restart"] == [] and results["info"]["pending_restart"] == []
    assert result["leader"] != leader

    after = start_times(local_cluster)
    for member in local_cluster.members:
        # restarted exactly once: one new postmaster start time, seen by the monitor and now
        assert after[member] != before[member], member
        assert mon.start_times(member) == [before[member], after[member]], (member, mon.start_times(member))
    # the old primary never restarted while it was primary: its new postmaster only ever ran as a replica
    assert mon.roles_at_start(leader, before[leader]) >= {"primary"}
    assert mon.roles_at_start(leader, after[leader]) == {"replica"}

    cluster_writer.stop()
    assert cluster_writer.lost() == 0
    bursts = error_bursts(cluster_writer)
    assert len(bursts) <= 1, "writes failed in %d separate periods: %s" % (len(bursts), bursts)
    print("write gap during the rolling restart: %.2f s" % cluster_writer.longest_gap(since=since))


def test_rerun_restarts_nothing(local_cluster):
    before = start_times(local_cluster)
    result = run_module("patroni_restart", api_args(local_cluster))
    assert result["changed"] is False and result["msg"] == "no member needs a restart", result
    assert result["actions"] == []
    assert start_times(local_cluster) == before


def test_check_mode_plans_without_restarting(local_cluster):
    set_parameters(local_cluster, max_connections=160)
    before = start_times(local_cluster)
    leader = local_cluster.leader
    result = run_module("patroni_restart", api_args(local_cluster), check=True)
    assert result["changed"] is True, result
    assert [a["status"] for a in result["actions"]] == ["planned"] * 3
    assert result["actions"][-1]["member"] == leader and result["actions"][-1]["action"] == "switchover"
    assert start_times(local_cluster) == before and local_cluster.leader == leader
    info = run_module("patroni_cluster_info", api_args(local_cluster))
    assert sorted(info["pending_restart"]) == local_cluster.members


def test_killed_replica_patroni_stops_the_restart_and_a_rerun_finishes(local_cluster):
    # pending from the previous test (max_connections 160); learn the order from check mode
    plan = run_module("patroni_restart", api_args(local_cluster), check=True)["plan"]
    first, second, primary = [s["member"] for s in plan["steps"]]
    leader = local_cluster.leader
    assert primary == leader
    before = start_times(local_cluster)
    handle = start_module("patroni_restart", dict(api_args(local_cluster, leader), timeout=120))
    try:
        # as soon as the first replica is being restarted, kill the second replica's Patroni
        wait_for(lambda: (local_cluster.state(first) or {}).get("postmaster_start_time") != before[first]
                 or (local_cluster.state(first) or {}).get("state") not in (None, "running"),
                 timeout=120, interval=0.05, what="the restart of %s" % first)
        local_cluster.stop_member(second, kill=True, postmaster=False)
    finally:
        try:
            result = finish_module(handle, timeout=600)
        finally:
            # whatever is asserted below, the next tests get their 3 members back
            local_cluster.start_member(second)
    assert result.get("failed") is True, result
    # Where the kill lands depends on this machine's speed, not on us: while the first replica
    # restarts, the module finds the second's API silent before restarting it; once the module is
    # already waiting for the second to stream, it sees its member key expire (left the DCS).
    # Either way it stops at the second and never touches the primary.
    assert result["msg"].startswith("stopped at member %s: " % second), result["msg"]
    assert "does not answer" in result["msg"] or ("member %s left cluster" % second) in result["msg"], result["msg"]
    progress = dict((m["member"], m["status"]) for m in result["members"])
    assert progress[first] == "done" and progress[primary] == "planned", progress
    assert local_cluster.leader == leader  # the primary was left alone

    local_cluster.wait_healthy(180)
    rerun = run_module("patroni_restart", dict(api_args(local_cluster), timeout=120))
    assert rerun.get("failed") is not True, rerun
    assert rerun["changed"] is True and rerun["pending_restart"] == [], rerun
    done = [m["member"] for m in rerun["members"] if m["status"] == "done"]
    assert first not in done and primary in done, rerun["members"]
    assert run_module("patroni_restart", api_args(local_cluster))["changed"] is False


def test_decrease_only_change_restarts_the_primary_first_in_place(local_cluster):
    leader = local_cluster.leader
    with local_cluster.connect() as conn:
        current = int(conn.execute("SHOW max_connections").fetchone()[0])
    set_parameters(local_cluster, max_connections=current - 10)
    before = start_times(local_cluster)
    result = run_module("patroni_restart", dict(api_args(local_cluster), timeout=120))
    assert result["changed"] is True and "failed" not in result, result
    assert result["plan"]["order"] == "primary_first"
    assert [s["member"] for s in result["plan"]["steps"]][0] == leader
    assert all(s["action"] == "restart" for s in result["plan"]["steps"])
    assert result["leader"] == leader and result["pending_restart"] == []
    after = start_times(local_cluster)
    assert all(after[m] != before[m] for m in local_cluster.members)
    for member in local_cluster.members:
        with local_cluster.connect(member) as conn:
            assert int(conn.execute("SHOW max_connections").fetchone()[0]) == current - 10


def test_leader_killed_during_the_final_switchover_stops_reports_and_a_rerun_completes(local_cluster):
    """Kill the primary's Patroni (and its Postgres) once it demotes itself in the last step: the module
    stops because the member left the DCS (not at the end of its 600 s timeout), says what it did; a rerun
    while the member is missing warns; after it is started again a rerun completes."""
    local_cluster.wait_healthy(180)
    members = local_cluster.members
    with local_cluster.connect() as conn:
        wanted = int(conn.execute("SHOW max_connections").fetchone()[0]) + 20
    set_parameters(local_cluster, max_connections=wanted)
    leader = local_cluster.leader
    replicas = sorted(m for m in members if m != leader)
    log = local_cluster.patroni_log(leader)
    offset = os.path.getsize(log)
    args = dict(api_args(local_cluster, replicas[0]), timeout=600, expected_members=members)
    handle = start_module("patroni_restart", args)
    try:
        wait_for_log(log, offset, "switchover: demoting myself", timeout=600)
        local_cluster.stop_member(leader, kill=True)
    finally:
        result = finish_module(handle, timeout=900)
    assert result.get("failed") is True, result
    assert result["msg"].startswith("stopped at the primary %s: member %s left cluster %s" % (
        leader, leader, local_cluster.name)), result["msg"]
    assert result["changed"] is True and result["started_at"], result
    assert sorted(result["restarted"]) == replicas
    assert [(a["action"], a.get("member", a.get("from"))) for a in result["actions"]] == [
        ("restart", replicas[0]), ("restart", replicas[1]), ("switchover", leader)], result["actions"]
    progress = dict((m["member"], m["status"]) for m in result["members"])
    assert progress == {replicas[0]: "done", replicas[1]: "done", leader: "failed"}, progress

    # the member is gone from the DCS: a rerun says so instead of succeeding silently
    rerun = run_module("patroni_restart", dict(args, timeout=300))
    assert rerun.get("failed") is not True, rerun
    assert rerun["missing"] == [leader], rerun
    assert any(("member %s is not in cluster" % leader) in w for w in rerun.get("warnings", [])), rerun

    local_cluster.start_member(leader)
    local_cluster.wait_healthy(180)
    final = run_module("patroni_restart", dict(args, timeout=300))
    assert final.get("failed") is not True and final["missing"] == [], final
    assert run_module("patroni_cluster_info", api_args(local_cluster))["pending_restart"] == []
    for member in members:
        with local_cluster.connect(member) as conn:
            assert int(conn.execute("SHOW max_connections").fetchone()[0]) == wanted, member
