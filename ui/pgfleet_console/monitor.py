"""Monitoring snapshots (the console's pg_view): sessions with per-backend CPU, memory and I/O,
replication lag, database sizes, and a short history for the charts.

Two sources, one snapshot shape:

* local target: ``pg_stat_activity`` & co. on the leader, plus ``/proc/<pid>`` of each backend
  (this machine runs them); rates come from the difference to the previous sample.
* Kubernetes: the ``bg_mon`` JSON document each Spilo pod serves on port 8080, read through the API
  server's pod proxy (``normalize_bg_mon``).
"""

import collections
import os
import threading
import time

HISTORY_SECONDS = 600
MIN_INTERVAL = 1.0
MAX_QUERY = 2000
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

SESSIONS_SQL = """
SELECT pid, datname, usename, application_name, coalesce(host(client_addr), '') AS client, state,
       wait_event_type, wait_event, backend_type,
       extract(epoch FROM now() - coalesce(query_start, backend_start))::float8 AS duration,
       extract(epoch FROM now() - xact_start)::float8 AS xact_age,
       left(query, %d) AS query, pg_blocking_pids(pid) AS blocked_by
FROM pg_stat_activity WHERE pid <> pg_backend_pid()
""" % MAX_QUERY
REPLICATION_SQL = """
SELECT application_name, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
"""
DATABASES_SQL = """
SELECT d.datname, pg_database_size(d.oid)::float8 AS size, s.xact_commit + s.xact_rollback AS xacts
FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
WHERE d.datallowconn ORDER BY d.datname
"""


# --- /proc ----------------------------------------------------------------------------------------
def proc_sample(pid, proc="/proc"):
    """CPU ticks, resident/unique memory and I/O bytes of one process, or None when it is gone."""
    base = os.path.join(proc, str(int(pid)))
    try:
        with open(os.path.join(base, "stat")) as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    out = {"ticks": int(fields[11]) + int(fields[12]), "rss": int(fields[21]) * PAGE, "uss": None,
           "read": None, "write": None}
    try:
        with open(os.path.join(base, "smaps_rollup")) as fh:
            uss = 0
            for line in fh:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    uss += int(line.split()[1]) * 1024
            out["uss"] = uss
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(os.path.join(base, "io")) as fh:
            for line in fh:
                key, _sep, value = line.partition(":")
                if key == "read_bytes":
                    out["read"] = int(value)
                elif key == "write_bytes":
                    out["write"] = int(value)
    except (OSError, ValueError):
        pass
    return out


def rate(new, old, seconds):
    if new is None or old is None or seconds <= 0:
        return None
    return max(0.0, (new - old) / seconds)


# --- blocking tree ------------------------------------------------------------------------------
def _kind_rank(s):
    """Client sessions before Postgres's own processes (bg_mon calls client backends "backend")."""
    return 0 if s.get("backend_type") in ("client backend", "backend", "") else 1


def _state_rank(s):
    return {"active": 0, "idle in transaction": 1, "idle in transaction (aborted)": 1}.get(s.get("state"), 2)


def blocking_tree(sessions):
    """Sessions ordered as a tree: each blocker, then (indented by ``depth``) the sessions it blocks.
    A session blocked by several appears under the first; cycles are cut."""
    by_pid = dict((s["pid"], s) for s in sessions)
    children = collections.defaultdict(list)
    blocked = set()
    for s in sessions:
        for b in s.get("blocked_by") or []:
            if b in by_pid:
                children[b].append(s["pid"])
                blocked.add(s["pid"])
                break
    out, seen = [], set()

    def walk(pid, depth):
        if pid in seen:
            return
        seen.add(pid)
        out.append(dict(by_pid[pid], depth=depth, blocking=len(children.get(pid) or [])))
        for c in sorted(children.get(pid) or []):
            walk(c, depth + 1)

    roots = [s for s in sessions if s["pid"] not in blocked]
    roots.sort(key=lambda s: (-len(children.get(s["pid"]) or []), _kind_rank(s), _state_rank(s), -(s.get("duration") or 0)))
    for s in roots:
        walk(s["pid"], 0)
    for s in sessions:  # members of a cycle
        walk(s["pid"], 0)
    return out


# --- history --------------------------------------------------------------------------------------
class History(object):
    def __init__(self, seconds=HISTORY_SECONDS):
        self.seconds = seconds
        self.points = collections.deque()

    def add(self, t, **values):
        self.points.append(dict(values, t=t))
        while self.points and self.points[0]["t"] < t - self.seconds:
            self.points.popleft()

    def series(self):
        return list(self.points)


class Sampler(object):
    """Base: caches a snapshot for ``MIN_INTERVAL`` so many browsers do not multiply the load."""

    def __init__(self):
        self.lock = threading.Lock()
        self.history = History()
        self.last = None
        self.last_time = 0.0

    def snapshot(self):
        with self.lock:
            now = time.time()
            if self.last is not None and now - self.last_time < MIN_INTERVAL:
                return self.last
            snap = self.collect(now)
            self.history.add(now, tps=snap["totals"].get("tps"), connections=snap["totals"].get("connections"),
                             active=snap["totals"].get("active"), lag=snap["totals"].get("max_lag_bytes"))
            snap["history"] = self.history.series()
            self.last, self.last_time = snap, now
            return snap

    def collect(self, now):
        raise NotImplementedError


class LocalSampler(Sampler):
    """Samples a local cluster's leader. ``conninfo()`` -> (psycopg kwargs, leader member)."""

    def __init__(self, conninfo, proc="/proc"):
        super(LocalSampler, self).__init__()
        self.conninfo = conninfo
        self.proc = proc
        self.prev = None  # (time, {pid: proc sample}, xacts)

    def collect(self, now):
        import psycopg

        kwargs, leader = self.conninfo()
        with psycopg.connect(autocommit=True, **kwargs) as conn:
            cur = conn.cursor()
            cur.execute("SET statement_timeout = '5s'")
            cur.execute(SESSIONS_SQL)
            cols = [d.name for d in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            cur.execute(REPLICATION_SQL)
            rcols = [d.name for d in cur.description]
            replication = [dict(zip(rcols, r, strict=True)) for r in cur.fetchall()]
            cur.execute(DATABASES_SQL)
            databases = [{"name": r[0], "size": r[1], "xacts": int(r[2] or 0)} for r in cur.fetchall()]
        procs = {}
        for r in rows:
            procs[r["pid"]] = proc_sample(r["pid"], self.proc)
        xacts = sum(d["xacts"] for d in databases)
        prev_t, prev_procs, prev_x = self.prev or (None, {}, None)
        dt = (now - prev_t) if prev_t else 0.0
        sessions = []
        for r in rows:
            p, old = procs.get(r["pid"]), prev_procs.get(r["pid"])
            cpu = rate(p["ticks"] if p else None, old["ticks"] if old else None, dt)
            sessions.append({
                "pid": r["pid"], "database": r["datname"], "user": r["usename"], "application": r["application_name"],
                "client": r["client"], "state": r["state"] or "", "backend_type": r["backend_type"] or "",
                "wait": "%s: %s" % (r["wait_event_type"], r["wait_event"]) if r["wait_event"] else "",
                "duration": r["duration"], "xact_age": r["xact_age"], "query": r["query"] or "",
                "blocked_by": list(r["blocked_by"] or []),
                "cpu": None if cpu is None else round(100.0 * cpu / CLK_TCK, 1),
                "rss": p["rss"] if p else None, "uss": p["uss"] if p else None,
                "read_rate": rate(p["read"] if p else None, old["read"] if old else None, dt),
                "write_rate": rate(p["write"] if p else None, old["write"] if old else None, dt)})
        self.prev = (now, procs, xacts)
        client = [s for s in sessions if s["backend_type"] == "client backend"]
        totals = {"tps": rate(xacts, prev_x, dt), "connections": len(client),
                  "active": len([s for s in client if s["state"] == "active"]),
                  "max_lag_bytes": max([r["lag_bytes"] or 0 for r in replication] or [0])}
        return {"time": now, "source": "pg_stat_activity + /proc", "leader": leader,
                "sessions": blocking_tree(sessions),
                "replication": [{"member": r["application_name"], "state": r["state"], "sync": r["sync_state"],
                                 "lag_bytes": r["lag_bytes"], "lag_seconds": r["lag_seconds"]} for r in replication],
                "databases": [{"name": d["name"], "size": d["size"]} for d in databases],
                "totals": totals, "problems": []}


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def normalize_bg_mon(doc, patroni_members=None):
    """A ``bg_mon`` JSON document (one pod) -> the console's snapshot shape (no history)."""
    doc = doc if isinstance(doc, dict) else {}
    pg = doc.get("postgresql") if isinstance(doc.get("postgresql"), dict) else {}
    conns = pg.get("connections") if isinstance(pg.get("connections"), dict) else {}
    sessions = []
    for p in doc.get("processes") or []:
        if not isinstance(p, dict) or not isinstance(p.get("pid"), int):
            continue
        cpu = p.get("cpu") if isinstance(p.get("cpu"), dict) else {}
        io = p.get("io") if isinstance(p.get("io"), dict) else {}
        user, system = _num(cpu.get("user")), _num(cpu.get("system"))
        query = p.get("query")
        wait = ""
        if p.get("wait_event"):
            wait = "%s: %s" % (p.get("wait_event_type") or "", p.get("wait_event"))
        state = "active" if p.get("age") is not None else ("idle in transaction" if p.get("idle_in_transaction")
                                                           is not None else "idle")
        sessions.append({
            "pid": p["pid"], "database": p.get("database"), "user": p.get("username"), "application": "",
            "client": "", "state": state, "backend_type": str(p.get("type") or ""), "wait": wait,
            "duration": _num(p.get("age")) if p.get("age") is not None else _num(p.get("idle_in_transaction")),
            "xact_age": None, "query": (str(query) if query is not None else "")[:MAX_QUERY],
            "blocked_by": [b for b in p.get("locked_by") or [] if isinstance(b, int)],
            "cpu": None if user is None and system is None else round((user or 0) + (system or 0), 1),
            "rss": None, "uss": _num(p.get("uss")),
            "read_rate": _num(io.get("read")), "write_rate": _num(io.get("write"))})
    dbs = doc.get("databases") if isinstance(doc.get("databases"), dict) else {}
    tps = 0.0
    for stats in dbs.values():
        xact = (stats or {}).get("xact") if isinstance(stats, dict) else None
        if isinstance(xact, dict):
            tps += (_num(xact.get("commit")) or 0) + (_num(xact.get("rollback")) or 0)
    disk = doc.get("disk_stats") if isinstance(doc.get("disk_stats"), dict) else {}
    data_dir = ((disk.get("data") or {}).get("directory") or {}) if isinstance(disk.get("data"), dict) else {}
    replication = []
    for m in patroni_members or []:
        if m.get("role") not in ("leader", "master", "primary", "standby_leader"):
            lag = m.get("lag")
            replication.append({"member": m.get("name"), "state": m.get("state"), "sync": m.get("role"),
                                "lag_bytes": _num(lag) if not isinstance(lag, str) else None, "lag_seconds": None})
    return {"time": _num(doc.get("time")), "source": "bg_mon", "leader": None,
            "sessions": blocking_tree(sessions), "replication": replication,
            "databases": [{"name": "data directory", "size": _num(data_dir.get("size"))}] if data_dir else [],
            "totals": {"tps": tps if dbs else None, "connections": _num(conns.get("total")),
                       "active": _num(conns.get("active")),
                       "max_lag_bytes": max([r["lag_bytes"] or 0 for r in replication] or [0])},
            "problems": []}


class BgMonSampler(Sampler):
    """Samples a Kubernetes cluster's leader pod through the pod proxy with the caller's identity."""

    def __init__(self):
        super(BgMonSampler, self).__init__()
        self.fetch = None  # set per request: () -> (bg_mon document or None, patroni members, problems)

    def collect(self, now):
        doc, members, problems = self.fetch()
        snap = normalize_bg_mon(doc or {}, members)
        snap["problems"] = problems
        snap["time"] = now
        return snap
