# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Plan, then apply, a set of rendered objects: only what differs is written
(docs/design/reconcile.md, section 3).

The plan is built from the live objects the caller read once (module ``k8s_cluster_state``), so
a no-op reconcile makes no request at all here. Writes use server-side apply with the field
manager ``pgfleet``; the Spilo StatefulSet gets this treatment:

1. pods that must be recreated are flagged with ``zalando-postgres-operator-rolling-update-required``
   *before* anything else changes, so an interrupted rollout resumes;
2. PVCs smaller than ``spec.volume.size`` are grown (``storage_resize_mode: pvc``);
3. the StatefulSet is applied in place, or, when a field Kubernetes refuses to change in place
   differs (selector, serviceName, podManagementPolicy, volumeClaimTemplates), deleted with
   ``propagationPolicy: Orphan`` (the pods keep running), waited for, and created again;
4. running pods that are not recreated get the template's annotations patched (no restart).

Objects listed in ``prune`` are deleted when they exist (a disabled pooler, a disabled backup job).

An object that exists but was never applied by pgfleet (no ``pgfleet.io/applied-checksum``) may
come from the operator pgfleet replaces: its fields are taken over first (``adopt.py``), and the
action lists how it differed from pgfleet's rendering.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import adopt as k8s_adopt
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import diff as k8s_diff
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import describe


def _index(live):
    """{(kind, namespace, name): object} from {kind: [objects]}."""
    out = {}
    for kind, items in (live or {}).items():
        for obj in items or []:
            meta = obj.get("metadata") or {}
            out[(obj.get("kind") or kind, meta.get("namespace"), meta.get("name"))] = obj
    return out


def _lookup(api, index, known_kinds, obj):
    meta = obj.get("metadata") or {}
    key = (obj["kind"], meta.get("namespace"), meta.get("name"))
    if key in index:
        return index[key]
    if obj["kind"] in known_kinds:
        return None  # the caller listed this kind: absent means absent
    return api.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))


def _action(obj, action, reasons=None, **extra):
    meta = obj.get("metadata") or {}
    out = {"kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
           "action": action, "reasons": list(reasons or [])}
    out.update(extra)
    return out


class ApplySet(object):
    def __init__(self, api, field_manager="pgfleet", force=True, lazy_image=False, resize_mode="pvc",
                 flag_pods=True, replace_timeout=60, create_only=("RoleBinding",), sleep=time.sleep,
                 monotonic=time.monotonic, adopt_from=k8s_adopt.PREVIOUS_MANAGERS):
        self.create_only = set(create_only or ())
        self.adopt_from = tuple(adopt_from or ())
        self.api = api
        self.field_manager = field_manager
        self.force = force
        self.lazy_image = lazy_image
        self.resize_mode = resize_mode
        self.flag_pods = flag_pods
        self.replace_timeout = replace_timeout
        self.sleep = sleep
        self.monotonic = monotonic
        self.actions = []
        self.warnings = []
        self.rolling = {}

    # --- the whole set ------------------------------------------------------------------------
    def run(self, objects, live=None, prune=None):
        index = _index(live)
        known = set(k for k in (live or {}).keys())
        for raw in objects:
            obj = k8s_diff.prepare(raw, lazy_image=self.lazy_image)
            current = _lookup(self.api, index, known, obj)
            if obj.get("kind") == "StatefulSet":
                pods = [p for p in (live or {}).get("Pod") or [] if self._pod_of(p, obj)]
                pvcs = (live or {}).get("PersistentVolumeClaim") or []
                self._statefulset(obj, current, pods, pvcs)
            else:
                self._object(obj, current)
        for ref in prune or []:
            self._prune(ref, index, known)
        return {"actions": self.actions, "rolling_pods": self.rolling, "warnings": self.warnings,
                "changed": any(a["action"] != "none" for a in self.actions)}

    @staticmethod
    def _pod_of(pod, sts):
        base, _sep, idx = (pod.get("metadata") or {}).get("name", "").rpartition("-")
        return base == sts["metadata"]["name"] and idx.isdigit() and \
            (pod["metadata"].get("namespace") == sts["metadata"].get("namespace"))

    # --- ordinary objects -----------------------------------------------------------------------
    def _object(self, obj, current):
        ok, reasons = k8s_diff.in_sync(obj, current)
        if ok:
            self.actions.append(_action(obj, "none"))
            return
        if current is not None and obj.get("kind") in self.create_only:
            # shared per namespace and never updated (the operator may create, not change, it)
            if k8s_diff.object_differences(obj, current):
                self.warnings.append("%s exists and differs from the rendering; it is created when missing and "
                                     "never updated: change it by hand if needed" % describe(obj))
            self.actions.append(_action(obj, "none", ["create-only"]))
            return
        adopted = self._adopt(obj, current)
        if not (adopted and self.api.dry_run):
            # in check mode the takeover was a dry run too: the apply after it cannot be tried
            self.api.apply(obj, self.field_manager, self.force)
        self.actions.append(_action(obj, "create" if current is None else "apply", reasons + adopted))

    def _adopt(self, obj, current):
        """Take over the fields of the previous operator before the first apply; returns the reasons to show."""
        if current is None or not self.adopt_from:
            return []
        if k8s_diff.APPLIED_CHECKSUM in ((current.get("metadata") or {}).get("annotations") or {}) \
                and obj.get("kind") not in k8s_adopt.EXCLUSIVE_FIELDS:
            # applied by pgfleet before: nothing to take over. A kind with fields that exclude each other
            # is still checked: a hand edit (kubectl edit of a PDB's minAvailable) would make our apply
            # carry both fields, which the API server refuses on every reconcile.
            return []
        meta = obj.get("metadata") or {}
        live = self.api.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        patch, managers = k8s_adopt.takeover_patch(live, self.field_manager, self.adopt_from)
        if not patch:
            return []
        self.api.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), patch,
                       patch_type="json")
        diffs = k8s_diff.object_differences(obj, live)
        dropped = k8s_adopt.dropped_fields(live, obj, self.adopt_from)
        note = "adopted from field manager %s: %s" % (", ".join(managers), "; ".join(
            (["pgfleet sets " + ", ".join(diffs)] if diffs else [])
            + (["pgfleet removes " + ", ".join(dropped)] if dropped else [])) or "no difference")
        self.warnings.append("%s %s" % (describe(obj), note))
        return [note]

    # --- the Spilo StatefulSet ------------------------------------------------------------------
    def _statefulset(self, sts, current, pods, pvcs):
        self.rolling = k8s_diff.pods_to_roll(sts, pods, lazy_image=self.lazy_image)
        ns = sts["metadata"].get("namespace")
        # 1. flag before touching anything: an interrupted reconcile resumes from the flags
        if self.flag_pods:
            for pod in pods:
                name = pod["metadata"]["name"]
                ann = pod["metadata"].get("annotations") or {}
                if name in self.rolling and ann.get(k8s_diff.ROLLING_FLAG) != "true":
                    self.api.patch("v1", "Pod", name, ns,
                                   {"metadata": {"annotations": {k8s_diff.ROLLING_FLAG: "true"}}})
                    self.actions.append(_action(pod, "flag", [self.rolling[name]], kind="Pod"))
        # 2. grow volumes
        resizes, warnings = k8s_diff.pvc_resizes(sts, pvcs)
        self.warnings.extend(warnings)
        if resizes and self.resize_mode == "off":
            self.warnings.append("storage_resize_mode is off: %d PVC(s) stay smaller than spec.volume.size"
                                 % len(resizes))
        elif resizes:
            if self.resize_mode not in ("pvc", "mixed"):
                self.warnings.append("storage_resize_mode %s: only the PVCs are resized (no cloud API calls)"
                                     % self.resize_mode)
            for pvc_name, have, want in resizes:
                self.api.patch("v1", "PersistentVolumeClaim", pvc_name, ns,
                               {"spec": {"resources": {"requests": {"storage": want}}}})
                self.actions.append({"kind": "PersistentVolumeClaim", "name": pvc_name, "namespace": ns,
                                     "action": "resize", "reasons": ["%s -> %s" % (have, want)]})
        # 3. the StatefulSet itself
        replace = k8s_diff.statefulset_replace_reasons(sts, current)
        if current is None:
            self.api.apply(sts, self.field_manager, self.force)
            self.actions.append(_action(sts, "create", ["absent"]))
        elif replace:
            self._replace(sts, current, replace)
        else:
            ok, reasons = k8s_diff.in_sync(sts, current)
            if ok:
                self.actions.append(_action(sts, "none"))
            else:
                adopted = self._adopt(sts, current)
                reasons = reasons + adopted
                if not (adopted and self.api.dry_run):
                    self.api.apply(sts, self.field_manager, self.force)
                self.actions.append(_action(sts, "apply", reasons))
        # 4. annotations of the pods that stay
        for name, patch in sorted(k8s_diff.pod_annotation_patches(sts, current, pods, skip=self.rolling).items()):
            self.api.patch("v1", "Pod", name, ns, {"metadata": {"annotations": patch}})
            self.actions.append({"kind": "Pod", "name": name, "namespace": ns, "action": "annotate",
                                 "reasons": sorted(patch)})

    def _replace(self, sts, current, reasons):
        meta = sts["metadata"]
        self.api.delete("apps/v1", "StatefulSet", meta["name"], meta.get("namespace"), propagation="Orphan",
                        uid=(current.get("metadata") or {}).get("uid"))
        if self.api.dry_run:
            self.actions.append(_action(sts, "replace", reasons + ["check mode: not re-created"]))
            return
        deadline = self.monotonic() + self.replace_timeout
        while True:
            again = self.api.get("apps/v1", "StatefulSet", meta["name"], meta.get("namespace"))
            if again is None or again["metadata"].get("uid") != current["metadata"].get("uid"):
                break
            if self.monotonic() > deadline:
                raise KubernetesError("%s was deleted (orphaning its pods) but is still there after %ss; "
                                      "the next reconcile re-creates it" % (describe(sts), self.replace_timeout))
            self.sleep(0.5)
        self.api.apply(sts, self.field_manager, self.force)
        self.actions.append(_action(sts, "replace", reasons))

    # --- prune ------------------------------------------------------------------------------------
    def _prune(self, ref, index, known):
        meta = ref.get("metadata") or {}
        name = ref.get("name") or meta.get("name")
        ns = ref.get("namespace") or meta.get("namespace")
        kind = ref["kind"]
        key = (kind, ns, name)
        current = index.get(key) if kind in known else self.api.get(ref["apiVersion"], kind, name, ns)
        if current is None:
            return
        if current["metadata"].get("deletionTimestamp"):
            return
        self.api.delete(ref["apiVersion"], kind, name, ns, propagation=ref.get("propagation") or "Background")
        self.actions.append({"kind": kind, "name": name, "namespace": ns, "action": "delete",
                             "reasons": [ref.get("reason") or "no longer rendered"]})
