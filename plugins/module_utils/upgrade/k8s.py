# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The major version upgrade of a cluster on Kubernetes: Spilo's in-place upgrade script, run in the
primary pod through the API's exec (docs/design/upgrade.md, "Kubernetes").

One call of :meth:`K8sUpgrade.run`:

1. reads the postgresql object (its annotations are the marks of gates.py), the pods, and the
   running major from the primary's Patroni (``server_version``);
2. decides with :func:`gates.decide` (mode, allow list, minimal/target majors, windows, an earlier
   failure, standby, downgrade), then with what only a live cluster tells: the primary's
   ``PGVERSION`` is already the new major (the rolling update came first), every member is running and
   every replica streams with a lag of at most 16 MiB;
3. removes the failure mark when the manifest asks for the running major again;
4. when every gate is open (and not in check mode): labels every pod ``critical-operation=true``,
   execs the script in the ``postgres`` container of the primary, writes
   ``last-major-upgrade-success`` or ``last-major-upgrade-failure`` (merge patch of the
   annotations), and removes the labels. A failure is never retried: the mark blocks every later
   attempt until the manifest asks for the running major again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError, PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates

CONTAINER = "postgres"
SCRIPT = "set -o pipefail && /usr/bin/python3 /scripts/inplace_upgrade.py %d 2>&1 | tee last_upgrade.log"
CRITICAL_LABEL = "critical-operation"
MAX_LAG = 16 * 1024 * 1024
HEALTHY = ("running", "streaming")


def upgrade_command(pods, as_root=True):
    """The exec command: as root through ``su postgres -c``, else (a non-root container) through bash."""
    script = SCRIPT % int(pods)
    return ["/bin/su", "postgres", "-c", script] if as_root else ["/bin/bash", "-c", script]


def marks_of(cr):
    ann = ((cr or {}).get("metadata") or {}).get("annotations") or {}
    return dict((k, ann[k]) for k in (gates.SUCCESS_KEY, gates.FAILURE_KEY) if ann.get(k))


def _container(pod, name=CONTAINER):
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == name:
            return c
    return None


def pod_env(pod, name, container=CONTAINER):
    for env in (_container(pod, container) or {}).get("env") or []:
        if env.get("name") == name:
            return env.get("value")
    return None


def runs_as_root(pod, container=CONTAINER):
    """True unless the container (or the pod) sets a non-zero ``runAsUser``."""
    c = (_container(pod, container) or {}).get("securityContext") or {}
    uid = c.get("runAsUser")
    if uid is None:
        uid = ((pod.get("spec") or {}).get("securityContext") or {}).get("runAsUser")
    return uid in (None, 0)


def major_of_server_version(value):
    try:
        version = int(value)
    except (TypeError, ValueError):
        return None
    return version // 10000 if version >= 100000 else None


def member_reasons(cluster):
    """Why the members are not fit for an upgrade (``GET /cluster`` of Patroni), pure."""
    reasons = []
    members = (cluster or {}).get("members") or []
    if not members:
        return ["Patroni lists no members"]
    for m in members:
        state = m.get("state")
        if state not in HEALTHY:
            reasons.append("member %s is %s, not running" % (m.get("name"), state))
            continue
        if m.get("role") in ("leader", "master", "standby_leader"):
            continue
        if state != "streaming":
            reasons.append("replica %s is %s, not streaming" % (m.get("name"), state))
        lag = m.get("lag")
        try:
            lag = int(lag)
        except (TypeError, ValueError):
            lag = None
        if lag is None or lag > MAX_LAG:
            reasons.append("replica %s lags %s bytes (at most %d)" % (m.get("name"), m.get("lag"), MAX_LAG))
    return reasons


class K8sUpgrade(object):
    """``api``: the REST client (api.py); ``patroni``: a callable(api_url) -> PatroniClient;
    ``run_exec``: a callable(namespace, pod, command, container, timeout) -> exec.py's result."""

    def __init__(self, api, name, namespace, config, selector, role_label="spilo-role", windows=(),
                 now=None, patroni=None, api_url_of=None, run_exec=None, timeout=3600, check_mode=False):
        self.api = api
        self.name = name
        self.namespace = namespace
        self.config = config or {}
        self.selector = selector
        self.role_label = role_label
        self.windows = list(windows or [])
        self.now = now
        self.patroni = patroni
        self.api_url_of = api_url_of
        self.run_exec = run_exec
        self.timeout = timeout
        self.check_mode = check_mode
        self.events = []

    # --- reading ------------------------------------------------------------------------------
    def _pods(self):
        pods = self.api.list("v1", "Pod", self.namespace, self.selector)
        mine = [p for p in pods if p["metadata"]["name"].rpartition("-")[0] == self.name
                and p["metadata"]["name"].rpartition("-")[2].isdigit() and not p["metadata"].get("deletionTimestamp")]
        return sorted(mine, key=lambda p: int(p["metadata"]["name"].rpartition("-")[2]))

    def _annotate(self, changes):
        self.api.patch("acid.zalan.do/v1", "postgresql", self.name, self.namespace,
                       {"metadata": {"annotations": changes}})

    def _label(self, pods, value):
        done = []
        for pod in pods:
            try:
                self.api.patch("v1", "Pod", pod["metadata"]["name"], self.namespace,
                               {"metadata": {"labels": {CRITICAL_LABEL: value}}})
                done.append(pod["metadata"]["name"])
            except KubernetesError as exc:
                if exc.context.get("status") != 404:
                    raise
        return done

    # --- the call -----------------------------------------------------------------------------
    def run(self, cr=None, current=None):
        now = self.now or datetime.datetime.now(datetime.timezone.utc)
        if cr is None:
            cr = self.api.get("acid.zalan.do/v1", "postgresql", self.name, self.namespace)
            if cr is None:
                raise KubernetesError("postgresql %s/%s does not exist" % (self.namespace, self.name))
        spec = cr.get("spec") or {}
        requested = (spec.get("postgresql") or {}).get("version")
        marks = marks_of(cr)
        out = {"changed": False, "action": "none", "due": False, "from": None, "to": None, "reasons": [],
               "marks": marks, "primary": None, "pods": 0, "command": None, "exit_code": None, "output": "",
               "truncated": False, "annotations": {}}
        pods = self._pods()
        out["pods"] = len(pods)
        primaries = [p for p in pods if (p["metadata"].get("labels") or {}).get(self.role_label) == "master"]
        primary = primaries[0] if len(primaries) == 1 else None
        if primary is not None:
            out["primary"] = primary["metadata"]["name"]
        client = None
        if current is None:
            if primary is None:
                out["reasons"].append("no single pod labelled %s=master: the running major is unknown" % self.role_label)
                return out
            try:
                client = self.patroni(self.api_url_of(primary))
                current = major_of_server_version((client.status() or {}).get("server_version"))
            except PgfleetError as exc:
                out["reasons"].append("the Patroni API of %s could not be asked: %s" % (out["primary"], exc.msg))
                return out
            if current is None:
                out["reasons"].append("the Patroni API of %s gave no server_version: the running major is unknown"
                                      % out["primary"])
                return out
        decision = gates.decide(current, requested, mode=self.config.get("major_version_upgrade_mode", "manual"),
                                team=spec.get("teamId"),
                                allow_list=self.config.get("major_version_upgrade_team_allow_list") or [],
                                minimal=self.config.get("minimal_major_version"),
                                target=self.config.get("target_major_version"), windows=self.windows, now=now,
                                marks=marks, standby=bool(spec.get("standby")))
        out.update({"action": decision["action"], "from": decision["from"], "to": decision["to"]})
        out["reasons"].extend(decision["reasons"])
        if decision["clear_failure"]:
            self._annotate({gates.FAILURE_KEY: None})
            out["annotations"][gates.FAILURE_KEY] = None
            out["changed"] = True
            self.events.append({"reason": "Major Version Upgrade", "type": "Normal",
                                "message": "the failure mark %s is removed: PostgreSQL %s is requested again"
                                % (marks.get(gates.FAILURE_KEY), decision["to"])})
        if decision["action"] != "upgrade":
            return self._finish(out)
        reasons = []
        if primary is None:
            reasons.append("no single pod labelled %s=master" % self.role_label)
        else:
            pgversion = pod_env(primary, "PGVERSION")
            if pgversion not in (None, "") and str(pgversion) != str(decision["to"]):
                reasons.append("the primary %s has PGVERSION=%s: the rolling update to %s comes first"
                               % (out["primary"], pgversion, decision["to"]))
            if _container(primary) is None:
                reasons.append("the primary %s has no container %r" % (out["primary"], CONTAINER))
            try:
                if client is None:
                    client = self.patroni(self.api_url_of(primary))
                reasons.extend(member_reasons(client.get_cluster()))
            except PgfleetError as exc:
                reasons.append("Patroni's member list could not be read: %s" % exc.msg)
        if reasons:
            out["action"] = "blocked"
            out["reasons"].extend(reasons)
            return self._finish(out)
        out["due"] = True
        out["command"] = upgrade_command(len(pods), runs_as_root(primary))
        out["changed"] = True
        if self.check_mode:
            out["reasons"].append("check mode: the upgrade %s -> %s would run in %s"
                                  % (decision["from"], decision["to"], out["primary"]))
            return self._finish(out)
        return self._finish(self._upgrade(out, pods, primary, now))

    def _upgrade(self, out, pods, primary, now):
        labelled = self._label(pods, "true")
        try:
            try:
                res = self.run_exec(self.namespace, out["primary"], out["command"], CONTAINER, self.timeout)
            except KubernetesError as exc:
                res = {"exit_code": None, "stdout": "", "stderr": "", "message": exc.msg, "truncated": False,
                       "timed_out": False}
        finally:
            self._label([p for p in pods if p["metadata"]["name"] in labelled], None)
        out["exit_code"] = res.get("exit_code")
        out["output"] = (res.get("stdout") or "") + (res.get("stderr") or "")
        out["truncated"] = bool(res.get("truncated"))
        stamp = gates.timestamp(now)
        if res.get("exit_code") == 0:
            key, kind = gates.SUCCESS_KEY, "Normal"
            message = "PostgreSQL %s -> %s in place in %s" % (out["from"], out["to"], out["primary"])
            out["result"] = "success"
        else:
            key, kind = gates.FAILURE_KEY, "Warning"
            why = res.get("message") or "exit code %s" % res.get("exit_code")
            message = ("the upgrade %s -> %s in %s failed (%s); it is not retried until spec.postgresql.version "
                       "is set back to %s; the log is last_upgrade.log in the pod"
                       % (out["from"], out["to"], out["primary"], why, out["from"]))
            out["result"] = "failure"
            out["msg"] = message
        self._annotate({key: stamp})
        out["annotations"][key] = stamp
        self.events.append({"reason": "Major Version Upgrade", "type": kind, "message": message})
        return out

    def _finish(self, out):
        out["events"] = list(self.events)
        return out
