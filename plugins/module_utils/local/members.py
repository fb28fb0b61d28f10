# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The member table of a local cluster, from every member's own ``GET /patroni``.

Reading goes through the collection's one Patroni REST client (``patroni/client.py``); what is
here only turns its answers into rows (role, state, lag against the leader) and a health verdict
(1 leader and N-1 streaming replicas).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import PatroniClient


def patroni_state(api_url, timeout=2.0):
    """A member's own ``GET /patroni`` answer, or None when its REST API does not answer."""
    return PatroniClient(api_url, timeout=timeout, retries=0, validate_certs=False).status()


def answers(state, timeout=2.0):
    """``{member: GET /patroni answer or None}`` for every member of a state file's ``members``."""
    return dict((m, patroni_state(i["api_url"], timeout)) for m, i in ((state or {}).get("members") or {}).items())


def _is_leader(answer):
    return (answer or {}).get("role") in ("primary", "master", "standby_leader")


def _is_streaming(answer):
    answer = answer or {}
    return answer.get("role") == "replica" and answer.get("state") in ("running", "streaming") and (
        answer.get("state") == "streaming" or answer.get("replication_state") == "streaming")


def member_row(member, answer, leader_location=None, sync_names=()):
    """One row of the member table from that member's own ``GET /patroni`` (None: unreachable).

    ``sync_names``: members the leader's ``replication`` list shows as ``sync``/``quorum``.
    """
    if answer is None:
        return {"member": member, "role": "unknown", "state": "unreachable", "lag": None,
                "timeline": None, "pending_restart": None, "pending_restart_reason": None}
    xlog = answer.get("xlog") or {}
    role = answer.get("role")
    lag = None
    if _is_leader(answer):
        role = "leader" if role != "standby_leader" else role
        lag = 0
    elif leader_location is not None:
        pos = max(xlog.get("received_location") or 0, xlog.get("replayed_location") or 0)
        lag = max(0, leader_location - pos)
    if role == "replica" and (answer.get("sync_standby") or member in sync_names):
        role = "sync_standby"
    state = answer.get("state")
    if state == "running" and answer.get("replication_state"):
        state = answer["replication_state"]
    return {"member": member, "role": role, "state": state, "lag": lag,
            "timeline": answer.get("timeline"),
            "pending_restart": bool(answer.get("pending_restart")),
            "pending_restart_reason": answer.get("pending_restart_reason")}


def member_rows(answers):
    """Rows for ``{member: answer-or-None}``, lag measured against the leader's WAL position."""
    leader_location = None
    sync_names = set()
    for answer in answers.values():
        if _is_leader(answer):
            leader_location = (answer.get("xlog") or {}).get("location")
            for rep in answer.get("replication") or []:
                if rep.get("sync_state") in ("sync", "quorum"):
                    sync_names.add(rep.get("application_name"))
    return [member_row(m, answers[m], leader_location, sync_names) for m in sorted(answers)]


def health(answers, expected):
    """``(healthy, leader, problems)``: healthy is 1 leader + ``expected``-1 streaming replicas."""
    leaders = [m for m, a in answers.items() if _is_leader(a) and a.get("state") == "running"]
    problems = []
    if len(answers) != expected:
        problems.append("%d members answer, %d expected" % (len(answers), expected))
    if len(leaders) != 1:
        problems.append("%d leaders running" % len(leaders))
    for member in sorted(answers):
        answer = answers[member]
        if member in leaders:
            continue
        if answer is None:
            problems.append("%s: REST API unreachable" % member)
        elif not _is_streaming(answer):
            problems.append("%s: role %s, state %s" % (
                member, answer.get("role"), answer.get("replication_state") or answer.get("state")))
    return (not problems, leaders[0] if len(leaders) == 1 else None, problems)


def format_table(rows):
    """The member table as lines of text (for ``debug`` output and logs)."""
    head = ("Member", "Role", "State", "Lag (bytes)", "TL", "Pending restart")
    data = [head]
    for r in rows:
        pending = "-" if r["pending_restart"] is None else ("yes" if r["pending_restart"] else "no")
        if r["pending_restart"] and r.get("pending_restart_reason"):
            pending += " (%s)" % ", ".join(sorted(r["pending_restart_reason"]))
        data.append((r["member"], r["role"] or "-", r["state"] or "-",
                     "-" if r["lag"] is None else str(r["lag"]),
                     "-" if r["timeline"] is None else str(r["timeline"]), pending))
    widths = [max(len(row[i]) for row in data) for i in range(len(head))]
    lines = []
    for row in data:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
