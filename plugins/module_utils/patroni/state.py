# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A Patroni cluster as one typed value, and the pure decisions taken on it.

* ``Member`` / ``ClusterState`` / ``parse_cluster()``: the member list comes from ``GET /cluster``
  (the DCS view); everything live (role, state, lag, pending restart, postmaster start time) is
  taken from each member's own ``GET /patroni`` when it answered, because ``/cluster`` can be
  ``loop_wait`` seconds stale.
* Switchover candidate choice and the lag gate (``choose_candidate``), and the rolling-restart plan
  (``restart_plan``). docs/design/patroni.md explains both choices and where they differ from the
  reference operator.

No I/O here: unit-tested with answers recorded from a real Patroni.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, PatroniError

DEFAULT_MAX_LAG = 1048576  # Patroni's own default for maximum_lag_on_failover
HEALTHY_STATES = ("running", "streaming", "in archive recovery")
LEADER_ROLES = ("leader", "standby_leader")
# Changes Patroni/PostgreSQL want applied on the primary before the replicas: a replica must not run
# with a lower value than its primary (docs/design/patroni.md, "Rolling restart order").
DECREASE_FIRST_PARAMETERS = ("max_connections", "max_prepared_transactions", "max_locks_per_transaction",
                             "max_worker_processes", "max_wal_senders")


# =============================================================================================
# Small parsers
# =============================================================================================
_TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*"
                    r"(Z|[+-]\d{2}(?::?\d{2})?)?$")


def parse_timestamp(value, assume_utc=True):
    """ISO-8601-ish text (``2026-11-21 08:43:40.38+00:00``, ``...T...Z``) -> aware datetime.

    A ``datetime`` is returned as is (naive ones get UTC when ``assume_utc``). Text without a
    timezone gets UTC when ``assume_utc`` and raises ``ValueError`` otherwise. ``None`` -> ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            if not assume_utc:
                raise ValueError("timestamp %s has no timezone" % value)
            return value.replace(tzinfo=datetime.timezone.utc)
        return value
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    m = _TS_RE.match(str(value).strip())
    if not m:
        raise ValueError("cannot parse %r as a timestamp (use ISO 8601, e.g. 2030-01-31T02:00:00+00:00)" % (value,))
    year, month, day, hour, minute, second, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if tz is None:
        if not assume_utc:
            raise ValueError("timestamp %r has no timezone (add +00:00 or Z)" % (value,))
        tzinfo = datetime.timezone.utc
    elif tz == "Z":
        tzinfo = datetime.timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tzinfo = datetime.timezone(sign * offset)
    return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                             micro, tzinfo)


def parse_now(now):
    """The ``now`` option: ISO text (UTC when no timezone) or None for the machine's clock."""
    if now is None or now == "":
        return utcnow()
    try:
        return parse_timestamp(now)
    except ValueError as err:
        raise ManifestError("now", str(err), "write e.g. 2030-01-31T02:00:00+00:00") from err


def format_timestamp(value):
    return value.astimezone(datetime.timezone.utc).isoformat() if value is not None else None


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _int_or_none(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "on", "yes", "1", "y")


# =============================================================================================
# Typed results
# =============================================================================================
class Member(object):
    """One member, merged from ``GET /cluster`` (DCS) and its own ``GET /patroni`` (live).

    ``role`` uses the ``/cluster`` words (``leader``, ``replica``, ``sync_standby``,
    ``quorum_standby``, ``standby_leader``), derived from the live answer when there is one.
    ``lag``/``replay_lag`` are bytes behind the leader's current WAL position (received / replayed);
    ``None`` means unknown, which the lag gate treats as infinitely far behind.
    """

    FIELDS = ("name", "role", "state", "api_url", "host", "port", "timeline", "lag", "replay_lag",
              "tags", "pending_restart", "pending_restart_reason", "scheduled_restart",
              "postmaster_start_time", "server_version", "reachable", "live_role", "dcs_role",
              "dcs_state", "sync_standby", "wal_position", "replayed_position", "error")

    def __init__(self, **kwargs):
        for field in self.FIELDS:
            setattr(self, field, kwargs.get(field))
        self.tags = self.tags or {}
        self.pending_restart = bool(self.pending_restart)
        self.pending_restart_reason = self.pending_restart_reason or {}

    @property
    def is_leader(self):
        return self.role in LEADER_ROLES

    @property
    def nofailover(self):
        return _truthy(self.tags.get("nofailover", False))

    @property
    def healthy(self):
        return self.state in HEALTHY_STATES and self.reachable is not False

    @property
    def gate_lag(self):
        """The lag the gate compares: the larger of received and replayed lag, None if unknown."""
        known = [v for v in (self.lag, self.replay_lag) if v is not None]
        if self.is_leader:
            return 0
        if self.lag is None:
            return None
        return max(known)

    def started_at(self):
        try:
            return parse_timestamp(self.postmaster_start_time)
        except ValueError:
            return None

    def to_dict(self):
        out = dict((f, getattr(self, f)) for f in self.FIELDS)
        out["nofailover"] = self.nofailover
        return out


class ClusterState(object):
    """The whole cluster as one value; built by ``parse_cluster``."""

    def __init__(self, scope, members, paused=False, scheduled_switchover=None, config=None):
        self.scope = scope
        self.members = sorted(members, key=lambda m: m.name)
        self.paused = bool(paused)
        self.scheduled_switchover = scheduled_switchover or None
        self.config = config or {}

    def member(self, name):
        for m in self.members:
            if m.name == name:
                return m
        return None

    @property
    def names(self):
        return [m.name for m in self.members]

    @property
    def leader(self):
        """Name of the leader: the member whose own API says primary; else the DCS leader key."""
        live = [m.name for m in self.members if m.live_role in ("primary", "master", "standby_leader")
                and m.reachable]
        if len(live) == 1:
            return live[0]
        dcs = [m.name for m in self.members if m.dcs_role in LEADER_ROLES]
        return dcs[0] if len(dcs) == 1 else None

    @property
    def leader_member(self):
        return self.member(self.leader) if self.leader else None

    @property
    def replicas(self):
        leader = self.leader
        return [m for m in self.members if m.name != leader]

    @property
    def sync_standbys(self):
        return [m.name for m in self.members if m.role == "sync_standby" or m.sync_standby]

    @property
    def synchronous_mode(self):
        value = self.config.get("synchronous_mode")
        if str(value).lower() == "quorum":
            return "quorum"
        return _truthy(value) if value is not None else False

    @property
    def timeline(self):
        leader = self.leader_member
        return leader.timeline if leader else None

    @property
    def max_lag_on_failover(self):
        value = _int_or_none(self.config.get("maximum_lag_on_failover"))
        return DEFAULT_MAX_LAG if value is None else value

    @property
    def loop_wait(self):
        value = _int_or_none(self.config.get("loop_wait"))
        return 10 if value is None else value

    def pending_restart_members(self):
        return [m.name for m in self.members if m.pending_restart]

    def to_dict(self):
        return {
            "scope": self.scope,
            "leader": self.leader,
            "members": [m.to_dict() for m in self.members],
            "sync_standbys": self.sync_standbys,
            "synchronous_mode": self.synchronous_mode,
            "timeline": self.timeline,
            "paused": self.paused,
            "scheduled_switchover": self.scheduled_switchover,
            "pending_restart": self.pending_restart_members(),
            "scheduled_restarts": dict((m.name, m.scheduled_restart) for m in self.members if m.scheduled_restart),
            "config": self.config,
        }


def api_base(api_url):
    """``http://h:8008/patroni`` (as members register it) -> ``http://h:8008``."""
    if not api_url:
        return api_url
    url = api_url.rstrip("/")
    if url.endswith("/patroni"):
        url = url[: -len("/patroni")]
    return url


def _live_role(status):
    role = (status or {}).get("role")
    return "master" if role == "master" else role


def parse_cluster(cluster, statuses=None, config=None):
    """Build a ``ClusterState`` from ``GET /cluster`` plus optional ``{name: GET /patroni answer}``.

    A status of ``None`` for a member means its own API did not answer (``reachable: False``); a
    member absent from ``statuses`` was not asked (``reachable: None``). Lag is measured against the
    leader's live WAL position when both answers are there, else taken from ``/cluster``.
    """
    statuses = statuses or {}
    cluster = cluster or {}
    raw_members = cluster.get("members") or []
    leader_location = None
    for status in statuses.values():
        if status and _live_role(status) in ("primary", "master", "standby_leader"):
            leader_location = (status.get("xlog") or {}).get("location")
    members = []
    for raw in raw_members:
        name = raw.get("name")
        status = statuses.get(name)
        asked = name in statuses
        dcs_role = raw.get("role")
        m = Member(name=name, api_url=api_base(raw.get("api_url")), host=raw.get("host"), port=raw.get("port"),
                   dcs_role=dcs_role, dcs_state=raw.get("state"), tags=raw.get("tags") or {},
                   timeline=raw.get("timeline"), pending_restart=raw.get("pending_restart"),
                   pending_restart_reason=raw.get("pending_restart_reason"),
                   scheduled_restart=raw.get("scheduled_restart"),
                   reachable=(status is not None) if asked else None)
        if status:
            live = _live_role(status)
            xlog = status.get("xlog") or {}
            m.live_role = live
            m.server_version = status.get("server_version")
            m.postmaster_start_time = status.get("postmaster_start_time")
            m.timeline = status.get("timeline", m.timeline)
            m.pending_restart = bool(status.get("pending_restart"))
            m.pending_restart_reason = status.get("pending_restart_reason") or {}
            m.scheduled_restart = status.get("scheduled_restart")
            m.tags = status.get("tags") or {}  # live answer wins: Patroni omits tags that are all false
            m.sync_standby = bool(status.get("sync_standby"))
            state = status.get("state")
            if live in ("primary", "master"):
                m.role = "leader"
                m.lag = m.replay_lag = 0
                m.wal_position = xlog.get("location")
            elif live == "standby_leader":
                m.role = "standby_leader"
                m.lag = m.replay_lag = 0
            else:
                m.role = "sync_standby" if m.sync_standby else (
                    "quorum_standby" if status.get("quorum_standby") else (live or dcs_role))
                received = xlog.get("received_location")
                replayed = xlog.get("replayed_location")
                m.wal_position = max(v for v in (received, replayed, 0) if v is not None)
                m.replayed_position = replayed
                if leader_location is not None and (received is not None or replayed is not None):
                    m.lag = max(0, leader_location - m.wal_position)
                    m.replay_lag = max(0, leader_location - (replayed if replayed is not None else m.wal_position))
                if state == "running" and status.get("replication_state"):
                    state = status["replication_state"]
            m.state = state
        else:
            m.role = dcs_role
            m.state = raw.get("state")
            if asked:
                m.error = "REST API does not answer"
            if m.role not in LEADER_ROLES:
                m.lag = _int_or_none(raw.get("lag"))
                m.replay_lag = _int_or_none(raw.get("replay_lag"))
                if m.lag is not None and m.replay_lag is None:
                    m.replay_lag = m.lag
            else:
                m.lag = m.replay_lag = 0
            m.sync_standby = dcs_role == "sync_standby"
        if m.lag is None and m.role in LEADER_ROLES:
            m.lag = m.replay_lag = 0
        members.append(m)
    if leader_location is None:
        # No live leader (failover): measure every answering member against the most advanced one.
        positions = [m.wal_position for m in members if m.reachable and m.wal_position is not None]
        if positions:
            top = max(positions)
            for m in members:
                if m.reachable and m.wal_position is not None:
                    m.lag = top - m.wal_position
                    replayed = m.replayed_position if m.replayed_position is not None else m.wal_position
                    m.replay_lag = top - replayed
    return ClusterState(cluster.get("scope"), members, paused=cluster.get("pause"),
                        scheduled_switchover=cluster.get("scheduled_switchover"), config=config)


# =============================================================================================
# Pure: member checks, candidate choice, lag gate
# =============================================================================================
# Problem codes that can clear up by themselves (worth waiting for) vs. permanent refusals.
TRANSIENT = ("unreachable", "state", "timeline", "lag", "lag_unknown", "not_sync", "no_leader")


def member_problems(state, member, max_lag=None, purpose="switchover"):
    """Why ``member`` cannot take over as primary now: list of ``(code, text)``; empty = eligible.

    ``purpose`` is ``switchover`` (sync standby required in synchronous mode, same timeline as
    the leader) or ``failover`` (no leader to compare with; sync rule still applies).
    """
    problems = []
    if member.is_leader and purpose == "switchover":
        return [("leader", "is the current leader")]
    if member.nofailover:
        problems.append(("nofailover", "carries the nofailover tag"))
    if member.reachable is False:
        problems.append(("unreachable", "does not answer on its REST API at %s" % member.api_url))
    elif member.state not in HEALTHY_STATES:
        problems.append(("state", "is %s (needs running or streaming)" % (member.state or "in an unknown state")))
    leader = state.leader_member
    if purpose == "switchover" and leader is not None and leader.timeline is not None \
            and member.timeline is not None and member.timeline != leader.timeline and member.reachable is not False:
        problems.append(("timeline", "is on timeline %s, the leader on %s" % (member.timeline, leader.timeline)))
    if max_lag is None or max_lag >= 0:
        limit = state.max_lag_on_failover if max_lag is None else max_lag
        lag = member.gate_lag
        if lag is None:
            problems.append(("lag_unknown", "has an unknown replication lag"))
        elif lag > limit:
            problems.append(("lag", "lags %d bytes behind the leader (limit %d)" % (lag, limit)))
    if state.synchronous_mode is True and member.name not in state.sync_standbys:
        problems.append(("not_sync", "is not a synchronous standby (synchronous_mode is on; sync standbys: %s)"
                         % (", ".join(state.sync_standbys) or "none")))
    return problems


def evaluate_candidates(state, max_lag=None, purpose="switchover"):
    """``{name: [(code, text), ...]}`` for every member but the leader."""
    leader = state.leader
    return dict((m.name, member_problems(state, m, max_lag, purpose)) for m in state.members
                if purpose == "failover" or m.name != leader)


def rank_candidates(state, max_lag=None, purpose="switchover"):
    """Eligible members, best first: sync standbys first, then lowest lag, then name."""
    evaluated = evaluate_candidates(state, max_lag, purpose)
    sync = set(state.sync_standbys)
    eligible = [state.member(n) for n, probs in evaluated.items() if not probs]

    def key(m):
        lag = m.gate_lag
        return (0 if m.name in sync else 1, float("inf") if lag is None else lag, m.name)

    return sorted(eligible, key=key), evaluated


def _texts(problems):
    return [text for code, text in problems]


def _codes(problems):
    return [code for code, text in problems]


def explain(evaluated):
    """``member: reason; reason`` for every refused member (one line for an error message)."""
    parts = []
    for name in sorted(evaluated):
        probs = evaluated[name]
        if probs:
            parts.append("%s %s" % (name, " and ".join(_texts(probs))))
    return "; ".join(parts)


class NoCandidate(PatroniError):
    """No member qualifies (``context['candidates']`` says why, per member)."""

    def __init__(self, msg, transient, **context):
        super(NoCandidate, self).__init__(msg, **context)
        self.transient = transient


def choose_candidate(state, candidate=None, max_lag=None, purpose="switchover"):
    """The member to promote. Raises ``NoCandidate`` with one sentence naming every reason.

    Named ``candidate``: it must be a member and pass ``member_problems``. Otherwise the best of
    ``rank_candidates``. A one-member cluster never qualifies
    (docs/design/patroni.md, "Switchover candidate choice").
    """
    reasons = dict((n, _texts(p)) for n, p in evaluate_candidates(state, max_lag, purpose).items())
    if len(state.members) < 2:
        raise NoCandidate("cluster %s has only one member (%s); a switchover needs a replica to take over" % (
            state.scope, ", ".join(state.names) or "none"), False, candidates=reasons, members=state.names)
    if candidate is not None:
        member = state.member(candidate)
        if member is None:
            raise NoCandidate("candidate %s is not a member of cluster %s (members: %s)" % (
                candidate, state.scope, ", ".join(state.names)), False, candidate=candidate,
                members=state.names, candidates=reasons)
        problems = member_problems(state, member, max_lag, purpose)
        if problems:
            transient = all(c in TRANSIENT for c in _codes(problems))
            raise NoCandidate("candidate %s cannot take over: it %s" % (
                candidate, " and ".join(_texts(problems))), transient, candidate=candidate,
                problems=_texts(problems), candidates=reasons)
        return member
    ranked, evaluated = rank_candidates(state, max_lag, purpose)
    if ranked:
        return ranked[0]
    transient = any(all(c in TRANSIENT for c in _codes(probs)) for probs in evaluated.values())
    raise NoCandidate("no member of cluster %s can take over: %s" % (state.scope, explain(evaluated) or "no replicas"),
                      transient, candidates=reasons)


# =============================================================================================
# Pure: rolling restart plan
# =============================================================================================
def decrease_only(reasons):
    """True when every pending change is a decrease of one of ``DECREASE_FIRST_PARAMETERS``.

    ``reasons`` is a ``pending_restart_reason`` dict (``{param: {old_value, new_value}}``), usually
    the union over all members. Such changes must reach the primary first
    (docs/design/patroni.md, "Rolling restart order").
    """
    if not reasons:
        return False
    for name, change in reasons.items():
        if name.lower() not in DECREASE_FIRST_PARAMETERS:
            return False
        old = _int_or_none((change or {}).get("old_value"))
        new = _int_or_none((change or {}).get("new_value"))
        if old is None or new is None or new >= old:
            return False
    return True


def restarted_since(member, since):
    """True when the member's postmaster started at or after ``since`` (a datetime)."""
    if since is None:
        return False
    started = member.started_at()
    return started is not None and started >= since


def restart_plan(state, force=False, members=None, since=None, order="auto", switchover=True):
    """Which members to restart, in which order, and how. Pure.

    Returns ``{"order": "replicas_first"|"primary_first", "steps": [...], "skipped": [...]}``; a step
    is ``{"member", "role", "action": "restart"|"switchover", "reason"}``. A member is due when it
    has ``pending_restart`` or (``force``) has not been restarted since ``since``. Replicas go one
    at a time (by name), the primary last: ``switchover`` moves the leader away (Patroni restarts the
    demoted primary itself), otherwise it restarts in place. Decrease-only changes (or
    ``order="primary_first"``) restart the primary first, in place: a replica must never run with a
    lower value than its primary.
    """
    if members:
        unknown = sorted(set(members) - set(state.names))
        if unknown:
            raise PatroniError("members %s are not in cluster %s (members: %s)" % (
                ", ".join(unknown), state.scope, ", ".join(state.names)), members=state.names)
    leader = state.leader
    steps, skipped = [], []
    reasons = {}
    for m in state.members:
        if members and m.name not in members:
            continue
        if m.pending_restart:
            reason = "pending restart: %s" % (", ".join(sorted(m.pending_restart_reason)) or "yes")
            reasons.update(m.pending_restart_reason)
        elif force and not restarted_since(m, since):
            reason = "forced"
        else:
            why = "restarted since %s" % format_timestamp(since) if force and since else "no pending restart"
            skipped.append({"member": m.name, "reason": why})
            continue
        steps.append({"member": m.name, "role": "leader" if m.name == leader else (m.role or "replica"),
                      "action": "restart", "reason": reason})
    if order == "auto":
        order = "primary_first" if decrease_only(reasons) else "replicas_first"
    primary = [s for s in steps if s["member"] == leader]
    replicas = sorted((s for s in steps if s["member"] != leader), key=lambda s: s["member"])
    if primary:
        if order == "replicas_first" and switchover and len(state.members) > 1:
            primary[0]["action"] = "switchover"
        steps = primary + replicas if order == "primary_first" else replicas + primary
    else:
        steps = replicas
    return {"order": order, "steps": steps, "skipped": skipped, "leader": leader}
