# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The one Patroni REST client of the collection.

``PatroniClient``: HTTP with timeouts, retries on connection errors only, basic auth and TLS
options. Every call that targets one member re-reads ``GET /cluster`` first and uses the API URL
the member registered there (members move; a remembered URL goes stale). Answers come back as
``Response`` (status + parsed JSON) or, for the whole cluster, as a ``ClusterState`` (state.py).

Everything that talks HTTP to Patroni goes through here: the ``patroni_*`` modules (through
operations.py), the local target (module_utils/local) and the Kubernetes reconcile.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PatroniError
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.state import api_base, parse_cluster


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


class NotAMember(PatroniError):
    """``GET /cluster`` answered, and the member is not in it."""


class MemberLeft(PatroniError):
    """A member awaited by ``wait_member`` left the DCS (its Patroni stopped or was removed)."""


LEFT_CONFIRM = 1.0  # seconds between two answers without a member before it counts as gone


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
        self.api_url = api_base(api_url)
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
                    self.members = dict((m["name"], api_base(m.get("api_url"))) for m in data["members"]
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
                return api_base(m["api_url"])
        raise NotAMember("member %s is not in cluster %s (members: %s)" % (
            name, cluster.get("scope"), ", ".join(sorted(m.get("name") for m in cluster.get("members") or []))),
            member=name, members=sorted(m.get("name") for m in cluster.get("members") or []),
            cluster=cluster.get("scope"))

    # --- reads --------------------------------------------------------------------------------
    def member_status(self, name, url=None, timeout=None):
        """That member's own ``GET /patroni`` (dict), or ``None`` if its API gives no answer.

        The URL is re-resolved from ``GET /cluster`` unless given.
        """
        return self.status(url or self.resolve(name), timeout=timeout)

    def status(self, url=None, timeout=None):
        """``GET /patroni`` of the member at ``url`` (default: ``api_url``), without asking the DCS.

        Returns the answer (dict) or ``None`` when the API gives no JSON answer. Patroni answers
        503 with the same JSON when PostgreSQL is not running: still an answer.
        """
        try:
            resp = self.request("GET", api_base(url or self.api_url) + "/patroni", timeout=timeout, retries=0)
        except Unreachable:
            return None
        data = resp.data
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
                    statuses[m["name"]] = self.member_status(m["name"], url=api_base(m["api_url"]))
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
        gone_since = None  # when GET /cluster first answered without the member
        while True:
            try:
                url = self.resolve(name)
                gone_since = None
            except NotAMember as err:
                # Its member key expired in the DCS: Patroni on it stopped. Waiting longer is pointless;
                # a second answer at least LEFT_CONFIRM seconds later confirms it.
                url, last = None, {"error": err.msg}
                now = self.monotonic()
                if gone_since is None:
                    gone_since = now
                elif now - gone_since >= LEFT_CONFIRM:
                    raise MemberLeft("member %s left cluster %s (it is no longer in the DCS: its Patroni stopped) "
                                     "while waiting for it to become %s" % (name, err.context.get("cluster"), what),
                                     member=name, members=err.context.get("members"), left=True) from err
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
