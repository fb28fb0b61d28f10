#!/usr/bin/env python
"""Write downtime of an in-place major upgrade (15 -> 18, pg_upgrade --link) of a local cluster.

A fresh 3-member etcd + Patroni cluster on PostgreSQL 15 (tests/system/upgrade/conftest.py), a
table filled to ``--mb`` MiB (default 100; ``--gb`` for the 1 GiB run, which takes minutes to
fill), a writer inserting every 20 ms through the multi-host read-write DSN, then the upgrade.
Prints the write downtime measured by the upgrade itself (old leader stopped -> new leader
accepts writes), the longest gap the writer saw, the time of each step, and the acknowledged
writes lost (must be 0). Numbers only; nothing is asserted.

    .venv/bin/python benchmarks/upgrade_bench.py [--mb 100 | --gb]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (os.path.join(REPO, ".collections"), os.path.join(REPO, "tests", "system", "patroni"),
             os.path.join(REPO, "tests", "system", "upgrade")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade.local import LocalUpgrade, dir_bytes  # noqa: E402
from ansible_collections.pgfleet.postgres.tests.harness import local_home  # noqa: E402
from writer import Writer  # noqa: E402

import conftest  # noqa: E402  (the upgrade system-test harness)


def fill(handle, mib):
    """About ``mib`` MiB of table data in database app, in 64 MiB batches (short transactions)."""
    rows_per_mib = 6400  # measured: 5000 rows of this shape made 0.79 MiB with the index
    with handle.connect("app") as conn:
        conn.execute("CREATE TABLE public.bulk (id bigint PRIMARY KEY, payload text)")
        done = 0
        while done < mib:
            step = min(64, mib - done)
            first = done * rows_per_mib
            conn.execute("INSERT INTO public.bulk SELECT g, repeat(md5(g::text), 3) FROM generate_series(%s, %s) g",
                         (first + 1, first + step * rows_per_mib))
            done += step
        conn.execute("CHECKPOINT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="MiB of data to upgrade (default 100)")
    parser.add_argument("--gb", action="store_true", help="1 GiB of data (overrides --mb)")
    args = parser.parse_args()
    mib = 1024 if args.gb else args.mb
    reason = conftest.skip_reason()
    if reason:
        print("cannot run: %s" % reason)
        return 2
    with local_home(prefix="pgf-ub-") as home:
        t0 = time.monotonic()
        h = conftest.start(home, name="pgf-bench")
        fill(h, mib)
        h.cluster.wait_healthy(600)
        state = h.state()
        leader = h.cluster.status()["leader"]
        size = dir_bytes(state["members"][leader]["data_dir"])
        with h.connect("app") as conn:
            db = conn.execute("SELECT pg_database_size('app')").fetchone()[0]
        print("cluster ready: database app %.0f MiB, leader's data dir %.0f MiB with WAL (%.1f s to start and fill)"
              % (db / 1048576.0, size / 1048576.0, time.monotonic() - t0))
        summary = h.cluster.summary(state)
        conninfo = "%s password=%s" % (summary["dsn"], state["credentials"]["superuser"]["password"])
        writer = Writer(conninfo)
        writer.start()
        t1 = time.monotonic()
        try:
            result = LocalUpgrade(h.cluster, "18", timeout=1800).run()
        finally:
            time.sleep(2)
            writer.stop()
        t2 = time.monotonic()
        answers = dict((m, lc.patroni_state(i["api_url"])) for m, i in h.state()["members"].items())
        print("upgrade 15 -> 18 (--link) of a %.0f MiB database: %.1f s in total" % (db / 1048576.0, t2 - t1))
        print("write downtime (leader stopped -> new leader writable): %.2f s" % result["write_downtime_seconds"])
        print("longest gap between acknowledged writes (writer, multi-host DSN): %.2f s"
              % writer.longest_gap(since=t1, until=t2))
        print("acknowledged writes: %d, lost: %d" % (writer.acked_count, writer.lost()))
        for step in result["steps"]:
            print("  %-18s %8s s  %s" % (step["step"], step["seconds"], step["detail"]))
        print("server_version per member: %s" % ", ".join(
            "%s=%s" % (m, (a or {}).get("server_version")) for m, a in sorted(answers.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
