#!/usr/bin/env python
"""Write gap of a switchover: ours (pgfleet.postgres.patroni_switchover) vs ``patronictl switchover``.

A fresh 3-member etcd + Patroni cluster on loopback (the test harness: tests/system/patroni/),
a writer inserting every 20 ms through the multi-host read-write DSN, then ``--runs`` switchovers
of each kind, alternating which goes first. Both move the leader to the same member (the replica
our module would choose). The write gap of a run is the longest time without an acknowledged
write between the start of the command and the cluster being healthy again. Prints median, min,
max and the ratio ours/theirs, plus the count of acknowledged writes that are lost (must be 0).
Numbers only; nothing is asserted.

    .venv/bin/python benchmarks/switchover_bench.py [--runs 5]

The helpers here (``fresh_cluster``, ``run_module``, ``settle``, ``summary``) are shared with
benchmarks/restart_bench.py.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (os.path.join(REPO, ".collections"), os.path.join(REPO, "tests", "system", "patroni")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PatroniError  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import PatroniClient  # noqa: E402
from writer import Writer  # noqa: E402

from conftest import ClusterHandle, manifest_for  # noqa: E402  (the system-test harness)

PYTHON = os.path.join(REPO, ".venv", "bin", "python")
PATRONICTL = "/var/lib/pgfleet/venv/bin/patronictl"
MODULES = "ansible_collections.pgfleet.postgres.plugins.modules."


@contextlib.contextmanager
def fresh_cluster(name):
    """A new 3-member cluster (the harness's default manifest), removed afterwards."""
    manifest = manifest_for()
    manifest["metadata"]["name"] = name
    state_dir = tempfile.mkdtemp(prefix="pgfb-")
    shutil.rmtree(state_dir)
    model, spilo_conf = lc.model_from_manifest(manifest)
    cluster = lc.LocalCluster(model["name"], state_dir=state_dir)
    try:
        t0 = time.monotonic()
        cluster.apply(cluster.plan_present(model, spilo_conf), timeout=240)
        print("cluster %s: 1 leader + 2 streaming after %.1f s" % (name, time.monotonic() - t0), flush=True)
        yield ClusterHandle(cluster, manifest, model, spilo_conf)
    finally:
        cluster.absent(timeout=60)


def api_args(cluster):
    return {"api_url": cluster.leader_api_url or cluster.api_urls[cluster.members[0]],
            "api_username": cluster.rest_username, "api_password": cluster.rest_password}


def run_module(name, args, timeout=600):
    """Run one of our modules the way Ansible does (own process, JSON in, JSON out)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    try:
        proc = subprocess.run([PYTHON, "-m", MODULES + name, f.name], capture_output=True, text=True, check=False,
                              timeout=timeout, env=dict(os.environ, PYTHONPATH=os.path.join(REPO, ".collections")))
    finally:
        os.unlink(f.name)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (name, result.get("msg")))
    return result


def patronictl(cluster, *argv, timeout=300):
    conf = os.path.join(cluster.state_dir, cluster.members[0], "patroni.yml")
    proc = subprocess.run([PATRONICTL, "-c", conf] + list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError("patronictl %s failed: %s %s" % (" ".join(argv), proc.stdout[-500:], proc.stderr[-500:]))
    return proc.stdout


def dcs_agrees(cluster):
    """The DCS view (GET /cluster) shows the live leader and every replica streaming."""
    try:
        client = PatroniClient(cluster.api_urls[cluster.members[0]], timeout=2)
        state = client.read_state(with_config=False)
    except PatroniError:
        return False
    dcs_leaders = [m.name for m in state.members if m.dcs_role == "leader"]
    return (state.leader is not None and dcs_leaders == [state.leader]
            and all(m.dcs_state == "streaming" and m.state == "streaming" for m in state.replicas))


def settle(cluster, writer, timeout=180):
    """Poll until the cluster is healthy, the DCS agrees, and the writer writes again."""
    cluster.wait_healthy(timeout)
    deadline = time.monotonic() + timeout
    while not dcs_agrees(cluster):
        if time.monotonic() > deadline:
            raise RuntimeError("the DCS did not catch up within %s s" % timeout)
        time.sleep(0.2)
    acked = writer.acked_count
    while writer.acked_count < acked + 10:
        if time.monotonic() > deadline:
            raise RuntimeError("the writer did not resume")
        time.sleep(0.05)


def best_candidate(cluster):
    plan = run_module("patroni_switchover", dict(api_args(cluster), _ansible_check_mode=True))
    return plan["candidate"]


def measure(writer, cluster, action):
    """Run ``action()``; return (longest write gap, seconds the command took)."""
    t0 = writer.now()
    action()
    took = writer.now() - t0
    settle(cluster, writer)
    return writer.longest_gap(since=t0, until=writer.now()), took


def summary(label, values, unit="s"):
    if not values:
        return "%-34s   (no runs)" % label
    stats = (statistics.median(values), min(values), max(values))
    return "%-34s %7.2f %7.2f %7.2f %s   (n=%d)" % ((label,) + stats + (unit, len(values)))


def header():
    return "%-34s %7s %7s %7s" % ("", "median", "min", "max")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ours, theirs, ours_took, theirs_took = [], [], [], []
    with fresh_cluster("pgf-bench-sw") as cluster:
        with Writer(cluster.conninfo()) as writer:  # stopped on leaving the block, whatever happened
            settle(cluster, writer)
            for i in range(args.runs):
                order = ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours")
                for who in order:
                    leader = cluster.leader
                    candidate = best_candidate(cluster)
                    if who == "ours":
                        gap, took = measure(writer, cluster, lambda c=candidate: run_module(
                            "patroni_switchover", dict(api_args(cluster), candidate=c, timeout=120)))
                        ours.append(gap)
                        ours_took.append(took)
                    else:
                        gap, took = measure(writer, cluster, lambda c=candidate, ld=leader: patronictl(
                            cluster, "switchover", cluster.name, "--leader", ld, "--candidate", c, "--force"))
                        theirs.append(gap)
                        theirs_took.append(took)
                    print("run %d %-6s %s -> %s: write gap %.2f s, command %.2f s" % (
                        i + 1, who, leader, candidate, gap, took), flush=True)
        lost = writer.lost()
        print()
        print("Switchover write gap, 3 members, writer every 20 ms through a multi-host read-write DSN")
        print(header())
        print(summary("ours (patroni_switchover)", ours))
        print(summary("theirs (patronictl switchover)", theirs))
        if ours and theirs:
            print("ratio ours/theirs (medians): %.2f   (target <= 1.0)" % (
                statistics.median(ours) / statistics.median(theirs)))
        print(summary("command time, ours (*)", ours_took))
        print(summary("command time, theirs", theirs_took))
        print("(*) ours returns once the old primary streams again; patronictl once the new one leads")
        print("acknowledged writes: %d, failed attempts: %d, lost acknowledged writes: %d" % (
            writer.acked_count, len(writer.errors), lost))


if __name__ == "__main__":
    main()
