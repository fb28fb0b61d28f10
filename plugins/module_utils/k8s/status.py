# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The status of a ``postgresql`` object and its Kubernetes Events
(docs/design/reconcile.md, section 2).

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

from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import steady

STATUSES = ("Creating", "Updating", "Running", "CreateFailed", "UpdateFailed", "SyncFailed", "Invalid", "")
COMPONENT = "pgfleet-postgres-operator"
#: status key of the steady-state fingerprint (docs/design/reconcile.md section 8)
STEADY_KEY = steady.STATUS_KEY


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
               "reason": cond.get("reason") or cond["type"], "message": defuse(cond.get("message") or "")}
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


FAILED = {"Creating": "CreateFailed", "Updating": "UpdateFailed"}


def defuse(text):
    """A message with its Jinja delimiters broken apart (``{ {``): what goes into the CR comes back to
    the operator's playbooks as variables, and must never be able to read as a template."""
    text = "" if text is None else str(text)
    for delim, safe in (("{{", "{ {"), ("}}", "} }"), ("{%", "{ %"), ("%}", "% }"), ("{#", "{ #"), ("#}", "# }")):
        text = text.replace(delim, safe)
    return text


def phase_of(cr):
    """The phase a reconcile was in, from the status alone (when the read itself failed)."""
    cur = current_status(cr)
    generation = int(((cr or {}).get("metadata") or {}).get("generation") or 0)
    if cur.get("observedGeneration") is not None and int(cur["observedGeneration"]) != generation:
        return "Updating"
    return "Sync"


def _condition(ctype, ok, reason_ok, reason_bad, message):
    return {"type": ctype, "status": "True" if ok else "False", "reason": reason_ok if ok else reason_bad,
            "message": message}


def reconcile_outcome(cr, phase, outcome):
    """What the end of a reconcile writes: ``{status, observed_generation, conditions, fields, events}``.

    ``outcome`` (every key optional): ``ready``, ``ready_reasons``, ``pods`` (summaries), ``leader``,
    ``pending`` (pods still to recreate), ``patroni_error`` / ``sql_error`` (None: that step did not run;
    '' : it succeeded), ``managed_slots`` (the slots the Patroni step left managed, None when it did
    not run), ``patroni`` (the read's Patroni view: ``in_sync``, ``desired``, ``managed_slots``).

    The phase: Running once the pods are ready; while waiting Creating/Updating stays, and a sync of a
    cluster that is not ready keeps the status it had. ``observedGeneration`` moves only when ready.
    """
    cur = current_status(cr)
    ready = bool(outcome.get("ready"))
    before = cur.get("PostgresClusterStatus") or ""
    status = "Running" if ready else (phase if phase in ("Creating", "Updating") else (before or "Running"))
    generation = int(((cr or {}).get("metadata") or {}).get("generation") or 0) if ready else None
    leader = outcome.get("leader") or {}
    live = [p for p in outcome.get("pods") or [] if not p.get("terminating")]
    conditions = [
        _condition("Valid", True, "ManifestValid", "", ""),
        _condition("Ready", ready, "PodsReady", "PodsNotReady",
                   "%d pod(s), leader %s" % (len(live), leader.get("name") or "none") if ready
                   else "; ".join(outcome.get("ready_reasons") or [])),
    ]
    pending = sorted(outcome.get("pending") or [])
    conditions.append(_condition("PodsUpToDate", not pending, "TemplateApplied", "RollingUpdatePending",
                                 "to recreate: %s" % ", ".join(pending) if pending else ""))
    patroni_error = outcome.get("patroni_error")
    if patroni_error is not None:
        conditions.append(_condition("PatroniConfigured", not patroni_error, "Converged", "RejectedValues",
                                     patroni_error[:1000]))
    sql_error = outcome.get("sql_error")
    if sql_error is not None:
        conditions.append(_condition("DatabasesSynced", not sql_error, "Synced", "SQLError", sql_error[:1000]))
    # the slots this collection put into Patroni, once Patroni has them (removed ones are dropped later)
    view = outcome.get("patroni") or {}
    slots = outcome.get("managed_slots")
    if slots is None and view.get("in_sync"):
        slots = sorted(k for k, v in ((view.get("desired") or {}).get("slots") or {}).items() if v is not None)
    fields = {}
    if slots is not None and list(slots) != list(view.get("managed_slots") or []):
        fields["managedSlots"] = list(slots)
    # the steady-state fingerprint (k8s/steady.py): kept only when this reconcile ended steady
    if "fingerprint" in outcome:
        steady_end = ready and not pending and not patroni_error and not sql_error
        fingerprint = (outcome.get("fingerprint") or "") if steady_end else ""
        if fingerprint != (cur.get(STEADY_KEY) or ""):
            fields[STEADY_KEY] = fingerprint or None
    events = []
    if patroni_error:
        known = [c for c in cur.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "PatroniConfigured"]
        if not known or known[0].get("message") != defuse(patroni_error[:1000]):
            events.append({"reason": "PatroniConfig", "type": "Warning", "message": patroni_error})
    return {"status": status, "observed_generation": generation, "conditions": conditions, "fields": fields,
            "events": events}


def failure_outcome(cr, phase, message):
    """What a failed reconcile writes: Create/Update/SyncFailed, condition Ready with the error, and a
    Warning event when the status changes (a failure repeated on every retry is one event)."""
    phase = phase or phase_of(cr)
    status = FAILED.get(phase, "SyncFailed")
    before = current_status(cr).get("PostgresClusterStatus") or ""
    return {"status": status, "observed_generation": None,
            "conditions": [{"type": "Ready", "status": "False", "reason": "ReconcileFailed",
                            "message": (message or "")[:1000]}],
            # a failed reconcile was not steady: the next one takes the full path
            "fields": {STEADY_KEY: None} if current_status(cr).get(STEADY_KEY) else {},
            "events": [{"reason": "Sync", "type": "Warning", "message": message}] if before != status else []}


def event(cr, reason, message, event_type="Normal"):
    meta = cr.get("metadata") or {}
    stamp = now()
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": "%s." % meta.get("name"), "namespace": meta.get("namespace")},
        "involvedObject": {"apiVersion": cr.get("apiVersion", "acid.zalan.do/v1"), "kind": cr.get("kind", "postgresql"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
        "reason": reason, "message": defuse(message)[:1024], "type": event_type,
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
        body = dict(new)
        # a merge patch keeps keys it does not name: a removed key is sent as null
        body.update((key, None) for key in cur if key not in new)
        api.patch("acid.zalan.do/v1", "postgresql", meta["name"], meta.get("namespace"), {"status": body},
                  patch_type="merge", subresource="status")
    posted = []
    for ev in events or []:
        obj = event(cr, ev["reason"], ev.get("message") or "", ev.get("type") or "Normal")
        api.create(obj)
        posted.append({"reason": obj["reason"], "type": obj["type"], "message": obj["message"]})
    return {"changed": changed or bool(posted), "status": new, "previous": cur, "events": posted}
