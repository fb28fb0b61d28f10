# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Deciding what to write, without being fooled by what the API server adds (docs/design/reconcile.md,
section 3).

An object is written only when one of these holds:

* it does not exist;
* its ``pgfleet.io/applied-checksum`` annotation differs from the checksum of what we render now
  (so a field we *stopped* rendering is noticed too, and server-side apply removes it);
* what we render is not *covered* by the live object (someone changed a field we own).

"Covered" compares only the fields we render: maps key by key, lists element by element (lists
with a merge key such as ``containers``/``env``/``volumes`` are matched by that key, so entries
added by others are ignored), quantities numerically (``1Gi`` == ``1024Mi``), and ``stringData``
as the ``data`` the server stores. Defaults the server fills in never count.

For the Spilo StatefulSet it also decides between an in-place apply and a replacement (delete with
``propagationPolicy: Orphan``, then create), which Kubernetes requires when the selector,
``serviceName``, ``podManagementPolicy`` or ``volumeClaimTemplates`` change, and which pods must be
recreated: only pods whose pod-template checksum differs from what we render now (so growing the
volume never restarts a pod), pods flagged with ``zalando-postgres-operator-rolling-update-required``,
and pods adopted from another operator whose Spilo image differs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib

from ansible_collections.pgfleet.postgres.plugins.module_utils.model.checksum import (
    ANNOTATION as TEMPLATE_CHECKSUM,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.checksum import (
    canonical_json,
    template_checksum,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import parse_quantity

APPLIED_CHECKSUM = "pgfleet.io/applied-checksum"
POD_CHECKSUM = "pgfleet.io/pod-checksum"
ROLLING_FLAG = "zalando-postgres-operator-rolling-update-required"
APPLIED_FORMAT = 1

MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "ownerReferences": "uid", "hostAliases": "ip",
}
QUANTITY_PARENTS = ("requests", "limits", "capacity", "hard", "overhead")


def applied_checksum(obj):
    """sha256 of what we render (without the checksum annotation itself and without status)."""
    data = copy.deepcopy(obj)
    data.pop("status", None)
    meta = data.get("metadata") or {}
    ann = dict(meta.get("annotations") or {})
    ann.pop(APPLIED_CHECKSUM, None)
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    # the one canonical JSON (model/checksum.py); strict UTF-8 here, as before (template_checksum passes surrogates)
    payload = canonical_json({"format": APPLIED_FORMAT, "object": data}).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def _postgres_container(template):
    for c in ((template or {}).get("spec") or {}).get("containers") or []:
        if c.get("name") == "postgres":
            return c
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    return containers[0] if containers else {}


def pod_checksum(template, ignore_image=False):
    """Checksum of a pod template alone (no volumeClaimTemplates; annotations excluded)."""
    template = copy.deepcopy(template or {})
    if ignore_image:
        _postgres_container(template).pop("image", None)
    return template_checksum(template, [])


def prepare(obj, lazy_image=False):
    """A copy of a rendered object stamped with the annotations this module compares by."""
    out = copy.deepcopy(obj)
    if out.get("kind") == "StatefulSet":
        tmpl = out.setdefault("spec", {}).setdefault("template", {})
        meta = tmpl.setdefault("metadata", {})
        meta["annotations"] = dict(meta.get("annotations") or {})
        meta["annotations"][POD_CHECKSUM] = pod_checksum(tmpl, ignore_image=lazy_image)
    meta = out.setdefault("metadata", {})
    meta["annotations"] = dict(meta.get("annotations") or {})
    meta["annotations"][APPLIED_CHECKSUM] = applied_checksum(out)
    return out


# --- covers --------------------------------------------------------------------------------
def _quantity_equal(a, b):
    try:
        return parse_quantity(a) == parse_quantity(b)
    except (ValueError, TypeError):
        return a == b


def _scalar_equal(desired, live, path):
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if len(path) >= 2 and (path[-2] in QUANTITY_PARENTS or path[-1] in ("storage", "sizeLimit")):
        return _quantity_equal(desired, live)
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    return False


# maps whose keys are data: an entry with an empty string is a real entry the server keeps
_STRING_MAPS = ("labels", "annotations", "data", "stringData", "binaryData", "matchLabels", "nodeSelector")


def differences(desired, live, path=(), out=None, limit=20):
    """Paths (dotted) where ``desired`` is not covered by ``live``; empty when covered."""
    if out is None:
        out = []
    if len(out) >= limit:
        return out
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            out.append(".".join(path) or "<root>")
            return out
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    out.append(".".join(path + (key,)))
                continue
            if key not in live:
                if value in ({}, []):
                    continue  # an empty map or list is how the server omits it
                if value == "" and (path[-1:] or ("",))[0] not in _STRING_MAPS:
                    continue  # so is an empty string in a struct field (`omitempty`, e.g. an env var's value)
                out.append(".".join(path + (key,)))
                continue
            differences(value, live[key], path + (key,), out, limit)
        return out
    if isinstance(desired, list):
        if not isinstance(live, list):
            out.append(".".join(path))
            return out
        key = MERGE_KEYS.get(path[-1] if path else "")
        if path and path[-1] == "ports":
            key = "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in desired) else None
        if key and all(isinstance(i, dict) and key in i for i in desired):
            by_key = dict((i.get(key), i) for i in live if isinstance(i, dict))
            order = [i.get(key) for i in live if isinstance(i, dict) and i.get(key) in set(d[key] for d in desired)]
            if order != [d[key] for d in desired]:
                out.append(".".join(path) + " (order)")
                return out
            for item in desired:
                if item[key] not in by_key:
                    out.append("%s[%s=%s]" % (".".join(path), key, item[key]))
                else:
                    differences(item, by_key[item[key]], path + ("%s=%s" % (key, item[key]),), out, limit)
            return out
        if len(desired) != len(live):
            out.append(".".join(path) + " (length)")
            return out
        for i, (d, lv) in enumerate(zip(desired, live)):  # noqa: B905 same length, checked above (Python 3.9 has no strict=)
            differences(d, lv, path + (str(i),), out, limit)
        return out
    if not _scalar_equal(desired, live, path):
        out.append(".".join(path))
    return out


def comparable(desired):
    """What of a rendered object is compared with the live one."""
    d = copy.deepcopy(desired)
    d.pop("status", None)
    d.pop("apiVersion", None)
    d.pop("kind", None)
    meta = d.get("metadata") or {}
    for k in ("name", "namespace", "resourceVersion", "uid", "generation", "creationTimestamp"):
        meta.pop(k, None)
    if isinstance(meta.get("annotations"), dict):
        meta["annotations"].pop(APPLIED_CHECKSUM, None)  # compared on its own, in in_sync()
    if d.get("stringData") is not None:
        data = d.setdefault("data", {})
        for k, v in d.pop("stringData").items():
            data[k] = base64.b64encode(str(v).encode("utf-8")).decode("ascii")
    tmpl_vcts = (d.get("spec") or {}).get("volumeClaimTemplates")
    if isinstance(tmpl_vcts, list):
        for vct in tmpl_vcts:
            if isinstance(vct, dict):
                vct.pop("status", None)
    return d


def object_differences(desired, live):
    return differences(comparable(desired), live)


def in_sync(desired, live):
    """(True, []) when nothing needs writing, else (False, reasons)."""
    if live is None:
        return False, ["absent"]
    want = (desired.get("metadata") or {}).get("annotations", {}).get(APPLIED_CHECKSUM)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_CHECKSUM)
    reasons = []
    if want and want != have:
        reasons.append("rendering changed" if have else "not applied by pgfleet yet")
    diffs = object_differences(desired, live)
    if diffs:
        reasons.append("differs at " + ", ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else ""))
    return not reasons, reasons


# --- StatefulSet --------------------------------------------------------------------------------
def statefulset_replace_reasons(desired, live):
    """Changes Kubernetes refuses in place (they need delete-orphan + create)."""
    if live is None:
        return []
    d, lv = desired.get("spec") or {}, live.get("spec") or {}
    reasons = []
    if d.get("selector") != lv.get("selector"):
        reasons.append("spec.selector")
    if d.get("serviceName") != lv.get("serviceName"):
        reasons.append("spec.serviceName")
    if (d.get("podManagementPolicy") or "OrderedReady") != (lv.get("podManagementPolicy") or "OrderedReady"):
        reasons.append("spec.podManagementPolicy")
    vd = [comparable(v) for v in d.get("volumeClaimTemplates") or []]
    vl = lv.get("volumeClaimTemplates") or []
    if len(vd) != len(vl) or differences(vd, vl, ("spec", "volumeClaimTemplates")):
        reasons.append("spec.volumeClaimTemplates")
    return reasons


def desired_volume_size(desired):
    for vct in (desired.get("spec") or {}).get("volumeClaimTemplates") or []:
        if (vct.get("metadata") or {}).get("name") == "pgdata":
            return ((vct.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
    return None


def pvc_resizes(desired_sts, pvcs):
    """[(pvc name, current, wanted)] for every pgdata PVC smaller than the manifest, and warnings."""
    want = desired_volume_size(desired_sts)
    out, warnings = [], []
    if not want:
        return out, warnings
    name = desired_sts["metadata"]["name"]
    for pvc in pvcs:
        pname = pvc["metadata"]["name"]
        if not pname.startswith("pgdata-%s-" % name) or pvc["metadata"].get("deletionTimestamp"):
            continue
        have = ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        try:
            grow = parse_quantity(want) > parse_quantity(have)
            shrink = parse_quantity(want) < parse_quantity(have)
        except (ValueError, TypeError):
            continue
        if grow:
            out.append((pname, have, want))
        elif shrink:
            warnings.append("PVC %s is %s, larger than spec.volume.size %s: volumes are never shrunk" % (pname, have, want))
    return out, warnings


def pods_to_roll(desired_sts, pods, lazy_image=False):
    """{pod name: reason} for the pods that must be recreated from the new template."""
    tmpl = (desired_sts.get("spec") or {}).get("template") or {}
    ann = (tmpl.get("metadata") or {}).get("annotations") or {}
    want_pod = ann.get(POD_CHECKSUM) or pod_checksum(tmpl, ignore_image=lazy_image)
    want_full = ann.get(TEMPLATE_CHECKSUM)
    want_image = _postgres_container(tmpl).get("image")
    out = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        pann = meta.get("annotations") or {}
        name = meta.get("name")
        image = _postgres_container(pod).get("image")
        if pann.get(ROLLING_FLAG) == "true":
            out[name] = "flagged for a rolling update"
        elif POD_CHECKSUM in pann:
            if pann[POD_CHECKSUM] != want_pod:
                out[name] = "pod template changed"
        elif TEMPLATE_CHECKSUM in pann:
            if want_full and pann[TEMPLATE_CHECKSUM] != want_full:
                out[name] = "pod template changed"
        elif image and want_image and image != want_image and not lazy_image:
            out[name] = "adopted pod runs image %s, not %s" % (image, want_image)
        if name not in out and not lazy_image and image and want_image and image != want_image:
            out[name] = "image %s differs from %s" % (image, want_image)
    return out


def pod_annotation_patches(desired_sts, live_sts, pods, skip=()):
    """{pod: {annotation: value or None}} so running pods carry the template's annotations (no restart)."""
    want = ((((desired_sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations")) or {}
    before = {}
    if live_sts:
        before = ((((live_sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations")) or {}
    out = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("name") in skip or meta.get("deletionTimestamp"):
            continue
        have = meta.get("annotations") or {}
        patch = dict((k, v) for k, v in want.items() if have.get(k) != v)
        for k in before:
            if k not in want and k in have:
                patch[k] = None
        if patch:
            out[meta["name"]] = patch
    return out
