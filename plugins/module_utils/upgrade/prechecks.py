# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The pre-checks of a major upgrade as a plan with reasons: pure, facts in, verdicts out.

Each check is ``{"check", "ok", "reason"}``; the upgrade starts only when every one is ok.
The facts are gathered by the target (``upgrade/local.py`` for the local target). The numbers
(lag, transaction age, disk) are explained in docs/design/upgrade.md ("Pre-checks").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MIB = 1024 * 1024
#: A replica further behind than this is not "caught up".
MAX_LAG_BYTES = 16 * MIB
#: A transaction open longer than this blocks the upgrade (the stop would cancel it).
MAX_TRANSACTION_SECONDS = 60
#: ``--link`` writes only the new catalogs and a few control files: a fixed reserve is enough.
LINK_RESERVE_BYTES = 256 * MIB
#: ``--copy`` writes a second copy of every data file, plus the same reserve.
METHODS = ("link", "copy")


def disk_needed(method, data_bytes):
    """Bytes that must be free in the data directory's file system for ``method``."""
    if method == "copy":
        return int(data_bytes) + LINK_RESERVE_BYTES
    # new system catalogs (a small share of the data) + WAL of the new cluster's first start
    return LINK_RESERVE_BYTES + int(data_bytes) // 20


def _fmt(n):
    return "%.1f MiB" % (float(n) / MIB)


def check_replicas(members, expected, max_lag=MAX_LAG_BYTES):
    leaders = [m for m in members if m.get("role") in ("leader", "master", "primary")]
    bad = []
    if len(leaders) != 1:
        bad.append("%d leaders (want 1)" % len(leaders))
    elif leaders[0].get("state") != "running":
        bad.append("the leader %s is %s, not running" % (leaders[0].get("name"), leaders[0].get("state")))
    names = set(m.get("name") for m in members)
    missing = sorted(set(expected) - names)
    if missing:
        bad.append("no answer from %s" % ", ".join(missing))
    for m in members:
        if m in leaders:
            continue
        if m.get("state") != "streaming":
            bad.append("replica %s is %s, not streaming" % (m.get("name"), m.get("state") or "unknown"))
        elif m.get("lag") is None or not isinstance(m.get("lag"), int) or m["lag"] > max_lag:
            bad.append("replica %s lags %s bytes (at most %d)" % (m.get("name"), m.get("lag"), max_lag))
    if bad:
        return {"check": "replicas", "ok": False, "reason": "; ".join(bad)}
    return {"check": "replicas", "ok": True,
            "reason": "1 leader running, %d replicas streaming with lag <= %s" % (len(members) - 1, _fmt(max_lag))}


def check_transactions(long_transactions, max_seconds=MAX_TRANSACTION_SECONDS):
    if long_transactions:
        shown = ", ".join("pid %s (%s on %s, open %ss)" % (t.get("pid"), t.get("usename"), t.get("datname"),
                                                           t.get("seconds")) for t in long_transactions[:5])
        return {"check": "transactions", "ok": False,
                "reason": "%d transaction(s) open longer than %ss: %s; end them or wait"
                          % (len(long_transactions), max_seconds, shown)}
    return {"check": "transactions", "ok": True, "reason": "no transaction open longer than %ss" % max_seconds}


def check_disk(method, data_bytes, free_bytes):
    need = disk_needed(method, data_bytes)
    text = "data %s, free %s, %s needs %s" % (_fmt(data_bytes), _fmt(free_bytes), method, _fmt(need))
    if free_bytes < need:
        fix = "; free space or use method link" if method == "copy" else "; free space"
        return {"check": "disk", "ok": False, "reason": text + fix}
    return {"check": "disk", "ok": True, "reason": text}


def check_extensions(installed, available, target):
    """``installed``: {database: [extension, ...]}; ``available``: the target's control file names."""
    if available is None:
        return {"check": "extensions", "ok": False,
                "reason": "the extension directory of PostgreSQL %s was not found" % target}
    have = set(available)
    missing = []
    for db in sorted(installed):
        for ext in sorted(installed[db]):
            if ext != "plpgsql" and ext not in have:
                missing.append("%s (database %s)" % (ext, db))
    if missing:
        return {"check": "extensions", "ok": False,
                "reason": "not available in PostgreSQL %s: %s; drop them or install them for %s first"
                          % (target, ", ".join(missing), target)}
    count = sum(len(v) for v in installed.values())
    return {"check": "extensions", "ok": True,
            "reason": "all %d installed extension(s) exist in PostgreSQL %s" % (count, target)}


def check_pg_upgrade(result):
    """``result``: None (not run: an earlier check failed) or ``{"ok", "output"}``."""
    if result is None:
        return {"check": "pg_upgrade_check", "ok": False, "reason": "not run (an earlier check failed)"}
    if result.get("ok"):
        return {"check": "pg_upgrade_check", "ok": True, "reason": "pg_upgrade --check passed"}
    lines = [ln.strip() for ln in str(result.get("output") or "").splitlines() if ln.strip()]
    return {"check": "pg_upgrade_check", "ok": False,
            "reason": "pg_upgrade --check failed: %s" % " | ".join(lines[-6:])[:1500]}


def evaluate(facts, method="link", max_lag=MAX_LAG_BYTES, max_seconds=MAX_TRANSACTION_SECONDS):
    """Every check over ``facts``; ``{"ok", "checks", "refused"}`` (``refused``: the reasons of the failed ones)."""
    if method not in METHODS:
        raise ValueError("method: %r is not one of %s" % (method, ", ".join(METHODS)))
    checks = [check_replicas(facts.get("members") or [], facts.get("expected_members") or [], max_lag),
              check_transactions(facts.get("long_transactions") or [], max_seconds),
              check_disk(method, int(facts.get("data_bytes") or 0), int(facts.get("free_bytes") or 0)),
              check_extensions(facts.get("extensions") or {}, facts.get("target_extensions"), facts.get("target"))]
    if "pg_upgrade_check" in facts:
        checks.append(check_pg_upgrade(facts.get("pg_upgrade_check")))
    refused = ["%s: %s" % (c["check"], c["reason"]) for c in checks if not c["ok"]]
    return {"ok": not refused, "checks": checks, "refused": refused}
