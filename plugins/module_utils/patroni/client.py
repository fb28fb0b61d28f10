# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The one Patroni REST client of the collection, and the pure planning functions around it.

Layout of this file:

* ``patroni_argument_spec()`` / ``client_from_module()``: the options every ``patroni_*`` module
  shares (documented once in ``plugins/doc_fragments/patroni.py``).
* ``Member`` / ``ClusterState`` / ``parse_cluster()``: Patroni answers as typed results. The member
  list comes from ``GET /cluster`` (the DCS view); everything live (role, state, lag, pending restart,
  postmaster start time) is taken from each member's own ``GET /patroni`` when it answered, because
  ``/cluster`` can be ``loop_wait`` seconds stale.
* ``PatroniClient``: HTTP with timeouts, retries on connection errors only, basic auth and TLS
  options. Every call that targets one member re-reads ``GET /cluster`` first and uses the API URL
  the member registered there (members move; a remembered URL goes stale).
* Pure functions (no I/O, unit-tested with recorded answers): switchover candidate choice and the
  lag gate, rolling-restart planning, dynamic-configuration validation and diff, maintenance windows.

Nothing here talks to Ansible except ``client_from_module``; errors are ``PatroniError`` (one
sentence + context) or ``ManifestError`` (field + problem + fix), caught once in each module's main.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors, PatroniError, PgfleetError

DEFAULT_MAX_LAG = 1048576  # Patroni's own default for maximum_lag_on_failover
HEALTHY_STATES = ("running", "streaming", "in archive recovery")
LEADER_ROLES = ("leader", "standby_leader")
# Changes Patroni/PostgreSQL want applied on the primary before the replicas (SPEC 5.9): a replica
# must not run with a lower value than its primary.
DECREASE_FIRST_PARAMETERS = ("max_connections", "max_prepared_transactions", "max_locks_per_transaction",
                             "max_worker_processes", "max_wal_senders")


# =============================================================================================
# Module options
# =============================================================================================
def patroni_argument_spec():
    """The options of ``plugins/doc_fragments/patroni.py``; each module adds its own keys."""
    return dict(
        api_url=dict(type="str", required=True),
        api_username=dict(type="str"),
        api_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_cert=dict(type="path"),
        request_timeout=dict(type="float", default=5.0),
        request_retries=dict(type="int", default=3),
    )


def client_from_module(module):
    p = module.params
    return PatroniClient(p["api_url"], username=p.get("api_username"), password=p.get("api_password"),
                         validate_certs=p.get("validate_certs", True), ca_cert=p.get("ca_cert"),
                         timeout=p.get("request_timeout") or 5.0, retries=p.get("request_retries", 3))


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


def _api_base(api_url):
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
        m = Member(name=name, api_url=_api_base(raw.get("api_url")), host=raw.get("host"), port=raw.get("port"),
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
# HTTP client
# =============================================================================================
class Response(object):
    def __init__(self, status, text, url, method):
        self.status = status
        self.text = text
        self.url = url
        self.method = method

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def data(self):
        try:
            return json.loads(self.text)
        except (TypeError, ValueError):
            return None

    @property
    def answer(self):
        """Patroni's answer as people read it: the JSON, or the text stripped."""
        data = self.data
        if data is not None:
            return data
        text = (self.text or "").strip()
        if text.startswith("<"):
            m = re.search(r"<p>Message: ([^<]*)</p>", text)
            return m.group(1) if m else "HTTP %d" % self.status
        return text


class Unreachable(PatroniError):
    """No HTTP answer at all (connection refused, reset, timeout, TLS or DNS failure)."""


def _refused(err):
    """True when the request certainly never reached the server (safe to resend a POST)."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, ConnectionRefusedError):
        return True
    return isinstance(reason, OSError) and getattr(reason, "errno", None) in (111, 61, 10061)


class PatroniClient(object):
    """Talks to the REST API of one Patroni cluster.

    ``api_url`` is any one member; the list of members (and their own API URLs) is read from
    ``GET /cluster`` on every call that needs it, trying the configured URL first, then every
    member seen so far. Retries happen only after connection errors (never after an HTTP answer);
    a ``POST`` is resent only when the connection was refused, so it cannot run twice.
    """

    def __init__(self, api_url, username=None, password=None, validate_certs=True, ca_cert=None,
                 timeout=5.0, retries=3, retry_delay=0.5, opener=None, sleep=None, monotonic=None):
        if not api_url or not re.match(r"^https?://", api_url):
            raise PatroniError("api_url %r is not an http(s) URL; use e.g. http://10.0.0.5:8008" % (api_url,),
                               api_url=api_url)
        self.api_url = _api_base(api_url)
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.ca_cert = ca_cert
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.retry_delay = retry_delay
        self._open = opener or open_url
        self.sleep = sleep or time.sleep
        self.monotonic = monotonic or time.monotonic
        self.seeds = [self.api_url]
        self.members = {}  # name -> api base URL, refreshed by every GET /cluster
        self.requests = []  # (method, url, status) of every request, for tests and debugging

    # --- transport ----------------------------------------------------------------------------
    def _once(self, method, url, body, timeout):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        kwargs = dict(method=method, data=data, headers=headers, timeout=timeout, validate_certs=self.validate_certs,
                      use_proxy=False, follow_redirects="none")
        if self.ca_cert:
            kwargs["ca_path"] = self.ca_cert
        if self.username:
            kwargs.update(url_username=self.username, url_password=self.password or "", force_basic_auth=True)
        try:
            resp = self._open(url, **kwargs)
            text = resp.read()
            status = getattr(resp, "status", None) or resp.getcode()
        except HTTPError as err:
            try:
                text = err.read()
            except Exception:  # pylint: disable=broad-except
                text = b""  # the body of an error answer is optional
            status = err.code
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.requests.append((method, url, status))
        return Response(status, text, url, method)

    def request(self, method, url, body=None, timeout=None, retries=None):
        """One HTTP request with retries on connection errors. Returns ``Response`` (any status).

        Raises ``Unreachable`` when no answer came after the retries.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        idempotent = method in ("GET", "HEAD", "DELETE")
        attempt = 0
        while True:
            try:
                return self._once(method, url, body, timeout)
            except (URLError, socket.timeout, OSError, ValueError) as err:
                # ValueError: http.client raises it for some malformed answers; treat as no answer.
                reason = getattr(err, "reason", err)
                self.requests.append((method, url, None))
                if attempt >= retries or not (idempotent or _refused(err)):
                    raise Unreachable("%s %s got no answer: %s" % (method, url, reason), url=url, method=method,
                                      reason=str(reason)) from err
                attempt += 1
                self.sleep(self.retry_delay * attempt)

    # --- discovery ----------------------------------------------------------------------------
    def _seed_order(self):
        seen, out = set(), []
        for url in self.seeds + sorted(self.members.values()):
            if url and url not in seen:
                seen.add(url)
                out.append(url)
        return out

    def get_cluster(self):
        """``GET /cluster`` from the first member that answers; refreshes the member URLs."""
        problems = []
        for _attempt in range(self.retries + 1):
            for base in self._seed_order():
                try:
                    resp = self.request("GET", base + "/cluster", retries=0)
                except Unreachable as err:
                    problems.append(err.msg)
                    continue
                data = resp.data
                if resp.status == 200 and isinstance(data, dict) and "members" in data:
                    self.members = dict((m["name"], _api_base(m.get("api_url"))) for m in data["members"]
                                        if m.get("name") and m.get("api_url"))
                    if base != self.seeds[0]:
                        # remember who answered, but keep the configured URL as a fallback
                        self.seeds = [base] + [s for s in self.seeds if s != base]
                    return data
                problems.append("GET %s/cluster answered %s: %s" % (base, resp.status, resp.answer))
            self.sleep(self.retry_delay)
        raise PatroniError("no Patroni REST API answered GET /cluster (tried %s); check api_url and that "
                           "Patroni runs" % ", ".join(self._seed_order()), api_url=self.api_url,
                           problems=problems[-6:])

    def resolve(self, name):
        """The API base URL member ``name`` registered, read fresh from ``GET /cluster``."""
        cluster = self.get_cluster()
        for m in cluster.get("members") or []:
            if m.get("name") == name:
                if not m.get("api_url"):
                    raise PatroniError("member %s registered no REST API URL in the DCS" % name, member=name)
                return _api_base(m["api_url"])
        raise PatroniError("member %s is not in cluster %s (members: %s)" % (
            name, cluster.get("scope"), ", ".join(sorted(m.get("name") for m in cluster.get("members") or []))),
            member=name, members=sorted(m.get("name") for m in cluster.get("members") or []))

    # --- reads --------------------------------------------------------------------------------
    def member_status(self, name, url=None, timeout=None):
        """That member's own ``GET /patroni`` (dict), or ``None`` if its API gives no answer.

        The URL is re-resolved from ``GET /cluster`` unless given.
        """
        url = url or self.resolve(name)
        try:
            resp = self.request("GET", url + "/patroni", timeout=timeout, retries=0)
        except Unreachable:
            return None
        data = resp.data
        # /patroni answers 503 (with the same JSON) when Postgres is not running: still an answer
        return data if isinstance(data, dict) else None

    def get_config(self):
        for base in self._seed_order():
            try:
                resp = self.request("GET", base + "/config")
            except Unreachable:
                continue
            if resp.status == 200 and isinstance(resp.data, dict):
                return resp.data
        raise PatroniError("could not read the dynamic configuration (GET /config) from any member",
                           api_url=self.api_url)

    def read_state(self, details=True, with_config=True):
        """``ClusterState`` from ``GET /cluster``, every member's ``GET /patroni`` and ``GET /config``."""
        cluster = self.get_cluster()
        statuses = {}
        if details:
            for m in cluster.get("members") or []:
                if m.get("api_url"):
                    statuses[m["name"]] = self.member_status(m["name"], url=_api_base(m["api_url"]))
        config = self.get_config() if with_config else None
        return parse_cluster(cluster, statuses, config)

    # --- writes -------------------------------------------------------------------------------
    def _checked(self, resp, what, ok=(200,), **context):
        if resp.status in ok:
            return resp
        raise PatroniError("%s was refused by Patroni (HTTP %d): %s" % (what, resp.status, _short(resp.answer)),
                           status=resp.status, answer=resp.answer, url=resp.url, **context)

    def patch_config(self, patch):
        """``PATCH /config`` on the first member that answers; returns the merged configuration."""
        last = None
        for base in self._seed_order():
            try:
                resp = self.request("PATCH", base + "/config", body=patch)
            except Unreachable as err:
                last = err
                continue
            self._checked(resp, "PATCH /config", patch=patch)
            return resp.data if isinstance(resp.data, dict) else {}
        raise PatroniError("no member accepted PATCH /config: %s" % (last.msg if last else "no member known"),
                           patch=patch)

    def switchover(self, leader, candidate=None, scheduled_at=None, timeout=None):
        """``POST /switchover`` on the leader's own API. Returns the ``Response`` (caller checks)."""
        url = self.resolve(leader)
        body = {"leader": leader}
        if candidate:
            body["candidate"] = candidate
        if scheduled_at:
            body["scheduled_at"] = scheduled_at
        return self.request("POST", url + "/switchover", body=body, timeout=timeout)

    def failover(self, candidate, timeout=None):
        """``POST /failover`` (no leader named) on the candidate's own API."""
        url = self.resolve(candidate)
        return self.request("POST", url + "/failover", body={"candidate": candidate}, timeout=timeout)

    def restart(self, name, body=None, timeout=None):
        """``POST /restart`` on that member's own API. Returns the ``Response`` (caller checks)."""
        url = self.resolve(name)
        return self.request("POST", url + "/restart", body=body or {}, timeout=timeout)

    def cancel_scheduled_switchover(self):
        for base in self._seed_order():
            try:
                return self.request("DELETE", base + "/switchover")
            except Unreachable:
                continue
        raise PatroniError("no member answered DELETE /switchover")

    # --- waiting ------------------------------------------------------------------------------
    def wait_member(self, name, check, timeout, interval=0.25, what="ready"):
        """Poll ``name``'s own ``GET /patroni`` until ``check(status)`` is true; return that status.

        ``check`` gets the answer (``None`` when the API did not answer). On timeout raises
        ``PatroniError`` naming the member, what was awaited and the last answer seen.
        """
        deadline = self.monotonic() + timeout
        last = None
        while True:
            try:
                url = self.resolve(name)
            except PatroniError as err:
                url, last = None, {"error": err.msg}
            if url:
                status = self.member_status(name, url=url, timeout=min(self.timeout, max(1.0, timeout)))
                last = status if status is not None else {"error": "REST API at %s does not answer" % url}
                if check(status):
                    return status
            if self.monotonic() >= deadline:
                raise PatroniError("member %s did not become %s within %ss; last answer: %s" % (
                    name, what, _fmt_seconds(timeout), _short(_summary(last))), member=name, last_answer=last)
            self.sleep(interval)


def _fmt_seconds(value):
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def _summary(status):
    if not isinstance(status, dict):
        return status
    keys = ("error", "role", "state", "replication_state", "timeline", "pending_restart", "postmaster_start_time")
    return dict((k, status[k]) for k in keys if k in status)


def _short(answer, limit=300):
    text = answer if isinstance(answer, str) else json.dumps(answer, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# =============================================================================================
# Pure: member checks, candidate choice, lag gate
# =============================================================================================
# Problem codes that can clear up by themselves (worth waiting for) vs. permanent refusals.
TRANSIENT = ("unreachable", "state", "timeline", "lag", "lag_unknown", "not_sync", "no_leader")


def lag_ok(member, max_lag):
    """The lag gate: ``member.gate_lag`` known and ``<= max_lag`` (``max_lag < 0`` disables it)."""
    if max_lag is not None and max_lag < 0:
        return True
    lag = member.gate_lag
    return lag is not None and lag <= (DEFAULT_MAX_LAG if max_lag is None else max_lag)


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
    ``rank_candidates``. A one-member cluster never qualifies (BEYOND #20).
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
    the union over all members. Such changes must reach the primary first (SPEC 5.9).
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


# =============================================================================================
# Pure: maintenance windows (BEYOND #14)
# =============================================================================================
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_RE = re.compile(r"^(?:(mon|tue|wed|thu|fri|sat|sun)[a-z]*:)?(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$", re.I)


def parse_windows(windows):
    """Maintenance windows -> ``[(weekday or None, start_minute, end_minute)]``.

    Accepts the manifest strings (``"01:00-06:00"``, ``"Sat:22:00-02:00"``) and the model's dicts
    (``{"weekday": 0-6 or None (Mon=0), "start": "HH:MM", "end": "HH:MM"}``). A window whose end
    is not after its start crosses midnight (its weekday is the day it starts).
    """
    out = []
    for i, w in enumerate(windows or []):
        field = "maintenance_windows[%d]" % i
        if isinstance(w, dict):
            weekday = w.get("weekday")
            if isinstance(weekday, str):
                weekday = WEEKDAYS.index(weekday[:3].lower()) if weekday[:3].lower() in WEEKDAYS else -1
            if weekday is not None and weekday not in range(7):
                raise ManifestError(field, "weekday %r is not 0-6 (Monday=0) or a day name" % (w.get("weekday"),),
                                    "use e.g. 5 or \"Sat\"")
            text = "%s-%s" % (w.get("start"), w.get("end"))
        else:
            weekday, text = None, str(w).strip()
        m = _WINDOW_RE.match(text if isinstance(w, dict) else text)
        if not m:
            raise ManifestError(field, "%r is not a window" % (w,), "write \"HH:MM-HH:MM\" or \"Sat:HH:MM-HH:MM\"")
        day, h1, m1, h2, m2 = m.groups()
        if day:
            weekday = WEEKDAYS.index(day[:3].lower())
        h1, m1, h2, m2 = int(h1), int(m1), int(h2), int(m2)
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ManifestError(field, "%r has an impossible time" % (w,), "hours 00-23, minutes 00-59")
        out.append((weekday, h1 * 60 + m1, h2 * 60 + m2))
    return out


def _window_spans(window, day):
    """``[(start, end)]`` datetimes of ``window`` occurrences that start on ``day`` (a date)."""
    weekday, start, end = window
    if weekday is not None and day.weekday() != weekday:
        return []
    base = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    begin = base + datetime.timedelta(minutes=start)
    finish = base + datetime.timedelta(minutes=end if end > start else end + 1440)
    return [(begin, finish)]


def in_window(windows, now):
    """True when ``now`` (aware datetime) is inside a window; no windows means always."""
    parsed = parse_windows(windows)
    if not parsed:
        return True
    now = now.astimezone(datetime.timezone.utc)
    for w in parsed:
        for offset in (-1, 0):
            for begin, finish in _window_spans(w, (now + datetime.timedelta(days=offset)).date()):
                if begin <= now < finish:
                    return True
    return False


def next_window_start(windows, now):
    """The start of the next window after ``now`` (``now`` itself if inside one); ``None`` if no windows."""
    parsed = parse_windows(windows)
    if not parsed:
        return None
    now = now.astimezone(datetime.timezone.utc)
    if in_window(windows, now):
        return now
    best = None
    for w in parsed:
        for offset in range(0, 8):
            for begin, _end in _window_spans(w, (now + datetime.timedelta(days=offset)).date()):
                if begin > now and (best is None or begin < best):
                    best = begin
    return best


# =============================================================================================
# Pure: dynamic configuration validation and diff
# =============================================================================================
# PostgreSQL 15 parameters from pg_settings: name, context (P=restart, I=read-only, else reload:
# H=sighup, S=superuser, U=user, B=backend), type (b/e/i/r/s), unit, range (min:max) or enum values.
_PG15_GUCS = """
DateStyle U s - -
IntervalStyle U e - postgres|postgres_verbose|sql_standard|iso_8601
TimeZone U s - -
allow_in_place_tablespaces S b - -
allow_system_table_mods S b - -
application_name U s - -
archive_cleanup_command H s - -
archive_command H s - -
archive_library H s - -
archive_mode P e - always|on|off
archive_timeout H i s 0:1073741823
array_nulls U b - -
authentication_timeout H i s 1:600
autovacuum H b - -
autovacuum_analyze_scale_factor H r - 0:100
autovacuum_analyze_threshold H i - 0:2147483647
autovacuum_freeze_max_age P i - 100000:2000000000
autovacuum_max_workers P i - 1:262143
autovacuum_multixact_freeze_max_age P i - 10000:2000000000
autovacuum_naptime H i s 1:2147483
autovacuum_vacuum_cost_delay H r ms -1:100
autovacuum_vacuum_cost_limit H i - -1:10000
autovacuum_vacuum_insert_scale_factor H r - 0:100
autovacuum_vacuum_insert_threshold H i - -1:2147483647
autovacuum_vacuum_scale_factor H r - 0:100
autovacuum_vacuum_threshold H i - 0:2147483647
autovacuum_work_mem H i kB -1:2147483647
backend_flush_after U i 8kB 0:256
backslash_quote U e - safe_encoding|on|off
backtrace_functions S s - -
bgwriter_delay H i ms 10:10000
bgwriter_flush_after H i 8kB 0:256
bgwriter_lru_maxpages H i - 0:1073741823
bgwriter_lru_multiplier H r - 0:10
block_size I i - 8192:8192
bonjour P b - -
bonjour_name P s - -
bytea_output U e - escape|hex
check_function_bodies U b - -
checkpoint_completion_target H r - 0:1
checkpoint_flush_after H i 8kB 0:256
checkpoint_timeout H i s 30:86400
checkpoint_warning H i s 0:2147483647
client_connection_check_interval U i ms 0:2147483647
client_encoding U s - -
client_min_messages U e - debug5|debug4|debug3|debug2|debug1|log|notice|warning|error
cluster_name P s - -
commit_delay S i - 0:100000
commit_siblings U i - 0:1000
compute_query_id U e - auto|regress|on|off
config_file P s - -
constraint_exclusion U e - partition|on|off
cpu_index_tuple_cost U r - 0:1.79769e+308
cpu_operator_cost U r - 0:1.79769e+308
cpu_tuple_cost U r - 0:1.79769e+308
cursor_tuple_fraction U r - 0:1
data_checksums I b - -
data_directory P s - -
data_directory_mode I i - 0:511
data_sync_retry P b - -
db_user_namespace H b - -
deadlock_timeout S i ms 1:2147483647
debug_assertions I b - -
debug_discard_caches S i - 0:0
debug_pretty_print U b - -
debug_print_parse U b - -
debug_print_plan U b - -
debug_print_rewritten U b - -
default_statistics_target U i - 1:10000
default_table_access_method U s - -
default_tablespace U s - -
default_text_search_config U s - -
default_toast_compression U e - pglz|lz4
default_transaction_deferrable U b - -
default_transaction_isolation U e - serializable|repeatable read|read committed|read uncommitted
default_transaction_read_only U b - -
dynamic_library_path S s - -
dynamic_shared_memory_type P e - posix|sysv|mmap
effective_cache_size U i 8kB 1:2147483647
effective_io_concurrency U i - 0:1000
enable_async_append U b - -
enable_bitmapscan U b - -
enable_gathermerge U b - -
enable_group_by_reordering U b - -
enable_hashagg U b - -
enable_hashjoin U b - -
enable_incremental_sort U b - -
enable_indexonlyscan U b - -
enable_indexscan U b - -
enable_material U b - -
enable_memoize U b - -
enable_mergejoin U b - -
enable_nestloop U b - -
enable_parallel_append U b - -
enable_parallel_hash U b - -
enable_partition_pruning U b - -
enable_partitionwise_aggregate U b - -
enable_partitionwise_join U b - -
enable_seqscan U b - -
enable_sort U b - -
enable_tidscan U b - -
escape_string_warning U b - -
event_source P s - -
exit_on_error U b - -
extension_destdir S s - -
external_pid_file P s - -
extra_float_digits U i - -15:3
force_parallel_mode U e - off|on|regress
from_collapse_limit U i - 1:2147483647
fsync H b - -
full_page_writes H b - -
geqo U b - -
geqo_effort U i - 1:10
geqo_generations U i - 0:2147483647
geqo_pool_size U i - 0:2147483647
geqo_seed U r - 0:1
geqo_selection_bias U r - 1.5:2
geqo_threshold U i - 2:2147483647
gin_fuzzy_search_limit U i - 0:2147483647
gin_pending_list_limit U i kB 64:2147483647
hash_mem_multiplier U r - 1:1000
hba_file P s - -
hot_standby P b - -
hot_standby_feedback H b - -
huge_page_size P i kB 0:2147483647
huge_pages P e - off|on|try
idle_in_transaction_session_timeout U i ms 0:2147483647
idle_session_timeout U i ms 0:2147483647
ident_file P s - -
ignore_checksum_failure S b - -
ignore_invalid_pages P b - -
ignore_system_indexes B b - -
in_hot_standby I b - -
integer_datetimes I b - -
jit U b - -
jit_above_cost U r - -1:1.79769e+308
jit_debugging_support B b - -
jit_dump_bitcode S b - -
jit_expressions U b - -
jit_inline_above_cost U r - -1:1.79769e+308
jit_optimize_above_cost U r - -1:1.79769e+308
jit_profiling_support B b - -
jit_provider P s - -
jit_tuple_deforming U b - -
join_collapse_limit U i - 1:2147483647
krb_caseins_users H b - -
krb_server_keyfile H s - -
lc_collate I s - -
lc_ctype I s - -
lc_messages S s - -
lc_monetary U s - -
lc_numeric U s - -
lc_time U s - -
listen_addresses P s - -
lo_compat_privileges S b - -
local_preload_libraries U s - -
lock_timeout U i ms 0:2147483647
log_autovacuum_min_duration H i ms -1:2147483647
log_checkpoints H b - -
log_connections B b - -
log_destination H s - -
log_directory H s - -
log_disconnections B b - -
log_duration S b - -
log_error_verbosity S e - terse|default|verbose
log_executor_stats S b - -
log_file_mode H i - 0:511
log_filename H s - -
log_hostname H b - -
log_line_prefix H s - -
log_lock_waits S b - -
log_min_duration_sample S i ms -1:2147483647
log_min_duration_statement S i ms -1:2147483647
log_min_error_statement S e - debug5|debug4|debug3|debug2|debug1|info|notice|warning|error|log|fatal|panic
log_min_messages S e - debug5|debug4|debug3|debug2|debug1|info|notice|warning|error|log|fatal|panic
log_parameter_max_length S i B -1:1073741823
log_parameter_max_length_on_error U i B -1:1073741823
log_parser_stats S b - -
log_planner_stats S b - -
log_recovery_conflict_waits H b - -
log_replication_commands S b - -
log_rotation_age H i min 0:35791394
log_rotation_size H i kB 0:2097151
log_startup_progress_interval H i ms 0:2147483647
log_statement S e - none|ddl|mod|all
log_statement_sample_rate S r - 0:1
log_statement_stats S b - -
log_temp_files S i kB -1:2147483647
log_timezone H s - -
log_transaction_sample_rate S r - 0:1
log_truncate_on_rotation H b - -
logging_collector P b - -
logical_decoding_work_mem U i kB 64:2147483647
maintenance_io_concurrency U i - 0:1000
maintenance_work_mem U i kB 1024:2147483647
max_connections P i - 1:262143
max_files_per_process P i - 64:2147483647
max_function_args I i - 100:100
max_identifier_length I i - 63:63
max_index_keys I i - 32:32
max_locks_per_transaction P i - 10:2147483647
max_logical_replication_workers P i - 0:262143
max_parallel_maintenance_workers U i - 0:1024
max_parallel_workers U i - 0:1024
max_parallel_workers_per_gather U i - 0:1024
max_pred_locks_per_page H i - 0:2147483647
max_pred_locks_per_relation H i - -2147483648:2147483647
max_pred_locks_per_transaction P i - 10:2147483647
max_prepared_transactions P i - 0:262143
max_replication_slots P i - 0:262143
max_slot_wal_keep_size H i MB -1:2147483647
max_stack_depth S i kB 100:2147483647
max_standby_archive_delay H i ms -1:2147483647
max_standby_streaming_delay H i ms -1:2147483647
max_sync_workers_per_subscription H i - 0:262143
max_wal_senders P i - 0:262143
max_wal_size H i MB 2:2147483647
max_worker_processes P i - 0:262143
min_dynamic_shared_memory P i MB 0:2147483647
min_parallel_index_scan_size U i 8kB 0:715827882
min_parallel_table_scan_size U i 8kB 0:715827882
min_wal_size H i MB 2:2147483647
old_snapshot_threshold P i min -1:86400
parallel_leader_participation U b - -
parallel_setup_cost U r - 0:1.79769e+308
parallel_tuple_cost U r - 0:1.79769e+308
password_encryption U e - md5|scram-sha-256
plan_cache_mode U e - auto|force_generic_plan|force_custom_plan
port P i - 1:65535
post_auth_delay B i s 0:2147
pre_auth_delay H i s 0:60
primary_conninfo H s - -
primary_slot_name H s - -
promote_trigger_file H s - -
quote_all_identifiers U b - -
random_page_cost U r - 0:1.79769e+308
recovery_end_command H s - -
recovery_init_sync_method P e - fsync|syncfs
recovery_min_apply_delay H i ms 0:2147483647
recovery_prefetch H e - off|on|try
recovery_target P s - -
recovery_target_action P e - pause|promote|shutdown
recovery_target_inclusive P b - -
recovery_target_lsn P s - -
recovery_target_name P s - -
recovery_target_time P s - -
recovery_target_timeline P s - -
recovery_target_xid P s - -
recursive_worktable_factor U r - 0.001:1e+06
remove_temp_files_after_crash S b - -
restart_after_crash H b - -
restore_command H s - -
row_security U b - -
search_path U s - -
segment_size I i 8kB 131072:131072
seq_page_cost U r - 0:1.79769e+308
server_encoding I s - -
server_version I s - -
server_version_num I i - 150018:150018
session_preload_libraries S s - -
session_replication_role S e - origin|replica|local
shared_buffers P i 8kB 16:1073741823
shared_memory_size I i MB 0:2147483647
shared_memory_size_in_huge_pages I i - -1:2147483647
shared_memory_type P e - sysv|mmap
shared_preload_libraries P s - -
ssl H b - -
ssl_ca_file H s - -
ssl_cert_file H s - -
ssl_ciphers H s - -
ssl_crl_dir H s - -
ssl_crl_file H s - -
ssl_dh_params_file H s - -
ssl_ecdh_curve H s - -
ssl_key_file H s - -
ssl_library I s - -
ssl_max_protocol_version H e - |TLSv1|TLSv1.1|TLSv1.2|TLSv1.3
ssl_min_protocol_version H e - TLSv1|TLSv1.1|TLSv1.2|TLSv1.3
ssl_passphrase_command H s - -
ssl_passphrase_command_supports_reload H b - -
ssl_prefer_server_ciphers H b - -
standard_conforming_strings U b - -
statement_timeout U i ms 0:2147483647
stats_fetch_consistency U e - none|cache|snapshot
superuser_reserved_connections P i - 0:262143
synchronize_seqscans U b - -
synchronous_commit U e - local|remote_write|remote_apply|on|off
synchronous_standby_names H s - -
syslog_facility H e - local0|local1|local2|local3|local4|local5|local6|local7
syslog_ident H s - -
syslog_sequence_numbers H b - -
syslog_split_messages H b - -
tcp_keepalives_count U i - 0:2147483647
tcp_keepalives_idle U i s 0:2147483647
tcp_keepalives_interval U i s 0:2147483647
tcp_user_timeout U i ms 0:2147483647
temp_buffers U i 8kB 100:1073741823
temp_file_limit S i kB -1:2147483647
temp_tablespaces U s - -
timezone_abbreviations U s - -
trace_notify U b - -
trace_recovery_messages H e - debug5|debug4|debug3|debug2|debug1|log|notice|warning|error
trace_sort U b - -
track_activities S b - -
track_activity_query_size P i B 100:1048576
track_commit_timestamp P b - -
track_counts S b - -
track_functions S e - none|pl|all
track_io_timing S b - -
track_wal_io_timing S b - -
transaction_deferrable U b - -
transaction_isolation U e - serializable|repeatable read|read committed|read uncommitted
transaction_read_only U b - -
transform_null_equals U b - -
unix_socket_directories P s - -
unix_socket_group P s - -
unix_socket_permissions P i - 0:511
update_process_title S b - -
vacuum_cost_delay U r ms 0:100
vacuum_cost_limit U i - 1:10000
vacuum_cost_page_dirty U i - 0:10000
vacuum_cost_page_hit U i - 0:10000
vacuum_cost_page_miss U i - 0:10000
vacuum_defer_cleanup_age H i - 0:1000000
vacuum_failsafe_age U i - 0:2100000000
vacuum_freeze_min_age U i - 0:1000000000
vacuum_freeze_table_age U i - 0:2000000000
vacuum_multixact_failsafe_age U i - 0:2100000000
vacuum_multixact_freeze_min_age U i - 0:1000000000
vacuum_multixact_freeze_table_age U i - 0:2000000000
wal_block_size I i - 8192:8192
wal_buffers P i 8kB -1:262143
wal_compression S e - pglz|lz4|zstd|on|off
wal_consistency_checking S s - -
wal_decode_buffer_size P i B 65536:1073741823
wal_init_zero S b - -
wal_keep_size H i MB 0:2147483647
wal_level P e - minimal|replica|logical
wal_log_hints P b - -
wal_receiver_create_temp_slot H b - -
wal_receiver_status_interval H i s 0:2147483
wal_receiver_timeout H i ms 0:2147483647
wal_recycle S b - -
wal_retrieve_retry_interval H i ms 1:2147483647
wal_segment_size I i B 1048576:1073741824
wal_sender_timeout U i ms 0:2147483647
wal_skip_threshold U i kB 0:2147483647
wal_sync_method H e - fsync|fdatasync|open_sync|open_datasync
wal_writer_delay H i ms 1:10000
wal_writer_flush_after H i 8kB 0:2147483647
work_mem U i kB 64:2147483647
xmlbinary U e - base64|hex
xmloption U e - content|document
zero_damaged_pages S b - -
"""


def _load_gucs():
    table = {}
    for line in _PG15_GUCS.strip().splitlines():
        name, context, vartype, unit, spec = line.split(" ", 4)
        entry = {"context": context, "type": vartype, "unit": None if unit == "-" else unit}
        if vartype in ("i", "r") and spec != "-":
            low, high = spec.split(":")
            entry["min"], entry["max"] = float(low), float(high)
        elif vartype == "e":
            entry["values"] = spec.split("|")
        table[name.lower()] = entry
    return table


PG_PARAMETERS = _load_gucs()

_MEMORY_UNITS = {"B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60000.0, "h": 3600000.0, "d": 86400000.0}
_BASE_UNITS = {"B": ("mem", 1), "kB": ("mem", 1024), "8kB": ("mem", 8192), "MB": ("mem", 1024 ** 2),
               "ms": ("time", 1.0), "s": ("time", 1000.0), "min": ("time", 60000.0)}
_BOOL_WORDS = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False,
               "1": True, "0": False}
# Patroni passes these on the command line and silently replaces values it does not like with its
# default (FACTS: PATCH does not validate), so we check them ourselves.
_PATRONI_MINIMUMS = {"max_connections": 25, "max_wal_senders": 3, "max_locks_per_transaction": 32,
                     "max_replication_slots": 4, "max_worker_processes": 2, "max_prepared_transactions": 0}
# Set per member by Patroni or the local configuration; a value in the dynamic config is ignored.
_LOCAL_ONLY = {
    "listen_addresses": "postgresql.listen in each member's patroni.yml",
    "port": "postgresql.listen / connect_address in each member's patroni.yml",
    "cluster_name": "the Patroni scope",
    "data_directory": "postgresql.data_dir in each member's patroni.yml",
    "config_file": "postgresql.config_dir in each member's patroni.yml",
    "hba_file": "postgresql.pg_hba in the dynamic configuration",
    "ident_file": "postgresql.pg_ident in the dynamic configuration",
    "primary_conninfo": "Patroni (it writes it for every replica)",
    "primary_slot_name": "Patroni (postgresql.use_slots)",
}


def _parse_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _BOOL_WORDS:
        return _BOOL_WORDS[text]
    # PostgreSQL accepts any unambiguous prefix of these words
    hits = set(v for word, v in _BOOL_WORDS.items() if len(text) >= 2 and word.startswith(text))
    if len(hits) == 1:
        return hits.pop()
    raise ValueError("not a boolean")


def _parse_number_with_unit(value, unit):
    """``value`` in the parameter's base unit (float). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    m = re.match(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)$", text)
    if not m:
        raise ValueError("not a number")
    number, suffix = float(m.group(1)), m.group(2)
    if not suffix:
        return number
    if unit is None or unit not in _BASE_UNITS:
        raise ValueError("this parameter takes no unit")
    kind, base = _BASE_UNITS[unit]
    if kind == "mem":
        if suffix not in _MEMORY_UNITS:
            raise ValueError("memory units are B, kB, MB, GB and TB (case-sensitive)")
        return number * _MEMORY_UNITS[suffix] / base
    if suffix not in _TIME_UNITS:
        raise ValueError("time units are us, ms, s, min, h and d")
    return number * _TIME_UNITS[suffix] / base


def parameter_problem(name, value):
    """Why ``name = value`` is wrong for PostgreSQL 15 (text), or ``None`` if it looks fine.

    Unknown names are not judged here (see ``validate_dynamic_config``).
    """
    key = name.lower()
    if key in _LOCAL_ONLY:
        return "is managed by %s and cannot be set in the dynamic configuration" % _LOCAL_ONLY[key]
    spec = PG_PARAMETERS.get(key)
    if spec is None:
        return None
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return "must be a scalar, not a %s" % type(value).__name__
    if spec["context"] == "I":
        return "is read-only (compiled in or set at initdb)"
    if key == "wal_level" and str(value).lower() not in ("replica", "logical", "hot_standby"):
        return "must be replica or logical for a Patroni cluster"
    if key == "hot_standby":
        try:
            if not _parse_bool(value):
                return "must stay on: replicas need it"
        except ValueError:
            return "must be on"
    vartype = spec["type"]
    if vartype == "b":
        try:
            _parse_bool(value)
        except ValueError:
            return "must be a boolean (on/off, true/false), not %r" % (value,)
    elif vartype == "e":
        allowed = [v.lower() for v in spec["values"]]
        text = str(value).strip().lower() if not isinstance(value, bool) else ("on" if value else "off")
        aliases = list(allowed)
        if "on" in allowed and "off" in allowed:
            aliases += list(_BOOL_WORDS)
        if key == "wal_level":
            aliases += ["hot_standby", "archive"]
        if text not in aliases:
            return "must be one of %s, not %r" % (", ".join(v for v in spec["values"] if v), value)
    elif vartype in ("i", "r"):
        try:
            number = _parse_number_with_unit(value, spec["unit"])
        except ValueError as err:
            hint = " with an optional unit (%s)" % _unit_hint(spec["unit"]) if spec["unit"] else ""
            return "must be a number%s, not %r (%s)" % (hint, value, err)
        if vartype == "i" and number != int(number) and not spec["unit"]:
            return "must be an integer, not %r" % (value,)
        if "min" in spec and not spec["min"] <= number <= spec["max"]:
            unit = " %s" % spec["unit"] if spec["unit"] else ""
            return "%r is out of range %s..%s%s" % (value, _num(spec["min"]), _num(spec["max"]), unit)
        minimum = _PATRONI_MINIMUMS.get(key)
        if minimum is not None and number < minimum:
            return "%r is below %d, the lowest value Patroni accepts (it would silently use its default)" % (
                value, minimum)
        if key == "wal_keep_size" and number < 16:
            return "%r is below 16MB, the lowest value Patroni accepts" % (value,)
    return None


def drop_below_patroni_minimums(desired):
    """Split off dynamic parameters below the lowest value Patroni accepts.

    Patroni replaces such a value with its own default (``max_connections: 10`` becomes 100), and
    Zalando manifests in the wild carry them (the reference complete manifest sets
    ``max_connections: "10"``). Refusing the whole configuration would break manifests that work
    with Zalando; sending the value would report a change forever. They are left out, with a
    warning naming the parameter and the minimum. Returns ``(desired_without_them, warnings)``.
    """
    params = ((desired or {}).get("postgresql") or {}).get("parameters")
    if not isinstance(params, dict):
        return desired, []
    kept, warnings = {}, []
    for name, value in params.items():
        minimum = _PATRONI_MINIMUMS.get(str(name).lower())
        number = None
        if minimum is not None and value is not None and not isinstance(value, bool):
            try:
                number = float(str(value).strip())
            except ValueError:
                number = None
        if number is not None and number < minimum:
            warnings.append("postgresql.parameters.%s: %r is below %d, the lowest value Patroni accepts; Patroni "
                            "keeps its own default instead, so the value was not sent (set at least %d)"
                            % (name, value, minimum, minimum))
            continue
        kept[name] = value
    if len(kept) == len(params):
        return desired, []
    out = dict(desired)
    out["postgresql"] = dict(desired["postgresql"], parameters=kept)
    return out, warnings


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def _unit_hint(unit):
    return "B, kB, MB, GB" if _BASE_UNITS.get(unit, ("", 0))[0] == "mem" else "ms, s, min, h, d"


def normalize_parameter(name, value):
    """A comparable form of a parameter value (``"128MB"`` == ``131072kB`` == ``16384``)."""
    if value is None:
        return None
    spec = PG_PARAMETERS.get(name.lower())
    try:
        if spec and spec["type"] == "b":
            return "on" if _parse_bool(value) else "off"
        if spec and spec["type"] in ("i", "r"):
            number = _parse_number_with_unit(value, spec["unit"])
            return int(number) if number == int(number) else number
        if spec and spec["type"] == "e":
            if isinstance(value, bool):
                return "on" if value else "off"
            return str(value).strip().lower()
    except ValueError:
        pass
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def is_restart_parameter(name):
    spec = PG_PARAMETERS.get(name.lower())
    return bool(spec and spec["context"] == "P")


_INT_KEYS = {"ttl": 20, "loop_wait": 1, "retry_timeout": 3, "maximum_lag_on_failover": 0,
             "max_timelines_history": 0, "primary_start_timeout": 0, "primary_stop_timeout": 0,
             "master_start_timeout": 0, "master_stop_timeout": 0, "synchronous_node_count": 1}
_BOOL_KEYS = ("synchronous_mode_strict", "failsafe_mode", "check_timeline", "pause")
_KNOWN_KEYS = set(_INT_KEYS) | set(_BOOL_KEYS) | {
    "synchronous_mode", "maximum_lag_on_syncnode", "member_slots_ttl", "postgresql", "standby_cluster",
    "slots", "permanent_slots", "permanent_replication_slots", "ignore_slots"}
_PG_SECTION_KEYS = {"parameters": dict, "pg_hba": list, "pg_ident": list, "use_pg_rewind": bool, "use_slots": bool,
                    "recovery_conf": dict, "remove_data_directory_on_rewind_failure": bool,
                    "remove_data_directory_on_diverged_timelines": bool}
_SLOT_NAME_RE = re.compile(r"^[a-z0-9_]{1,63}$")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) or (
        isinstance(value, str) and re.match(r"^-?\d+$", value.strip()) is not None)


def _is_bool(value):
    if isinstance(value, bool):
        return True
    try:
        _parse_bool(value)
        return True
    except ValueError:
        return False


def validate_dynamic_config(desired, current=None, prefix="config"):
    """Check a desired dynamic configuration before anything is sent. Pure.

    Returns ``(errors, warnings)``: errors are ``ManifestError`` (field, problem, fix); warnings are
    strings (e.g. a parameter this PostgreSQL 15 catalogue does not know: other versions may).
    ``current`` (the live ``GET /config``) fills in ``ttl``/``loop_wait``/``retry_timeout`` for the
    rule ``loop_wait + 2 * retry_timeout <= ttl``. ``None`` values mean "remove" and are allowed.
    """
    errors, warnings = [], []
    current = current or {}
    if not isinstance(desired, dict):
        return [ManifestError(prefix, "must be a mapping", "pass the dynamic configuration as a dict")], []

    def err(path, problem, fix=None):
        errors.append(ManifestError("%s.%s" % (prefix, path), problem, fix))

    for key, value in desired.items():
        if key not in _KNOWN_KEYS:
            err(key, "is not a Patroni dynamic configuration key",
                "use one of %s" % ", ".join(sorted(_KNOWN_KEYS)))
            continue
        if value is None:
            continue
        if key in _INT_KEYS:
            if not _is_int(value):
                err(key, "must be an integer, not %r" % (value,), "write a whole number of %s" % (
                    "bytes" if key == "maximum_lag_on_failover" else "seconds"))
            elif int(value) < _INT_KEYS[key]:
                err(key, "%s is below the minimum %d (Patroni would silently raise it)" % (value, _INT_KEYS[key]),
                    "use at least %d" % _INT_KEYS[key])
        elif key in _BOOL_KEYS:
            if not _is_bool(value):
                err(key, "must be a boolean, not %r" % (value,), "write true or false")
        elif key == "synchronous_mode":
            if not (_is_bool(value) or str(value).lower() == "quorum"):
                err(key, "must be true, false or quorum, not %r" % (value,))
        elif key == "maximum_lag_on_syncnode":
            if not _is_int(value) or (int(value) != -1 and int(value) <= 0):
                err(key, "must be -1 (off) or a positive number of bytes, not %r" % (value,))
        elif key == "member_slots_ttl":
            try:
                if _parse_number_with_unit(value, "s") < 0:
                    raise ValueError("negative")
            except ValueError:
                err(key, "must be a duration such as 1800 or 30min, not %r" % (value,))
        elif key == "postgresql":
            _validate_pg_section(value, err, warnings)
        elif key in ("slots", "permanent_slots", "permanent_replication_slots"):
            _validate_slots(key, value, err)
        elif key == "ignore_slots":
            if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
                err(key, "must be a list of mappings (name, type, database, plugin)")
        elif key == "standby_cluster":
            if not isinstance(value, dict):
                err(key, "must be a mapping or null (null promotes the standby cluster)")
    # a logical slot needs wal_level=logical (Patroni would retry creating it every loop, forever)
    slots = desired.get("slots")
    if isinstance(slots, dict):
        logical = sorted(n for n, s in slots.items() if isinstance(s, dict) and s.get("type") == "logical")
        params = ((desired.get("postgresql") or {}).get("parameters") or {}) if isinstance(
            desired.get("postgresql"), dict) else {}
        have = (current.get("postgresql") or {}).get("parameters") or {}
        level = params.get("wal_level", have.get("wal_level", "replica"))
        if logical and str(level).lower() != "logical":
            err("slots.%s" % logical[0], "is a logical slot but wal_level is %s" % (level,),
                "set postgresql.parameters.wal_level: logical (a restart) or drop the slot")
    # ttl / loop_wait / retry_timeout relation, on the values that will be in effect
    merged = {}
    for key, default in (("ttl", 30), ("loop_wait", 10), ("retry_timeout", 10)):
        value = desired.get(key, current.get(key, default)) if key in desired else current.get(key, default)
        if value is None:
            value = default
        merged[key] = int(value) if _is_int(value) else None
    bad = set(e.field.rsplit(".", 1)[-1] for e in errors) & set(merged)
    if not bad and None not in merged.values() and merged["loop_wait"] + 2 * merged["retry_timeout"] > merged["ttl"]:
        err("ttl", "loop_wait %(loop_wait)d + 2 x retry_timeout %(retry_timeout)d exceeds ttl %(ttl)d" % merged,
            "raise ttl to at least %d or lower loop_wait/retry_timeout (Patroni would silently shrink them)"
            % (merged["loop_wait"] + 2 * merged["retry_timeout"]))
    return errors, warnings


def _validate_pg_section(value, err, warnings):
    if not isinstance(value, dict):
        err("postgresql", "must be a mapping")
        return
    for key, item in value.items():
        path = "postgresql.%s" % key
        if key not in _PG_SECTION_KEYS:
            err(path, "is not a dynamic postgresql setting", "use one of %s" % ", ".join(sorted(_PG_SECTION_KEYS)))
            continue
        if item is None:
            continue
        kind = _PG_SECTION_KEYS[key]
        if kind is bool and not _is_bool(item):
            err(path, "must be a boolean, not %r" % (item,))
        elif kind is list and (not isinstance(item, list) or not all(isinstance(i, str) for i in item)):
            err(path, "must be a list of lines (strings)")
        elif kind is dict and not isinstance(item, dict):
            err(path, "must be a mapping")
        elif key == "pg_hba":
            for i, line in enumerate(item):
                words = line.split()
                if words and not words[0].startswith("#") and (
                        words[0] not in ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc",
                                         "include", "include_if_exists", "include_dir") or len(words) < 3):
                    err("%s[%d]" % (path, i), "%r is not a pg_hba.conf line" % line,
                        "start with local/host/hostssl/hostnossl and name database, user (and address)")
        elif key == "parameters":
            for name, param in item.items():
                if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", name):
                    err("%s.%s" % (path, name), "is not a parameter name")
                    continue
                problem = parameter_problem(name, param)
                if problem:
                    err("%s.%s" % (path, name), problem)
                elif name.lower() not in PG_PARAMETERS and "." not in name:
                    warnings.append("%s.%s is not a PostgreSQL 15 parameter; it was not validated (PostgreSQL "
                                    "and Patroni ignore unknown names)" % (path, name))


def _validate_slots(key, value, err):
    if not isinstance(value, dict):
        err(key, "must be a mapping of slot name to {type: physical} or {type: logical, database, plugin}")
        return
    for name, slot in value.items():
        path = "%s.%s" % (key, name)
        if not _SLOT_NAME_RE.match(str(name)):
            err(path, "is not a valid slot name", "use 1-63 lower-case letters, digits and underscores")
        if slot is None:
            continue
        if not isinstance(slot, dict):
            err(path, "must be a mapping with a type")
            continue
        kind = slot.get("type")
        if kind not in ("physical", "logical"):
            err("%s.type" % path, "must be physical or logical, not %r" % (kind,))
        elif kind == "logical":
            for needed in ("database", "plugin"):
                if not slot.get(needed):
                    err("%s.%s" % (path, needed), "is required for a logical slot")
        unknown = set(slot) - {"type", "database", "plugin", "failover", "cluster_type"}
        if unknown:
            err(path, "has unknown keys %s" % ", ".join(sorted(unknown)),
                "use type, database, plugin (and failover, cluster_type)")


def _same(key, a, b, parameter=False):
    if parameter:
        return normalize_parameter(key, a) == normalize_parameter(key, b)
    if isinstance(a, dict) or isinstance(b, dict):
        return a == b
    if isinstance(a, list) or isinstance(b, list):
        return a == b
    if a is None or b is None:
        return a is b
    if _is_int(a) and _is_int(b):
        return int(a) == int(b)
    if isinstance(a, bool) or isinstance(b, bool):
        try:
            return _parse_bool(a) == _parse_bool(b)
        except ValueError:
            return False
    return str(a) == str(b)


def config_diff(current, desired, managed_slots=None):
    """The ``PATCH /config`` body that turns ``current`` into ``desired``. Pure.

    Merge semantics like Patroni's: keys absent from ``desired`` stay as they are, ``None`` removes
    a key. ``slots``: every desired slot is set; a slot in ``managed_slots`` (the slots this
    collection put there earlier) that is no longer desired is removed; other slots (made by Patroni
    or by hand) are left alone. Returns ``{"patch", "after", "changes", "managed_slots"}`` where
    ``changes`` lists ``{"path", "before", "after"}`` and ``managed_slots`` is what the caller must
    persist for the next run.
    """
    current = current or {}
    patch, changes = {}, []
    for key, want in desired.items():
        have = current.get(key)
        if key == "postgresql" and isinstance(want, dict):
            sub = {}
            have = have if isinstance(have, dict) else {}
            for skey, swant in want.items():
                shave = have.get(skey)
                if skey == "parameters" and isinstance(swant, dict):
                    params = {}
                    shave = shave if isinstance(shave, dict) else {}
                    lower = dict((k.lower(), k) for k in shave)
                    for pname, pwant in swant.items():
                        hname = lower.get(pname.lower(), pname)
                        phave = shave.get(hname)
                        if pwant is None and hname not in shave:
                            continue
                        if hname in shave and _same(pname, phave, pwant, parameter=True):
                            continue
                        params[hname] = pwant
                        changes.append({"path": "postgresql.parameters.%s" % pname, "before": phave, "after": pwant})
                    if params:
                        sub["parameters"] = params
                elif swant is None:
                    if skey in have:
                        sub[skey] = None
                        changes.append({"path": "postgresql.%s" % skey, "before": shave, "after": None})
                elif not (skey in have and _same(skey, shave, swant)):
                    sub[skey] = swant
                    changes.append({"path": "postgresql.%s" % skey, "before": shave, "after": swant})
            if sub:
                patch["postgresql"] = sub
        elif key == "slots" and isinstance(want, dict):
            have = have if isinstance(have, dict) else {}
            sub = {}
            for name, slot in want.items():
                if slot is None:
                    if name in have:
                        sub[name] = None
                        changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
                elif have.get(name) != slot:
                    sub[name] = slot
                    changes.append({"path": "slots.%s" % name, "before": have.get(name), "after": slot})
            for name in managed_slots or []:
                if name not in want and name in have:
                    sub[name] = None
                    changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
            if sub:
                patch["slots"] = sub
        elif want is None:
            if key in current:
                patch[key] = None
                changes.append({"path": key, "before": have, "after": None})
        elif not (key in current and _same(key, have, want)):
            patch[key] = want
            changes.append({"path": key, "before": have, "after": want})
    if "slots" not in desired and managed_slots:
        have = current.get("slots") if isinstance(current.get("slots"), dict) else {}
        sub = dict((name, None) for name in managed_slots if name in have)
        for name in sorted(sub):
            changes.append({"path": "slots.%s" % name, "before": have[name], "after": None})
        if sub:
            patch["slots"] = sub
    desired_slots = desired.get("slots") if isinstance(desired.get("slots"), dict) else {}
    managed = sorted(n for n, s in desired_slots.items() if s is not None)
    return {"patch": patch, "after": merge_patch(current, patch), "changes": changes, "managed_slots": managed}


def merge_patch(base, patch):
    """What Patroni stores after ``PATCH /config``: a recursive merge where ``None`` deletes."""
    out = dict(base or {})
    for key, value in (patch or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def restart_parameters(changes):
    """Names of changed PostgreSQL parameters that only take effect after a restart."""
    names = []
    for change in changes:
        path = change["path"]
        if path.startswith("postgresql.parameters."):
            name = path[len("postgresql.parameters."):]
            if is_restart_parameter(name):
                names.append(name)
    return sorted(set(names))


# =============================================================================================
# Operations (I/O): what the modules run. Each returns a result dict and keeps ``actions``
# (what was done or, in check mode, what would be done) so a failure can report its progress.
# =============================================================================================
def _is_primary(status):
    """The member leads and runs (a standby cluster's leader counts: it is what replicas follow)."""
    return bool(status) and status.get("role") in ("primary", "master", "standby_leader") \
        and status.get("state") == "running"


def _is_streaming_replica(status, timeline=None):
    if not status or status.get("role") != "replica" or status.get("state") != "running":
        return False
    if status.get("replication_state") != "streaming":
        return False
    return timeline is None or status.get("timeline") == timeline


class Operation(object):
    def __init__(self, client, check_mode=False, log=None):
        self.client = client
        self.check_mode = check_mode
        self.actions = []
        self.warnings = []
        self.log = log or (lambda msg: None)

    def action(self, **entry):
        entry.setdefault("at", format_timestamp(utcnow()))
        self.actions.append(entry)
        self.log("%s" % entry)
        return entry

    def post_timeout(self, state):
        """Patroni answers a switchover within 2 x max(10, loop_wait) s; wait a little longer."""
        return max(self.client.timeout, 2 * max(10, state.loop_wait) + 5)


def run_operation(module, operation_class, run):
    """The shared ``main()`` body of the modules built on an ``Operation``.

    Builds the operation from the module's connection options, runs ``run(module, op)`` and
    reports: on ``PgfleetError`` the failure carries what was done so far (``actions``, and
    ``members`` for a rolling restart's per-member progress); otherwise the warnings go through
    ``module.warn`` and the result gets ``actions``; ``diff`` is returned only under ``--diff``.
    """
    op = None
    try:
        op = operation_class(client_from_module(module), check_mode=module.check_mode)
        result = run(module, op)
    except PgfleetError as err:
        failure = err.to_result()
        if op is not None:
            failure["actions"] = op.actions
            if getattr(op, "progress", None) is not None:
                failure["members"] = op.progress
        else:
            failure["actions"] = []
        module.fail_json(**failure)
    for warning in op.warnings:
        module.warn(warning)
    result["actions"] = op.actions
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


class Switchover(Operation):
    """Move the leader to a candidate (or schedule it), confirmed on the members themselves."""

    def choose(self, state, candidate, max_lag, candidate_timeout, purpose="switchover"):
        """``choose_candidate`` that waits (with back-off) while the problems can clear up."""
        deadline = self.client.monotonic() + max(0, candidate_timeout or 0)
        delay = 0.5
        while True:
            try:
                return choose_candidate(state, candidate, max_lag, purpose), state
            except NoCandidate as err:
                if not err.transient or self.client.monotonic() >= deadline:
                    err.context.setdefault("cluster", state.scope)
                    err.context.setdefault("leader", state.leader)
                    raise
            self.client.sleep(delay)
            delay = min(delay * 2, 5.0)
            state = self.client.read_state()

    def run(self, candidate=None, leader=None, mode="switchover", max_lag=None, scheduled_at=None,
            wait_streaming=True, timeout=60, candidate_timeout=10, windows=None, now=None, state=None):
        state = state or self.client.read_state()
        before = state.leader
        result = {"changed": False, "cluster": state.scope, "leader_before": before, "leader": before,
                  "candidate": None, "scheduled_at": None}
        if mode == "failover":
            return self._failover(state, candidate, max_lag, timeout, result)
        if before is None:
            raise PatroniError("cluster %s has no leader, so there is nothing to switch over from; use mode=failover "
                               "with a candidate" % state.scope, cluster=state.scope, members=state.names)
        if leader is not None and leader != before:
            result["msg"] = "%s is not the leader (%s is): nothing to do" % (leader, before)
            return result
        if candidate is not None and candidate == before:
            result["msg"] = "%s is already the leader: nothing to do" % candidate
            return result
        if len(state.members) < 2:
            msg = "cluster %s has a single member (%s): a switchover is impossible, nothing done" % (
                state.scope, before)
            self.warnings.append(msg)
            result["msg"] = msg
            return result
        if state.paused and candidate is None:
            raise PatroniError("cluster %s is paused (maintenance mode) and Patroni then switches over only to a "
                               "named member; set candidate or resume the cluster" % state.scope,
                               cluster=state.scope)
        now_dt = parse_now(now)
        if scheduled_at is None and windows and not in_window(windows, now_dt):
            scheduled_at = next_window_start(windows, now_dt)
            result["deferred_to_window"] = True
        if scheduled_at is not None:
            return self._schedule(state, candidate, scheduled_at, now_dt, result)

        chosen, state = self.choose(state, candidate, max_lag, candidate_timeout)
        result["candidate"] = chosen.name
        planned = {"action": "switchover", "from": before, "to": chosen.name, "lag": chosen.gate_lag}
        if self.check_mode:
            self.action(status="planned", **planned)
            result.update(changed=True, leader=chosen.name)
            return result
        if state.scheduled_switchover:
            self.warnings.append("the switchover scheduled for %s was replaced by this immediate one"
                                 % state.scheduled_switchover.get("at"))
        return self._switch(state, before, chosen.name, planned, wait_streaming, timeout, result)

    def _switch(self, state, before, candidate, planned, wait_streaming, timeout, result):
        started = self.client.monotonic()
        try:
            resp = self.client.switchover(before, candidate, timeout=self.post_timeout(state))
        except PatroniError as err:
            # No answer (e.g. a timeout): the outcome is unknown; find out on the members.
            resp = None
            self.warnings.append("POST /switchover got no answer (%s); checking the members" % err.msg)
        if resp is not None and resp.status != 200:
            after = self.client.read_state(with_config=False)
            untouched = after.leader == before
            raise PatroniError(
                "Patroni refused the switchover from %s to %s (HTTP %d: %s); %s" % (
                    before, candidate, resp.status, _short(resp.answer),
                    "the cluster is untouched (%s is still the leader)" % before if untouched
                    else "the leader is now %s" % after.leader),
                cluster=state.scope, member=candidate, status=resp.status, answer=resp.answer,
                leader=after.leader, actions=self.actions)
        answer = resp.answer if resp is not None else None
        new = candidate
        if isinstance(answer, str) and "instead of" in answer:
            m = re.search(r'over to "([^"]+)"', answer)
            new = m.group(1) if m else candidate
            self.warnings.append("Patroni switched over to %s instead of %s" % (new, candidate))
        status = self.client.wait_member(new, _is_primary, timeout, what="the running primary")
        confirmed = self.client.monotonic() - started
        entry = dict(planned, to=new, status="done", answer=answer, seconds_to_primary=round(confirmed, 3))
        timeline = status.get("timeline")
        if wait_streaming:
            self.client.wait_member(before, lambda s: _is_streaming_replica(s, timeline), timeout,
                                    what="a replica streaming on timeline %s" % timeline)
            entry["seconds_to_streaming"] = round(self.client.monotonic() - started, 3)
        self.action(**entry)
        result.update(changed=True, leader=new, candidate=new, answer=answer, timeline=timeline)
        return result

    def _schedule(self, state, candidate, scheduled_at, now_dt, result):
        try:
            at = parse_timestamp(scheduled_at, assume_utc=False)
        except ValueError as err:
            raise PatroniError("scheduled_at: %s" % err, scheduled_at=scheduled_at) from err
        if at <= now_dt:
            raise PatroniError("scheduled_at %s is not in the future (now %s); give a later time or leave it out for "
                               "an immediate switchover" % (format_timestamp(at), format_timestamp(now_dt)),
                               scheduled_at=format_timestamp(at))
        if candidate is not None:
            member = state.member(candidate)
            if member is None:
                raise NoCandidate("candidate %s is not a member of cluster %s (members: %s)" % (
                    candidate, state.scope, ", ".join(state.names)), False, candidate=candidate, members=state.names)
            if member.nofailover:
                raise NoCandidate("candidate %s cannot take over: it carries the nofailover tag" % candidate, False,
                                  candidate=candidate)
        when = format_timestamp(at)
        result.update(scheduled_at=when, candidate=candidate)
        existing = state.scheduled_switchover or {}
        if existing:
            try:
                same_time = parse_timestamp(existing.get("at")) == at
            except ValueError:
                same_time = False
            if same_time and existing.get("from") == state.leader and (existing.get("to") or None) == candidate:
                result["msg"] = "a switchover from %s at %s is already scheduled: nothing to do" % (state.leader, when)
                return result
            self.warnings.append("replacing the switchover scheduled for %s" % existing.get("at"))
        planned = {"action": "schedule_switchover", "from": state.leader, "to": candidate, "scheduled_at": when}
        if self.check_mode:
            self.action(status="planned", **planned)
            result["changed"] = True
            return result
        if existing:
            self.client.cancel_scheduled_switchover()
        resp = self.client.switchover(state.leader, candidate, scheduled_at=when)
        if resp.status != 202:
            raise PatroniError("Patroni refused to schedule the switchover at %s (HTTP %d: %s)" % (
                when, resp.status, _short(resp.answer)), status=resp.status, answer=resp.answer, scheduled_at=when)
        self.action(status="scheduled", answer=resp.answer, **planned)
        result["changed"] = True
        return result

    def _failover(self, state, candidate, max_lag, timeout, result):
        if candidate is None:
            raise PatroniError("mode=failover needs a candidate: Patroni fails over only to a named member",
                               cluster=state.scope, members=state.names)
        leader = state.leader_member
        if leader is not None and leader.healthy:
            if leader.name == candidate:
                result["msg"] = "%s is already the leader: nothing to do" % candidate
                return result
            raise PatroniError("cluster %s has a running leader (%s); a failover is for a cluster without one: use "
                               "mode=switchover" % (state.scope, leader.name), cluster=state.scope, leader=leader.name)
        chosen = choose_candidate(state, candidate, max_lag, purpose="failover")
        planned = {"action": "failover", "from": state.leader, "to": chosen.name, "lag": chosen.gate_lag}
        result["candidate"] = chosen.name
        if self.check_mode:
            self.action(status="planned", **planned)
            result.update(changed=True, leader=chosen.name)
            return result
        started = self.client.monotonic()
        resp = self.client.failover(chosen.name, timeout=self.post_timeout(state))
        if resp.status != 200:
            raise PatroniError("Patroni refused the failover to %s (HTTP %d: %s)" % (
                chosen.name, resp.status, _short(resp.answer)), member=chosen.name, status=resp.status,
                answer=resp.answer, cluster=state.scope)
        self.client.wait_member(chosen.name, _is_primary, timeout, what="the running primary")
        self.action(status="done", answer=resp.answer, seconds_to_primary=round(self.client.monotonic() - started, 3),
                    **planned)
        result.update(changed=True, leader=chosen.name, answer=resp.answer)
        return result


class RollingRestart(Operation):
    """Restart members one at a time: replicas first, the primary last through a switchover."""

    def __init__(self, client, check_mode=False, log=None):
        super(RollingRestart, self).__init__(client, check_mode, log)
        self.progress = []
        self.catch_up_to = None  # WAL position replicas must replay before they restart (primary-first order)

    def _record(self, member, status, **extra):
        entry = {"member": member, "status": status}
        entry.update(extra)
        for i, old in enumerate(self.progress):
            if old["member"] == member:
                self.progress[i] = dict(old, **entry)
                return self.progress[i]
        self.progress.append(entry)
        return entry

    def run(self, force=False, members=None, restarted_since=None, order="auto", switchover=True, candidate=None,
            max_lag=None, timeout=300, candidate_timeout=30, windows=None, now=None, wait_streaming=True):
        started_at = utcnow()
        since = None
        if restarted_since:
            try:
                since = parse_timestamp(restarted_since)
            except ValueError as err:
                raise PatroniError("restarted_since: %s" % err, restarted_since=restarted_since) from err
        state = self.client.read_state()
        plan = restart_plan(state, force=force, members=members, since=since, order=order, switchover=switchover)
        result = {"changed": False, "cluster": state.scope, "started_at": format_timestamp(started_at),
                  "plan": plan, "members": self.progress, "leader_before": state.leader, "leader": state.leader}
        for step in plan["steps"]:
            self._record(step["member"], "planned", action=step["action"], reason=step["reason"])
        for skip in plan["skipped"]:
            self._record(skip["member"], "skipped", reason=skip["reason"])
        if not plan["steps"]:
            result["msg"] = "no member needs a restart"
            return result
        now_dt = parse_now(now) if now else started_at
        if windows and not in_window(windows, now_dt):
            nxt = next_window_start(windows, now_dt)
            result.update(deferred=True, next_window=format_timestamp(nxt),
                          msg="outside the maintenance windows: nothing restarted; the next window starts %s"
                          % format_timestamp(nxt))
            return result
        if state.leader is None:
            raise PatroniError("cluster %s has no leader; a rolling restart needs a healthy cluster: resolve the "
                               "leader first (mode=failover of patroni_switchover)" % state.scope, cluster=state.scope)
        if self.check_mode:
            for step in plan["steps"]:
                self.action(action=step["action"], member=step["member"], status="planned", reason=step["reason"])
            result["changed"] = True
            return result
        for step in plan["steps"]:
            state = self.client.read_state()
            self._step(state, step, force, since, started_at, candidate, max_lag, timeout, candidate_timeout,
                       wait_streaming)
            result["changed"] = result["changed"] or self.progress_of(step["member"]).get("status") == "done"
        final = self.client.read_state(with_config=False)
        result["leader"] = final.leader
        result["pending_restart"] = final.pending_restart_members()
        return result

    def progress_of(self, member):
        for entry in self.progress:
            if entry["member"] == member:
                return entry
        return {}

    def _due(self, member, force, since, started_at):
        if member.pending_restart:
            return True
        if not force:
            return False
        started = member.started_at()
        threshold = since or started_at
        return started is None or started < threshold

    def _fail(self, member, msg, **context):
        self._record(member, "failed", error=msg)
        context.setdefault("member", member)
        context["actions"] = self.actions
        context["members"] = self.progress
        return PatroniError(msg, **context)

    def _step(self, state, step, force, since, started_at, candidate, max_lag, timeout, candidate_timeout,
              wait_streaming):
        name = step["member"]
        member = state.member(name)
        if member is None:
            raise self._fail(name, "member %s left cluster %s during the rolling restart; rerun to re-plan" % (
                name, state.scope), cluster=state.scope)
        if member.reachable is False:
            raise self._fail(name, "stopped at member %s: its REST API at %s does not answer; start its Patroni, "
                             "then rerun (members already restarted are skipped)" % (name, member.api_url),
                             cluster=state.scope, api_url=member.api_url)
        if not self._due(member, force, since, started_at):
            self._record(name, "skipped", reason="already restarted")
            return
        others = [m for m in state.members if m.name != name and not m.healthy]
        if others:
            bad = others[0]
            why = ("its REST API at %s does not answer" % bad.api_url) if bad.reachable is False else (
                "it is %s" % (bad.state or "in an unknown state"))
            raise self._fail(bad.name, "stopped before restarting %s: member %s is not healthy (%s); a rolling restart "
                             "takes down one member at a time, so bring %s back, then rerun" % (
                                 name, bad.name, why, bad.name), cluster=state.scope, waiting_member=name)
        if state.leader is None:
            raise self._fail(name, "stopped before restarting %s: cluster %s has no leader" % (name, state.scope),
                             cluster=state.scope)
        if name == state.leader:
            if step["action"] == "switchover" and len(state.members) > 1:
                return self._primary_by_switchover(state, member, force, since, started_at, candidate, max_lag,
                                                   timeout, candidate_timeout, wait_streaming)
            role = "standby_leader" if member.live_role == "standby_leader" else "primary"
            return self._restart(state, member, role, force, timeout, max_lag)
        return self._restart(state, member, "replica", force, timeout, max_lag)

    def _restart(self, state, member, role, force, timeout, max_lag):
        name = member.name
        before = member.postmaster_start_time
        if role == "replica" and self.catch_up_to is not None:
            # After the primary restarted in place with new values, a replica must have replayed that
            # point (it carries the new settings) before it restarts, or Patroni keeps the old ones.
            mark = self.catch_up_to

            def caught_up(status):
                return ((status or {}).get("xlog") or {}).get("replayed_location", -1) >= mark

            try:
                self.client.wait_member(name, caught_up, timeout, what="caught up with the restarted primary")
            except PatroniError as err:
                ctx = dict(err.context)
                ctx.pop("member", None)
                raise self._fail(name, "stopped at member %s: %s" % (name, err.msg), **ctx) from err
        body = {"role": role}
        if not force:
            body["restart_pending"] = True
        self._record(name, "restarting", role=role, postmaster_start_time_before=before)
        t0 = self.client.monotonic()
        try:
            resp = self.client.restart(name, body, timeout=max(self.client.timeout, timeout))
        except PatroniError as err:
            resp = None
            self.warnings.append("POST /restart to %s got no answer (%s); checking the member" % (name, err.msg))
        if resp is not None and resp.status == 503 and "conditions" in str(resp.answer):
            fresh = self.client.read_state(with_config=False).member(name)
            if fresh is not None and not fresh.pending_restart and not force:
                self._record(name, "skipped", reason="no pending restart any more")
                return
            raise self._fail(name, "Patroni refused to restart %s as %s (HTTP 503: %s); its role changed since the plan "
                             "was made: rerun" % (name, role, resp.answer), status=resp.status, answer=resp.answer)
        if resp is not None and resp.status != 200:
            raise self._fail(name, "Patroni could not restart %s (HTTP %d: %s)" % (name, resp.status, _short(resp.answer)),
                             status=resp.status, answer=resp.answer)
        leader = state.leader

        def ready(status):
            if not status or status.get("state") != "running":
                return False
            if status.get("postmaster_start_time") == before:
                return False
            if role in ("primary", "standby_leader"):
                return _is_primary(status)
            if not _is_streaming_replica(status):
                return False
            if max_lag is not None and max_lag < 0:
                return True
            lead = self.client.member_status(leader) if leader else None
            location = ((lead or {}).get("xlog") or {}).get("location")
            xlog = status.get("xlog") or {}
            replayed = xlog.get("replayed_location")
            if location is None or replayed is None:
                return False
            limit = state.max_lag_on_failover if max_lag is None else max_lag
            return location - replayed <= limit

        what = "running again as %s" % role if role != "replica" else "a streaming replica within the lag limit"
        try:
            status = self.client.wait_member(name, ready, timeout, what=what)
        except PatroniError as err:
            ctx = dict(err.context)
            ctx.pop("member", None)
            raise self._fail(name, "stopped at member %s: %s" % (name, err.msg), **ctx) from err
        still = bool(status.get("pending_restart"))
        if still:
            self.warnings.append("%s restarted but still reports pending_restart (%s); Patroni keeps some values of a "
                                 "replica at least as high as its primary's; a rerun restarts it again" % (
                                     name, ", ".join(sorted(status.get("pending_restart_reason") or {}))))
        if role in ("primary", "standby_leader"):
            self.catch_up_to = (status.get("xlog") or {}).get("location")
        self.action(action="restart", member=name, role=role, status="done",
                    answer=resp.answer if resp is not None else None, seconds=round(self.client.monotonic() - t0, 3))
        self._record(name, "done", postmaster_start_time=status.get("postmaster_start_time"),
                     seconds=round(self.client.monotonic() - t0, 3), how="restart", pending_restart_after=still)

    def _primary_by_switchover(self, state, member, force, since, started_at, candidate, max_lag, timeout,
                               candidate_timeout, wait_streaming):
        name = member.name
        before = member.postmaster_start_time
        self._record(name, "switching over", role="leader", postmaster_start_time_before=before)
        sw = Switchover(self.client, check_mode=False, log=self.log)
        sw.actions = self.actions
        sw.warnings = self.warnings
        t0 = self.client.monotonic()
        try:
            res = sw.run(candidate=candidate, leader=name, max_lag=max_lag, wait_streaming=True, timeout=timeout,
                         candidate_timeout=candidate_timeout, state=state)
        except PatroniError as err:
            ctx = dict(err.context)
            ctx.pop("member", None)
            raise self._fail(name, "stopped at the primary %s: %s" % (name, err.msg), **ctx) from err
        # Demotion restarted the old primary's postmaster with the new settings; check that it did.
        fresh = self.client.read_state(with_config=False)
        old = fresh.member(name)
        if old is not None and self._due(old, force, since, started_at) and old.postmaster_start_time == before:
            return self._restart(fresh, old, "replica", force, timeout, max_lag)
        if old is not None and old.pending_restart:
            return self._restart(fresh, old, "replica", force, timeout, max_lag)
        self._record(name, "done", how="switchover to %s" % res.get("leader"), new_leader=res.get("leader"),
                     postmaster_start_time=old.postmaster_start_time if old else None,
                     seconds=round(self.client.monotonic() - t0, 3))


class ConfigSync(Operation):
    """Converge Patroni's dynamic configuration with one ``PATCH /config``."""

    def run(self, desired, managed_slots=None, validate=True, wait=True, timeout=30):
        current = self.client.get_config()
        desired, warnings = drop_below_patroni_minimums(desired)
        self.warnings.extend(warnings)
        warnings = []
        if validate:
            errors, warnings = validate_dynamic_config(desired, current)
            if errors:
                bundle = ManifestErrors(errors)
                raise PatroniError("invalid dynamic configuration, nothing was sent to Patroni (%d problem%s): %s" % (
                    len(errors), "" if len(errors) == 1 else "s", " | ".join(e.msg for e in errors)),
                    fields=bundle.context.get("fields"))
        self.warnings.extend(warnings)
        diff = config_diff(current, desired, managed_slots)
        restart_params = restart_parameters(diff["changes"])
        result = {"changed": bool(diff["patch"]), "patch": diff["patch"], "changes": diff["changes"],
                  "managed_slots": diff["managed_slots"], "restart_parameters": restart_params,
                  "diff": {"before": current, "after": diff["after"]}, "config": diff["after"]}
        if not diff["patch"]:
            state = self.client.read_state(with_config=False)
            result["pending_restart"] = state.pending_restart_members()
            return result
        if self.check_mode:
            self.action(action="patch_config", status="planned", patch=diff["patch"])
            result["pending_restart"] = "unknown in check mode"
            return result
        merged = self.client.patch_config(diff["patch"])
        self.action(action="patch_config", status="done", patch=diff["patch"])
        result["config"] = merged or diff["after"]
        result["diff"]["after"] = result["config"]
        state = self.client.read_state(with_config=False)
        if wait and restart_params:
            state = self._wait_pending(state, restart_params, timeout)
        result["pending_restart"] = state.pending_restart_members()
        return result

    def _wait_pending(self, state, names, timeout):
        """Poll until every member reports the restart-only change as pending (or timeout)."""
        wanted = set(n.lower() for n in names)
        deadline = self.client.monotonic() + timeout
        while True:
            missing = [m.name for m in state.members
                       if not wanted & set(k.lower() for k in (m.pending_restart_reason or {}))]
            if not missing:
                return state
            if self.client.monotonic() >= deadline:
                self.warnings.append("after %ss, %s still report no pending restart for %s (their running value may "
                                     "already match)" % (_fmt_seconds(timeout), ", ".join(missing), ", ".join(names)))
                return state
            self.client.sleep(0.5)
            state = self.client.read_state(with_config=False)
