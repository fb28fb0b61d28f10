# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Whether a major version upgrade may start now: pure, every "no" with its reason.

The rules are in docs/design/upgrade.md ("Gates"). Inputs are plain values so the same decision
serves the local target (state.json holds the last result) and Kubernetes (the CR's annotations).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import windows as win
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.majors import desired_major
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.majors import parse_major as _major

MODES = ("off", "manual", "full")
SUCCESS_KEY = "last-major-upgrade-success"
FAILURE_KEY = "last-major-upgrade-failure"


def timestamp(now):
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC), the form of the success/failure marks."""
    if now.tzinfo is not None:
        now = now.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(current, requested, mode="manual", team=None, allow_list=(), minimal=None, target=None,
           windows=(), now=None, marks=None, standby=False):
    """``{"action", "from", "to", "reasons", "clear_failure"}``.

    ``action`` is ``upgrade`` (every gate open), ``none`` (nothing to do) or ``blocked`` (something
    to do, but a gate is closed: ``reasons`` says which). ``marks`` holds the last result
    (``{SUCCESS_KEY: ts, FAILURE_KEY: ts}``). ``clear_failure`` is True when the failure mark should
    be removed: the request went back to the running major.
    """
    if mode not in MODES:
        raise ValueError("config.major_version_upgrade_mode: %r is not one of %s" % (mode, ", ".join(MODES)))
    marks = marks or {}
    cur = _major(current, "current major")
    want = desired_major(requested, mode, minimal, target)
    out = {"action": "none", "from": cur, "to": want, "reasons": [], "clear_failure": False}
    failed = marks.get(FAILURE_KEY)
    if want <= cur:
        if failed and want == cur:
            out["clear_failure"] = True
            out["reasons"].append("the requested major is the running one again: the failure mark %s is removed"
                                  % failed)
        if want < cur:
            out["reasons"].append("PostgreSQL %d is requested but %d runs: a downgrade is not possible; "
                                  "nothing is done" % (want, cur))
        return out
    reasons = out["reasons"]
    if mode == "off" and team not in (allow_list or ()):
        reasons.append("config.major_version_upgrade_mode is off (and team %r is not in "
                       "major_version_upgrade_team_allow_list)" % (team,))
    if standby:
        reasons.append("the cluster is a standby: it follows its source's major, it is not upgraded")
    if failed:
        reasons.append("an upgrade failed at %s and is not retried: fix the cause, then set "
                       "spec.postgresql.version back to %d (this clears the failure) and up again" % (failed, cur))
    if windows and now is not None and not win.in_window(list(windows), now):
        start = win.next_window_start(list(windows), now)
        reasons.append("outside the maintenance windows (the next starts at %s)" % (timestamp(start) if start else "?"))
    out["action"] = "blocked" if reasons else "upgrade"
    return out
