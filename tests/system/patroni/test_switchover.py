"""patroni_switchover (and patroni_cluster_info) against a real 3-member etcd + Patroni cluster.

One cluster for the whole module (the ``local_cluster`` fixture). The modules run the way Ansible
runs them: as a separate Python process reading ``ANSIBLE_MODULE_ARGS`` (``run_module``), and once
through a real ``ansible-playbook`` (``run_playbook``). Every refusal is checked to leave the cluster
untouched: same leader, same timeline, no member restarted.

The helpers at the top are shared with test_restart.py and test_config.py.
"""

import json
import os
import signal
import subprocess
import tempfile
import time

import pytest
import yaml

pytestmark = [pytest.mark.patroni, pytest.mark.slow]

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
COLLECTIONS = os.path.join(REPO, ".collections")
MODULES = "ansible_collections.pgfleet.postgres.plugins.modules."


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
def api_args(cluster, member=None):
    """The connection options of every patroni_* module, pointed at one member (default: the first)."""
    return {"api_url": cluster.api_urls[member or cluster.members[0]],
            "api_username": cluster.rest_username, "api_password": cluster.rest_password}


def run_module(name, args, check=False, diff=False, timeout=600):
    """Run a module like Ansible does (own process, JSON args in, JSON result out)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, f)
    try:
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        proc = subprocess.run([PYTHON, "-m", MODULES + name, f.name], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=REPO, check=False)
    finally:
        os.unlink(f.name)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc %s): %s %s" % (
            name, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])) from None


def start_module(name, args):
    """Start a module in the background; ``finish_module(handle)`` returns its result."""
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    f.close()
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen([PYTHON, "-m", MODULES + name, f.name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    return proc, f.name


def finish_module(handle, timeout=600):
    proc, path = handle
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        os.unlink(path)
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (out[-2000:], err[-2000:])) from None


def run_playbook(tasks, extra_vars=None, check=False, timeout=600):
    """Run tasks through a real ``ansible-playbook`` on localhost.

    Returns ``({register name: result}, rc, output)``: a last task writes every registered result
    to a JSON file (ansible-core has no JSON stdout callback of its own).
    """
    registered = [t["register"] for t in tasks if "register" in t]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        dump = {"name": "dump results", "ansible.builtin.copy": {
            "dest": out, "mode": "0600",
            "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (r, r) for r in registered)},
            "check_mode": False}
        play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "tasks": [dict(t, ignore_errors=True) if "register" in t else t for t in tasks] + [dump]}]
        path = os.path.join(tmp, "play.yml")
        with open(path, "w") as f:
            yaml.safe_dump(play, f)
        argv = [PLAYBOOK, "-i", "localhost,", path]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_PYTHON_INTERPRETER=PYTHON,
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, check=False)
        if not os.path.exists(out):
            raise AssertionError("ansible-playbook failed (rc %s): %s %s" % (
                proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        with open(out) as f:
            return json.load(f), proc.returncode, proc.stdout


def snapshot(cluster):
    """What must not change when a module refuses: leader, timelines, postmaster start times."""
    rows = {}
    for member in cluster.members:
        st = cluster.state(member) or {}
        rows[member] = (st.get("role"), st.get("timeline"), st.get("postmaster_start_time"))
    return rows


def wait_for(predicate, timeout=60, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def set_tags(cluster, member, **tags):
    """Change a member's Patroni tags in its patroni.yml and reload it (POST /reload)."""
    import requests
    path = os.path.join(cluster.state_dir, member, "patroni.yml")
    st = os.stat(path)
    with open(path) as f:
        conf = yaml.safe_load(f)
    conf.setdefault("tags", {}).update(tags)
    with open(path, "w") as f:
        yaml.safe_dump(conf, f, default_flow_style=False)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o777)
    resp = requests.post(cluster.api_urls[member] + "/reload", auth=cluster.rest_auth, timeout=10)
    assert resp.status_code in (200, 202), resp.text

    def applied():
        live = (cluster.state(member) or {}).get("tags") or {}
        dcs = requests.get(cluster.leader_api_url + "/cluster", timeout=10).json()
        stored = [m.get("tags") or {} for m in dcs["members"] if m["name"] == member]
        return stored and all(live.get(k, False) == v and stored[0].get(k, False) == v for k, v in tags.items())

    # both on the member itself and in the DCS (what other members and the modules read)
    wait_for(applied, timeout=60, what="tags %s on %s" % (tags, member))


def walreceiver_pid(cluster, member):
    """PID of the walreceiver process of a replica (a child of its postmaster)."""
    with open(os.path.join(cluster.state_dir, member, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != postmaster:
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"walreceiver" in f.read():
                    return int(pid)
        except (OSError, ValueError, IndexError):
            continue
    return None


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
def test_cluster_info_reads_every_member(local_cluster):
    info = run_module("patroni_cluster_info", api_args(local_cluster))
    assert info["changed"] is False and "failed" not in info, info
    assert info["leader"] == local_cluster.leader
    assert [m["name"] for m in info["members"]] == local_cluster.members
    assert all(m["reachable"] for m in info["members"])
    assert sorted(m["role"] for m in info["members"]) == ["leader", "replica", "replica"]
    assert info["config"]["loop_wait"] == 2
    assert local_cluster.rest_password not in json.dumps(info)


def test_check_mode_changes_nothing(local_cluster):
    before = snapshot(local_cluster)
    leader = local_cluster.leader
    target = local_cluster.replicas[0]
    result = run_module("patroni_switchover", dict(api_args(local_cluster), candidate=target), check=True)
    assert result["changed"] is True, result
    assert result["leader_before"] == leader and result["leader"] == target
    assert result["actions"][0]["status"] == "planned"
    assert snapshot(local_cluster) == before


def test_switchover_to_a_named_candidate_and_idempotent_second_call(local_cluster, cluster_writer):
    leader = local_cluster.leader
    target = sorted(local_cluster.replicas)[-1]
    since = cluster_writer.now()
    result = run_module("patroni_switchover", dict(api_args(local_cluster, leader), candidate=target, timeout=120))
    assert result["changed"] is True, result
    assert result["leader_before"] == leader and result["leader"] == target
    assert result["answer"] == 'Successfully switched over to "%s"' % target
    # confirmed on the members themselves: the new primary, and the old one streaming again
    assert local_cluster.state(target)["role"] == "primary"
    old = local_cluster.state(leader)
    assert old["role"] == "replica" and old.get("replication_state") == "streaming"
    assert old["timeline"] == result["timeline"]
    action = result["actions"][0]
    assert action["status"] == "done" and action["seconds_to_primary"] <= action["seconds_to_streaming"]

    again = run_module("patroni_switchover", dict(api_args(local_cluster), candidate=target))
    assert again["changed"] is False and "already the leader" in again["msg"], again
    assert again["actions"] == []

    cluster_writer.stop()
    assert cluster_writer.lost() == 0
    assert cluster_writer.acked_count > 0
    print("write gap during the switchover: %.2f s" % cluster_writer.longest_gap(since=since))


def test_best_candidate_through_ansible_playbook(local_cluster):
    leader = local_cluster.leader
    conn = {"api_url": "{{ api_url }}", "api_username": "{{ user }}", "api_password": "{{ password }}"}
    tasks = [
        {"name": "switch over", "pgfleet.postgres.patroni_switchover": dict(conn, leader=leader, timeout=120),
         "register": "sw"},
        {"name": "again, away from the same member", "pgfleet.postgres.patroni_switchover": dict(conn, leader=leader),
         "register": "again"},
        {"name": "info", "pgfleet.postgres.patroni_cluster_info": {"api_url": "{{ api_url }}"}, "register": "info"},
    ]
    results, rc, output = run_playbook(tasks, {"api_url": local_cluster.api_urls[leader],
                                               "user": local_cluster.rest_username,
                                               "password": local_cluster.rest_password})
    assert rc == 0, output
    sw = results["sw"]
    assert sw["changed"] is True and sw["leader"] != leader, sw
    assert sw["leader"] in local_cluster.members
    assert results["again"]["changed"] is False
    assert results["info"]["leader"] == sw["leader"] == local_cluster.leader
    assert local_cluster.rest_password not in output


def refused(local_cluster, fragment, **args):
    before = snapshot(local_cluster)
    result = run_module("patroni_switchover", dict(api_args(local_cluster), **args))
    assert result.get("failed") is True, result
    assert fragment in result["msg"], result["msg"]
    assert result["actions"] == []
    assert snapshot(local_cluster) == before, "the cluster changed after a refusal"
    return result


def test_unknown_candidate_is_refused(local_cluster):
    result = refused(local_cluster, "candidate nobody is not a member of cluster %s (members: %s)" % (
        local_cluster.name, ", ".join(local_cluster.members)), candidate="nobody")
    assert result["candidate"] == "nobody"


def test_nofailover_candidate_is_refused(local_cluster):
    member = sorted(local_cluster.replicas)[0]
    set_tags(local_cluster, member, nofailover=True)
    try:
        result = refused(local_cluster, "candidate %s cannot take over: it carries the nofailover tag" % member,
                         candidate=member)
        assert result["problems"] == ["carries the nofailover tag"]
    finally:
        set_tags(local_cluster, member, nofailover=False)


def test_lagging_candidate_is_refused(local_cluster):
    member = sorted(local_cluster.replicas)[0]
    pid = walreceiver_pid(local_cluster, member)
    assert pid, "no walreceiver on %s" % member
    os.kill(pid, signal.SIGSTOP)
    try:
        with local_cluster.connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS lag_filler (x text)")
            conn.execute("INSERT INTO lag_filler SELECT repeat('x', 1000) FROM generate_series(1, 3000)")
        result = refused(local_cluster, "candidate %s cannot take over: it lags " % member, candidate=member,
                         max_lag=262144, candidate_timeout=0)
        assert "bytes behind the leader (limit 262144)" in result["msg"]
    finally:
        os.kill(pid, signal.SIGCONT)
    local_cluster.wait_healthy(120)


def test_unhealthy_candidate_is_refused(local_cluster):
    member = sorted(local_cluster.replicas)[0]
    local_cluster.stop_member(member, kill=True)
    try:
        # the DCS still lists the member (its key lives for ttl seconds); its own API is gone
        result = refused(local_cluster, "candidate %s cannot take over: it does not answer on its REST API at %s" % (
            member, local_cluster.api_urls[member]), candidate=member, candidate_timeout=0)
        assert result["candidate"] == member
    finally:
        local_cluster.start_member(member)
        local_cluster.wait_healthy(180)


def test_failover_mode_is_refused_while_a_leader_runs(local_cluster):
    refused(local_cluster, "has a running leader", mode="failover", candidate=local_cluster.replicas[0])


def test_scheduled_switchover_and_its_repeat(local_cluster):
    leader = local_cluster.leader
    target = local_cluster.replicas[0]
    args = dict(api_args(local_cluster), candidate=target, scheduled_at="2099-01-01T10:00:00+00:00")
    first = run_module("patroni_switchover", args)
    assert first["changed"] is True and first["scheduled_at"] == "2099-01-01T10:00:00+00:00", first
    assert first["leader"] == leader
    second = run_module("patroni_switchover", args)
    assert second["changed"] is False, second
    info = run_module("patroni_cluster_info", api_args(local_cluster))
    assert info["scheduled_switchover"]["to"] == target
    # an immediate switchover replaces it (and says so); move the leader back to keep things tidy
    now = run_module("patroni_switchover", dict(api_args(local_cluster), candidate=target, timeout=120))
    assert now["changed"] is True and any("replaced" in w for w in now.get("warnings", [])), now
    assert run_module("patroni_cluster_info", api_args(local_cluster))["scheduled_switchover"] is None


def test_failover_promotes_a_member_of_a_leaderless_cluster(local_cluster):
    # Paused (maintenance mode), Patroni does not fail over by itself: kill the leader and wait
    # until its leader key expires (ttl 20 s), which leaves the cluster without a leader.
    leader = local_cluster.leader
    target = sorted(local_cluster.replicas)[0]
    other = [m for m in local_cluster.members if m not in (leader, target)][0]
    paused = run_module("patroni_config", dict(api_args(local_cluster, target), config={"pause": True}))
    assert paused["changed"] is True, paused
    local_cluster.stop_member(leader, kill=True)
    try:
        def leaderless():
            info = run_module("patroni_cluster_info", dict(api_args(local_cluster, target), member_details=False))
            return info.get("leader") is None and info.get("members")
        wait_for(leaderless, timeout=90, interval=1, what="the leader key of %s to expire" % leader)
        refusal = run_module("patroni_switchover", dict(api_args(local_cluster, target), candidate=target))
        assert refusal.get("failed") and "has no leader" in refusal["msg"] and "mode=failover" in refusal["msg"]
        check = run_module("patroni_switchover", dict(api_args(local_cluster, target), mode="failover",
                                                      candidate=target), check=True)
        assert check["changed"] is True and check["actions"][0]["action"] == "failover", check
        assert (local_cluster.state(target) or {}).get("role") == "replica"
        result = run_module("patroni_switchover", dict(api_args(local_cluster, target), mode="failover",
                                                       candidate=target, timeout=120))
        assert result["changed"] is True and result["leader"] == target, result
        assert result["answer"] == 'Successfully failed over to "%s"' % target
        assert local_cluster.state(target)["role"] == "primary"
        assert (local_cluster.state(other) or {}).get("role") == "replica"
    finally:
        run_module("patroni_config", dict(api_args(local_cluster, target), config={"pause": None}))
        local_cluster.start_member(leader)
    local_cluster.wait_healthy(180)
    assert local_cluster.leader == target


def wait_for_log(path, offset, text, timeout=90):
    """Poll a log file from ``offset`` until ``text`` appears in it."""
    def seen():
        with open(path, "rb") as f:
            f.seek(offset)
            return text.encode() in f.read()
    return wait_for(seen, timeout=timeout, interval=0.01, what="%r in %s" % (text, path))


def test_named_candidate_frozen_after_the_request_is_a_failure_naming_the_leader(local_cluster):
    """SIGSTOP the named candidate's Patroni as soon as the leader starts demoting itself: Patroni
    promotes another member, and the module fails saying so and who leads now (it used to report
    ok/changed with only a warning). The freeze is driven by the leader's own log line, not by time;
    if the candidate still won the race, the attempt is repeated."""
    for _attempt in range(3):
        local_cluster.wait_healthy(120)
        leader = local_cluster.leader
        candidate, other = sorted(m for m in local_cluster.members if m != leader)
        pid = local_cluster.cluster.load_state()["members"][candidate]["pid"]
        log = local_cluster.patroni_log(leader)
        offset = os.path.getsize(log)
        handle = start_module("patroni_switchover", dict(api_args(local_cluster, other), candidate=candidate,
                                                         timeout=120))
        frozen = False
        try:
            wait_for_log(log, offset, "switchover: demoting myself")
            os.kill(pid, signal.SIGSTOP)
            frozen = True
            result = finish_module(handle)
        finally:
            if frozen:
                os.kill(pid, signal.SIGCONT)
        local_cluster.wait_healthy(120)
        now = local_cluster.leader
        if now == candidate:
            continue  # the candidate took the leader key before it was frozen: try again
        assert result.get("failed") is True, result
        assert result["msg"] == ("switchover to %s failed: Patroni promoted %s instead (%s did not take over); "
                                 "%s is the leader now" % (candidate, now, candidate, now)), result
        assert result["leader"] == now and result["candidate"] == candidate
        assert [(a["action"], a["from"], a["to"], a["status"]) for a in result["actions"]] == [
            ("switchover", leader, now, "failed")]
        return
    pytest.fail("the candidate took over before it could be frozen, three times in a row")
