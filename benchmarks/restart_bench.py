#!/usr/bin/env python
"""Write gap of restarting a cluster: our rolling restart of all members vs a naive primary restart.

A fresh 3-member etcd + Patroni cluster on loopback, a writer inserting every 20 ms through the
multi-host read-write DSN. Each of ``--runs`` rounds measures, in alternating order:

* ours: ``pgfleet.postgres.patroni_restart force=true`` (every member: the replicas one at a time,
  then the primary through a switchover), run the way Ansible runs a module;
* naive: ``patronictl restart <cluster> <primary> --force`` (the primary restarted in place);
* one switchover with ``pgfleet.postgres.patroni_switchover``, the yardstick of the target.

For the rolling restart the *total* write gap counts: the sum of every gap longer than 0.25 s
while it ran. Prints median, min, max, the ratio ours/naive, the ratio of our total rolling-restart
gap to one switchover gap (target <= 1.1), and the acknowledged writes that were lost (must be 0).
Numbers only; nothing is asserted.

    .venv/bin/python benchmarks/restart_bench.py [--runs 5]
"""

import argparse
import statistics

from switchover_bench import api_args, fresh_cluster, header, patronictl, run_module, settle, summary
from writer import Writer

GAP = 0.25  # seconds without an acknowledged write that count as a gap (the writer ticks every 0.02 s)


def total_gap(writer, since, until):
    return sum(seconds for start, end, seconds in writer.gaps(threshold=GAP) if end >= since and start <= until)


def run_round(cluster, writer, who):
    t0 = writer.now()
    leader = cluster.leader
    if who == "ours":
        result = run_module("patroni_restart", dict(api_args(cluster), force=True, timeout=180))
        restarted = [m["member"] for m in result["members"] if m["status"] == "done"]
        detail = "restarted %s, leader %s -> %s" % (", ".join(restarted), leader, result["leader"])
    elif who == "naive":
        patronictl(cluster, "restart", cluster.name, leader, "--force")
        detail = "restarted the primary %s in place" % leader
    else:
        result = run_module("patroni_switchover", dict(api_args(cluster), timeout=120))
        detail = "%s -> %s" % (leader, result["leader"])
    took = writer.now() - t0
    settle(cluster, writer)
    t1 = writer.now()
    return total_gap(writer, t0, t1), writer.longest_gap(since=t0, until=t1), took, detail


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    totals = {"ours": [], "naive": [], "switchover": []}
    longest = {"ours": [], "naive": [], "switchover": []}
    took = {"ours": [], "naive": [], "switchover": []}
    with fresh_cluster("pgf-bench-rr") as cluster:
        with Writer(cluster.conninfo()) as writer:  # stopped on leaving the block, whatever happened
            settle(cluster, writer)
            kinds = ["ours", "naive", "switchover"]
            for i in range(args.runs):
                order = kinds[i % 3:] + kinds[:i % 3]
                for who in order:
                    total, worst, seconds, detail = run_round(cluster, writer, who)
                    totals[who].append(total)
                    longest[who].append(worst)
                    took[who].append(seconds)
                    print("run %d %-10s total gap %.2f s, longest %.2f s, command %.2f s (%s)" % (
                        i + 1, who, total, worst, seconds, detail), flush=True)
        lost = writer.lost()
    print()
    print("Restart write gaps, 3 members, writer every 20 ms through a multi-host read-write DSN")
    print("(total = sum of gaps longer than %.2f s while the command ran)" % GAP)
    print(header())
    print(summary("ours, rolling restart: total", totals["ours"]))
    print(summary("ours, rolling restart: longest", longest["ours"]))
    print(summary("naive primary restart: total", totals["naive"]))
    print(summary("one switchover (ours): total", totals["switchover"]))
    med = statistics.median
    if totals["ours"] and totals["naive"]:
        print("ratio ours/naive (median totals): %.2f" % (med(totals["ours"]) / med(totals["naive"])))
    if totals["ours"] and totals["switchover"]:
        print("ratio rolling restart total / one switchover (medians): %.2f   (target <= 1.1)" % (
            med(totals["ours"]) / med(totals["switchover"])))
    print(summary("command time, rolling restart", took["ours"]))
    print(summary("command time, naive restart", took["naive"]))
    print("acknowledged writes: %d, failed attempts: %d, lost acknowledged writes: %d" % (
        writer.acked_count, len(writer.errors), lost))


if __name__ == "__main__":
    main()
