# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The steady-state fingerprint: when a reconcile may stop after its one read (docs/design/reconcile.md §8).

A full reconcile renders every object, compares it with the live one, asks Patroni and Postgres,
and on a steady cluster finds nothing to do. The fingerprint lets the next reconcile know that
without doing it: a digest of everything a full reconcile decides from, taken from the state read
alone:

- the model (manifest + operator configuration, secret-free) and the postgresql object's
  generation, labels, annotations, finalizers and deletion mark;
- the ``resourceVersion`` of every object of the cluster and of every object read by name (pod
  environment, credential Secrets in other namespaces, infrastructure roles, PostgresTeams, the
  Teams API token Secret), but not of Patroni's own DCS objects, which Patroni rewrites every
  ``loop_wait``; for objects with a ``generation`` (whose controllers rewrite their status) the
  generation and the metadata instead;
- for each pod what matters and does not churn: uid, labels, annotations other than Patroni's
  ``status``, readiness, images, and the member's Patroni state and role;
- the code that renders (the installed collection's MANIFEST.json, or the source files);
- a time bucket: every cluster still takes the full path once per ``period`` seconds (at a
  per-cluster offset, so a fleet does not do it all at once), which repairs what no object shows
  (a role dropped by hand, a Teams API change); hourly while password rotation applies.

The end of a full reconcile that left the cluster steady records the digest in
``status.steadyFingerprint`` (from a fresh read when it wrote something); the next read that
computes the same digest takes the fast path. Any difference, any unreadable input or any state
that is not steady (a pod not ready, no leader, Patroni's configuration out of sync, a pending
restart, a terminating pod) takes the full path. A stale record is harmless: resource versions
only grow, so an old digest never matches a later state.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import os

from ansible_collections.pgfleet.postgres.plugins.module_utils.model.checksum import canonical_json

FORMAT = 1
STATUS_KEY = "steadyFingerprint"
#: Default period of the full sync a steady cluster still gets (seconds).
DEFAULT_PERIOD = 6 * 3600
#: While password rotation applies, at least this often (rotation and grace periods are time-driven).
ROTATION_PERIOD = 3600
#: Patroni's DCS objects on Kubernetes (scope = cluster name): rewritten by Patroni, never by us.
DCS_SUFFIXES = ("", "-config", "-leader", "-failover", "-sync", "-status")
#: Patroni's member annotation on each pod (its WAL position changes all the time).
PATRONI_POD_ANNOTATION = "status"


def dcs_names(name):
    return set(name + suffix for suffix in DCS_SUFFIXES)


def version_of(obj):
    meta = (obj or {}).get("metadata") or {}
    return [obj.get("kind") or "", meta.get("namespace") or "", meta.get("name") or "", meta.get("uid") or "",
            meta.get("resourceVersion") or ""]


def object_versions(objects, name):
    """``[kind, namespace, name, uid, version]`` of every listed object but pods and Patroni's DCS objects.

    An object with a ``metadata.generation`` (StatefulSet, Deployment, PDB, CronJob) is taken by its
    generation and its metadata, not its ``resourceVersion``: its controller writes its status after
    every change of its pods, which a full reconcile does not act on. Any other object by its
    ``resourceVersion``.
    """
    skip = dcs_names(name)
    out = []
    for kind, items in sorted((objects or {}).items()):
        if kind == "Pod":
            continue
        for obj in items or []:
            meta = obj.get("metadata") or {}
            if kind in ("Endpoints", "ConfigMap") and meta.get("name") in skip:
                continue
            row = version_of(obj)
            row[0] = kind
            if meta.get("generation") is not None:
                head = {k: meta.get(k) for k in ("labels", "annotations", "ownerReferences", "finalizers",
                                                 "deletionTimestamp")}
                row[4] = "generation %s %s" % (meta["generation"],
                                               hashlib.sha256(canonical_json(head).encode("utf-8")).hexdigest())
            out.append(row)
    return sorted(out)


def pod_facts(pods):
    """What a full reconcile reads from a pod, without what churns (Patroni's WAL position, kubelet times)."""
    out = []
    for pod in sorted(pods or [], key=lambda p: p["metadata"]["name"]):
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        annotations = dict(meta.get("annotations") or {})
        raw = annotations.pop(PATRONI_POD_ANNOTATION, None)
        try:
            member = json.loads(raw) if raw else {}
        except ValueError:
            member = {"unreadable": True}
        if not isinstance(member, dict):
            member = {"unreadable": True}
        out.append({
            "name": meta.get("name"), "uid": meta.get("uid"), "labels": meta.get("labels") or {},
            "annotations": annotations, "deleting": bool(meta.get("deletionTimestamp")),
            "phase": status.get("phase"), "ip": status.get("podIP"),
            "ready": [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"],
            "images": [c.get("image") for c in (pod.get("spec") or {}).get("containers") or []],
            "member": {k: member.get(k) for k in ("state", "role", "pending_restart", "unreadable")},
        })
    return out


def code_identity(root):
    """A digest of the code that renders: the installed collection's MANIFEST.json (it holds the checksum
    of every file), or, in a source checkout, the files under roles/ and plugins/. '' when unknown."""
    if not root:
        return ""
    manifest = os.path.join(root, "MANIFEST.json")
    digest = hashlib.sha256()
    try:
        if os.path.isfile(manifest):
            with open(manifest, "rb") as fh:
                digest.update(fh.read())
            return digest.hexdigest()
        found = False
        for top in ("roles", "plugins"):
            for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for fname in sorted(filenames):
                    if fname.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.join(dirpath, fname)
                    digest.update(os.path.relpath(path, root).encode("utf-8") + b"\0")
                    with open(path, "rb") as fh:
                        digest.update(fh.read())
                    found = True
    except OSError:
        return ""
    return digest.hexdigest() if found else ""


def parse_now(text):
    """The clock given as text (seconds since the epoch), or None for '' (now). Raises ValueError for
    anything else, ``nan`` and ``inf`` included (they would break the period arithmetic)."""
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("%r is not a number of seconds since the epoch" % (text,)) from None
    if not math.isfinite(value) or abs(value) > 1e12:
        raise ValueError("%r is not a time: give seconds since the epoch, e.g. 1800000000" % (text,))
    return value


def bucket(uid, now, period):
    """The number of the full-sync period ``now`` falls in, shifted per cluster by its uid."""
    period = max(int(period), 1)
    offset = int(hashlib.sha256((uid or "").encode("utf-8")).hexdigest()[:8], 16) % period
    return int((int(now) + offset) // period)


def not_steady(state):
    """Why the state read shows a cluster a full reconcile would act on ('' when it is steady)."""
    if state.get("stop"):
        return "the reconcile stops (%s)" % state["stop"]
    if not state.get("cr_exists"):
        return "the postgresql object is not in the API"
    if not state.get("ready"):
        return "not ready: %s" % "; ".join(state.get("ready_reasons") or ["?"])
    if not state.get("leader"):
        return "no leader"
    patroni = state.get("patroni") or {}
    if not patroni.get("in_sync"):
        return "Patroni's dynamic configuration differs or is unknown"
    if patroni.get("pending_restart"):
        return "pending restart: %s" % ", ".join(patroni["pending_restart"])
    if any(p.get("terminating") for p in state.get("pods") or []):
        return "a pod is terminating"
    if state.get("scale_down_switchover"):
        return "a scale-down moves the leader"
    return ""


def fingerprint(state, code="", now=0, period=DEFAULT_PERIOD, rotation_active=False):
    """``(digest, reason)``: the digest of a steady state read (``read_state``'s result with its
    ``objects`` and ``model``), or ``("", why not)``."""
    why = not_steady(state)
    if why:
        return "", why
    model = state.get("model")
    if not model:
        return "", "no model"
    manifest = state.get("manifest") or {}
    meta = manifest.get("metadata") or {}
    objects = state.get("objects") or {}
    name = state.get("name") or meta.get("name") or ""
    named = []
    env = state.get("pod_environment") or {}
    for key in sorted(env):
        named.append(version_of(env[key]))
    for obj in state.get("existing_secrets") or []:
        named.append(version_of(obj))
    if state.get("backup_environment_secret"):
        named.append(version_of(state["backup_environment_secret"]))
    infra = state.get("infrastructure") or {}
    for obj in (infra.get("secrets") or []) + (infra.get("configmaps") or []):
        named.append(version_of(obj))
    for obj in state.get("postgres_teams") or []:
        named.append(version_of(obj))
    if state.get("teams_token_secret_version"):
        named.append(state["teams_token_secret_version"])
    if rotation_active:
        period = min(int(period), ROTATION_PERIOD)
    parts = {
        "format": FORMAT,
        "code": code,
        "bucket": bucket(meta.get("uid"), now, period),
        "config_source": state.get("config_source"),
        "cr": {k: meta.get(k) for k in ("uid", "generation", "labels", "annotations", "finalizers",
                                        "deletionTimestamp")},
        "model": model,
        "objects": object_versions(objects, name),
        "named": sorted(named),
        "pods": pod_facts(objects.get("Pod")),
    }
    try:
        text = canonical_json(parts)
    except (TypeError, ValueError):  # a model value JSON cannot write: its text form still tells a change
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(), ""


def recorded(manifest):
    status = (manifest or {}).get("status")
    value = status.get(STATUS_KEY) if isinstance(status, dict) else None
    return value if isinstance(value, str) else ""
