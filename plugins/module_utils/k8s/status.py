# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The status of a ``postgresql`` object and its Kubernetes Events (SPEC 6.9).

``status.PostgresClusterStatus`` keeps the Zalando values (Creating, Updating, Running,
CreateFailed, UpdateFailed, SyncFailed, Invalid); next to it go ``observedGeneration`` and
``conditions`` in the Kubernetes convention, where ``lastTransitionTime`` moves only when a
condition's ``status`` changes. The status is written through the status subresource and only when
it differs, so a no-op reconcile writes nothing. A status stored as a bare string (old objects)
is read as ``{PostgresClusterStatus: <string>}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import socket

STATUSES = ("Creating", "Updating", "Running", "CreateFailed", "UpdateFailed", "SyncFailed", "Invalid", "")
COMPONENT = "pgfleet-postgres-operator"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_status(cr):
    status = (cr or {}).get("status")
    if isinstance(status, str):
        return {"PostgresClusterStatus": status}
    return copy.deepcopy(status) if isinstance(status, dict) else {}


def merge_conditions(current, desired, generation=None, stamp=None):
    stamp = stamp or now()
    by_type = dict((c.get("type"), c) for c in current or [] if isinstance(c, dict))
    out = [c for c in current or [] if isinstance(c, dict)]
    for cond in desired or []:
        new = {"type": cond["type"], "status": cond.get("status", "Unknown"),
               "reason": cond.get("reason") or cond["type"], "message": cond.get("message") or ""}
        if generation is not None:
            new["observedGeneration"] = generation
        old = by_type.get(cond["type"])
        if old is not None and old.get("status") == new["status"] and old.get("lastTransitionTime"):
            new["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            new["lastTransitionTime"] = stamp
        if old is None:
            out.append(new)
        else:
            out[out.index(old)] = new
    return out


def desired_status(cr, status=None, conditions=None, observed_generation=None, fields=None, stamp=None):
    cur = current_status(cr)
    new = copy.deepcopy(cur)
    if status is not None:
        new["PostgresClusterStatus"] = status
    if observed_generation is not None:
        new["observedGeneration"] = int(observed_generation)
    for key, value in (fields or {}).items():
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    if conditions:
        gen = new.get("observedGeneration")
        new["conditions"] = merge_conditions(cur.get("conditions"), conditions, gen, stamp)
    return cur, new


def event(cr, reason, message, event_type="Normal"):
    meta = cr.get("metadata") or {}
    stamp = now()
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": "%s." % meta.get("name"), "namespace": meta.get("namespace")},
        "involvedObject": {"apiVersion": cr.get("apiVersion", "acid.zalan.do/v1"), "kind": cr.get("kind", "postgresql"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
        "reason": reason, "message": message[:1024], "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT, "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


def write(api, cr, status=None, conditions=None, observed_generation=None, fields=None, events=None):
    """Write the status when it differs and post the events. Returns a result dict."""
    meta = cr.get("metadata") or {}
    cur, new = desired_status(cr, status, conditions, observed_generation, fields)
    changed = new != cur or isinstance(cr.get("status"), str)
    if changed:
        api.patch("acid.zalan.do/v1", "postgresql", meta["name"], meta.get("namespace"), {"status": new},
                  patch_type="merge", subresource="status")
    posted = []
    for ev in events or []:
        obj = event(cr, ev["reason"], ev.get("message") or "", ev.get("type") or "Normal")
        api.create(obj)
        posted.append({"reason": obj["reason"], "type": obj["type"], "message": obj["message"]})
    return {"changed": changed or bool(posted), "status": new, "previous": cur, "events": posted}
