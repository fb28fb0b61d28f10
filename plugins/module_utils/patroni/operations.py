# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The long operations the ``patroni_*`` modules run: switchover, rolling restart, config sync.

Each one reads the cluster through ``PatroniClient``, decides with the pure functions of state.py
and dynconfig.py, sends requests, and confirms the outcome on the members themselves. Each keeps
``actions`` (what was sent or, in check mode, what would be) so that a failure half-way can report
what it did. docs/design/patroni.md describes the order of steps and why.

About 640 lines, on purpose: the rolling restart runs the switchover and both share ``Operation``
and the confirmation helpers; apart, each file would need the other's internals.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors, PatroniError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import windows as maintenance
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import _fmt_seconds, _short
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.dynconfig import (
    config_diff,
    drop_below_patroni_minimums,
    major_of,
    restart_parameters,
    split_refused,
    validate_dynamic_config,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.state import (
    NoCandidate,
    choose_candidate,
    format_timestamp,
    parse_now,
    parse_timestamp,
    restart_plan,
    utcnow,
)


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

    def report(self):
        """What a failure result carries: the requests sent, and whether any of them changed something."""
        return {"actions": self.actions,
                "changed": any(a.get("status") not in ("planned", "refused") for a in self.actions)}


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
        return self._switch(state, before, chosen.name, planned, wait_streaming, timeout, result,
                            named=candidate is not None)

    def _switch(self, state, before, candidate, planned, wait_streaming, timeout, result, named=False):
        started = self.client.monotonic()
        sent = self.action(**dict(planned, status="sent"))
        try:
            resp = self.client.switchover(before, candidate, timeout=self.post_timeout(state))
        except PatroniError as err:
            # No answer (e.g. a timeout): the outcome is unknown; find out on the members.
            resp = None
            self.warnings.append("POST /switchover got no answer (%s); checking the members" % err.msg)
        if resp is not None and resp.status != 200:
            after = self.client.read_state(with_config=False)
            untouched = after.leader == before
            sent.update(status="refused" if untouched else "failed", answer=resp.answer, status_code=resp.status)
            raise PatroniError(
                "Patroni refused the switchover from %s to %s (HTTP %d: %s); %s" % (
                    before, candidate, resp.status, _short(resp.answer),
                    "the cluster is untouched (%s is still the leader)" % before if untouched
                    else "the leader is now %s" % after.leader),
                cluster=state.scope, member=candidate, status=resp.status, answer=resp.answer,
                leader=after.leader, actions=self.actions)
        answer = resp.answer if resp is not None else None
        new = candidate
        if resp is None:
            new = self._leader_after(before, timeout) or candidate
        elif isinstance(answer, str) and "instead of" in answer:
            m = re.search(r'over to "([^"]+)"', answer)
            new = m.group(1) if m else candidate
        if new == before:
            sent.update(status="failed", answer=answer)
            raise PatroniError("switchover from %s to %s failed: %s is still the leader" % (before, candidate, before),
                               cluster=state.scope, member=candidate, leader=before, answer=answer)
        if new != candidate:
            if named:
                # The caller asked for this member; another one leading is not what was asked for.
                try:
                    self.client.wait_member(new, _is_primary, timeout, what="the running primary")
                except PatroniError:
                    pass  # the leader key says who leads; its Postgres may still be promoting
                sent.update(to=new, status="failed", answer=answer)
                raise PatroniError(
                    "switchover to %s failed: Patroni promoted %s instead (%s did not take over); %s is the leader now"
                    % (candidate, new, candidate, new), cluster=state.scope, member=candidate, candidate=candidate,
                    leader=new, leader_before=before, answer=answer)
            self.warnings.append("Patroni switched over to %s instead of %s" % (new, candidate))
        status = self.client.wait_member(new, _is_primary, timeout, what="the running primary")
        confirmed = self.client.monotonic() - started
        sent.update(to=new, status="done", answer=answer, seconds_to_primary=round(confirmed, 3))
        timeline = status.get("timeline")
        if wait_streaming:
            self.client.wait_member(before, lambda s: _is_streaming_replica(s, timeline), timeout,
                                    what="a replica streaming on timeline %s" % timeline)
            sent["seconds_to_streaming"] = round(self.client.monotonic() - started, 3)
        result.update(changed=True, leader=new, candidate=new, answer=answer, timeline=timeline)
        return result

    def _leader_after(self, before, timeout):
        """After an unanswered POST /switchover: the first leader other than ``before`` (or whoever leads at the end)."""
        deadline = self.client.monotonic() + timeout
        while True:
            leader = self.client.read_state(with_config=False).leader
            if (leader is not None and leader != before) or self.client.monotonic() >= deadline:
                return leader
            self.client.sleep(0.5)

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
        sent = self.action(status="sent", **planned)
        resp = self.client.failover(chosen.name, timeout=self.post_timeout(state))
        if resp.status != 200:
            sent.update(status="refused", answer=resp.answer, status_code=resp.status)
            raise PatroniError("Patroni refused the failover to %s (HTTP %d: %s)" % (
                chosen.name, resp.status, _short(resp.answer)), member=chosen.name, status=resp.status,
                answer=resp.answer, cluster=state.scope)
        self.client.wait_member(chosen.name, _is_primary, timeout, what="the running primary")
        sent.update(status="done", answer=resp.answer, seconds_to_primary=round(self.client.monotonic() - started, 3))
        result.update(changed=True, leader=chosen.name, answer=resp.answer)
        return result


class RollingRestart(Operation):
    """Restart members one at a time: replicas first, the primary last through a switchover."""

    def __init__(self, client, check_mode=False, log=None):
        super(RollingRestart, self).__init__(client, check_mode, log)
        self.progress = []
        self.started_at = None
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
            max_lag=None, timeout=300, candidate_timeout=30, windows=None, now=None, wait_streaming=True,
            expected_members=None):
        started_at = utcnow()
        self.started_at = format_timestamp(started_at)
        since = None
        if restarted_since:
            try:
                since = parse_timestamp(restarted_since)
            except ValueError as err:
                raise PatroniError("restarted_since: %s" % err, restarted_since=restarted_since) from err
        state = self.client.read_state()
        plan = restart_plan(state, force=force, members=members, since=since, order=order, switchover=switchover)
        result = {"changed": False, "cluster": state.scope, "started_at": format_timestamp(started_at),
                  "plan": plan, "members": self.progress, "leader_before": state.leader, "leader": state.leader,
                  "restarted": [], "events": [], "missing": self._missing(state, expected_members)}
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
        result["restarted"] = self.restarted()
        if result["restarted"]:
            result["events"] = [event("Restart", "restarted for %s: %s" % (
                "pending_restart" if not force else "a forced restart", ", ".join(result["restarted"])))]
        final = self.client.read_state(with_config=False)
        result["leader"] = final.leader
        result["pending_restart"] = final.pending_restart_members()
        return result

    def report(self):
        out = super(RollingRestart, self).report()
        out.update(members=self.progress, started_at=self.started_at, restarted=self.restarted())
        out["changed"] = out["changed"] or bool(out["restarted"])
        return out

    def _missing(self, state, expected):
        """Expected members that are not in the DCS: not restarted, and worth a warning on every run."""
        missing = sorted(set(expected or []) - set(state.names))
        if missing:
            self.warnings.append("member%s %s %s not in cluster %s (no member key in the DCS: %s Patroni is not "
                                 "running), so %s not restarted; start %s and rerun" % (
                                     "s" if len(missing) > 1 else "", ", ".join(missing),
                                     "are" if len(missing) > 1 else "is", state.scope,
                                     "their" if len(missing) > 1 else "its", "they were" if len(missing) > 1 else "it was",
                                     "them" if len(missing) > 1 else "it"))
        return missing

    def restarted(self):
        """Members whose restart (or switchover away and restart) this run completed."""
        return [entry["member"] for entry in self.progress if entry.get("status") == "done"]

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
        sent = self.action(action="restart", member=name, role=role, status="sent")
        try:
            resp = self.client.restart(name, body, timeout=max(self.client.timeout, timeout))
        except PatroniError as err:
            resp = None
            self.warnings.append("POST /restart to %s got no answer (%s); checking the member" % (name, err.msg))
        if resp is not None and resp.status != 200:
            sent.update(status="refused", answer=resp.answer, status_code=resp.status)
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
        sent.update(status="done", answer=resp.answer if resp is not None else None,
                    seconds=round(self.client.monotonic() - t0, 3))
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


def in_window(windows, now):
    return _windows(maintenance.in_window, windows, now)


def next_window_start(windows, now):
    return _windows(maintenance.next_window_start, windows, now)


def _windows(question, windows, now):
    """Ask model/windows.py; a bad window fails naming the option (``maintenance_windows[i]: ...``)."""
    try:
        return question(windows, now)
    except ManifestErrors as err:
        raise PatroniError(" | ".join(e.msg for e in err.errors), fields=[e.field for e in err.errors]) from err


def event(reason, message, kind="Normal"):
    """What happened, as the reconcile records it (a Kubernetes Event's reason, type and message)."""
    return {"reason": reason, "type": kind, "message": message}


def _refusal(errors):
    bundle = ManifestErrors(errors)
    return PatroniError("invalid dynamic configuration, nothing was sent to Patroni (%d problem%s): %s" % (
        len(errors), "" if len(errors) == 1 else "s", " | ".join(e.msg for e in errors)),
        fields=bundle.context.get("fields"))


def _rejected_sentence(rejected):
    """One sentence for the refused parts ('' when none); braces split so it is never templated."""
    if not rejected:
        return ""
    text = "not sent to Patroni, which would ignore them: %s" % " | ".join(e.msg for e in rejected)
    return text.replace("{{", "{ {").replace("}}", "} }").replace("{%", "{ %").replace("%}", "% }")


class ConfigSync(Operation):
    """Converge Patroni's dynamic configuration with one ``PATCH /config``."""

    def run(self, desired, managed_slots=None, validate=True, wait=True, timeout=30, invalid="fail"):
        """``invalid``: ``fail`` refuses the whole configuration when a part is invalid; ``skip``
        sends the rest and reports the refused parts in ``rejected`` and ``error``."""
        current = self.client.get_config()
        major = major_of((self.client.status() or {}).get("server_version"))
        desired, warnings = drop_below_patroni_minimums(desired)
        self.warnings.extend(warnings)
        warnings, rejected = [], []
        if validate and invalid == "skip":
            try:
                desired, rejected, warnings = split_refused(desired, current, major=major)
            except ManifestErrors as err:
                raise _refusal(err.errors) from err
        elif validate:
            errors, warnings = validate_dynamic_config(desired, current, major=major)
            if errors:
                raise _refusal(errors)
        self.warnings.extend(warnings)
        diff = config_diff(current, desired, managed_slots, major=major)
        restart_params = restart_parameters(diff["changes"], major=major)
        result = {"changed": bool(diff["patch"]), "patch": diff["patch"], "changes": diff["changes"],
                  "managed_slots": diff["managed_slots"], "restart_parameters": restart_params,
                  "diff": {"before": current, "after": diff["after"]}, "config": diff["after"],
                  "rejected": [{"field": e.field, "problem": e.problem, "fix": e.fix} for e in rejected],
                  "error": _rejected_sentence(rejected), "events": []}
        if diff["patch"]:
            result["events"] = [event("PatroniConfig", "Patroni dynamic configuration changed: %s" % ", ".join(
                c["path"] for c in diff["changes"]))]
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
