"""The object store of the Kubernetes API double: the semantics of the API server's REST registry.

What it reproduces (because pgfleet's reconcile depends on it): uid/resourceVersion/generation/
creationTimestamp, no-op writes that do not bump resourceVersion, optimistic concurrency on PUT,
status subresources, defaults and quantity canonicalisation, immutable fields, finalizers and
deletionTimestamp, propagation policies (Orphan / Background / Foreground, via ownerReferences),
dry runs, managedFields per field manager, CRDs that register their kinds, namespaces that must
exist. What it does not: admission webhooks, RBAC, quotas, watches, pagination, conversion.
"""

import copy
import datetime
import itertools
import json
import threading
import uuid

from . import defaults, patching, schemas, selectors


class ApiError(Exception):
    """An API error answer: a ``Status`` object with code/reason/message."""

    def __init__(self, code, reason, message, details=None):
        super(ApiError, self).__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details,
                "code": self.code}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(rtype, name):
    what = rtype.plural + ("." + rtype.group if rtype.group else "")
    return ApiError(404, "NotFound", '%s "%s" not found' % (what, name),
                    {"name": name, "group": rtype.group, "kind": rtype.plural})


def _gvk_of(rtype):
    return {"apiVersion": rtype.group_version, "kind": rtype.kind}


class Store(object):
    def __init__(self, registry, schema_version=None, strict_schema=True, pod_grace_seconds=0.0):
        self.registry = registry
        self.lock = threading.RLock()
        self.objects = {}
        self.owners = {}
        self._rv = itertools.count(1000)
        self.listeners = []
        self.schema_version = schema_version if schema_version is not None else schemas.default_version()
        self.strict_schema = strict_schema
        self.pod_grace_seconds = pod_grace_seconds
        self.local = threading.local()
        self._rendered = {}
        ns_type = registry.lookup("", "v1", "namespaces")
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(ns_type, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                        manager="double")

    # --- helpers ----------------------------------------------------------------------------
    def _key(self, rtype, ns, name):
        return (rtype.group, rtype.plural, ns if rtype.namespaced else None, name)

    def _next_rv(self):
        return str(next(self._rv))

    def _emit(self, event, rtype, obj):
        self.local.mutated = True
        for cb in list(self.listeners):
            cb(event, rtype, copy.deepcopy(obj))

    def _check_namespace(self, rtype, ns):
        if rtype.namespaced:
            if not ns:
                raise ApiError(400, "BadRequest", "the server could not find the requested resource: "
                               "a namespace is required for %s" % rtype.plural)
            if ("", "namespaces", None, ns) not in self.objects:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns,
                               {"name": ns, "kind": "namespaces"})

    def _render(self, rtype, key):
        """The stored object as the API returns it (managedFields included); cached as JSON per version."""
        obj = self.objects[key]
        cached = self._rendered.get(key)
        if cached is not None and cached[0] is obj:
            return json.loads(cached[1])
        out = self._render_fresh(rtype, key)
        self._rendered[key] = (obj, json.dumps(out))
        return out

    def _render_fresh(self, rtype, key):
        obj = copy.deepcopy(self.objects[key])
        mf = []
        for manager, rec in sorted(self.owners.get(key, {}).items()):
            mf.append({"manager": manager.split("\x00")[0], "operation": rec["operation"],
                       "apiVersion": rtype.group_version, "time": rec.get("time") or now(),
                       "fieldsType": "FieldsV1", "fieldsV1": patching.fields_v1(rec["paths"])})
        if mf:
            obj["metadata"]["managedFields"] = mf
        return obj

    def _has_spec(self, rtype):
        return rtype.custom or rtype.kind in ("StatefulSet", "Deployment", "CronJob", "Job",
                                              "PodDisruptionBudget", "Pod", "Service",
                                              "PersistentVolumeClaim", "Namespace")

    # --- reads ------------------------------------------------------------------------------
    def get(self, rtype, ns, name):
        with self.lock:
            key = self._key(rtype, ns, name)
            if key not in self.objects:
                raise _not_found(rtype, name)
            return self._render(rtype, key)

    def list(self, rtype, ns=None, label_selector=None, field_selector=None):
        try:
            lpreds = selectors.parse_labels(label_selector)
            fpreds = selectors.parse_fields(field_selector)
        except selectors.SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        with self.lock:
            if rtype.namespaced and ns:
                self._check_namespace(rtype, ns)
            items = []
            for key in sorted(k for k in self.objects if k[0] == rtype.group and k[1] == rtype.plural):
                if rtype.namespaced and ns and key[2] != ns:
                    continue
                obj = self._render(rtype, key)
                if not selectors.match_labels(lpreds, obj["metadata"].get("labels")):
                    continue
                if not selectors.match_fields(fpreds, obj):
                    continue
                if not rtype.custom:
                    # typed lists of built-in kinds carry no kind/apiVersion on their items
                    obj.pop("kind", None)
                    obj.pop("apiVersion", None)
                items.append(obj)
            return {"kind": rtype.kind + "List", "apiVersion": rtype.group_version,
                    "metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    # --- writes -----------------------------------------------------------------------------
    def _prepare(self, rtype, ns, name, body):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        if body.get("kind") and body["kind"] != rtype.kind:
            raise ApiError(400, "BadRequest", "the kind %r of the body does not match the resource %s (%s)"
                           % (body["kind"], rtype.plural, rtype.kind))
        if body.get("apiVersion") and body["apiVersion"] != rtype.group_version:
            raise ApiError(400, "BadRequest", "the apiVersion %r of the body does not match %s"
                           % (body["apiVersion"], rtype.group_version))
        obj = copy.deepcopy(body)
        obj.update(_gvk_of(rtype))
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if name is not None:
            if meta.get("name") and meta["name"] != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                               % (meta["name"], name))
            meta["name"] = name
        if rtype.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                               "namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta.pop("managedFields", None)
        return obj

    def _validate(self, rtype, obj, old):
        errs = defaults.validate(rtype.kind, obj, old) if not rtype.custom else []
        if not rtype.custom and self.schema_version:
            errs += schemas.errors(self._without_server_fields(obj), self.schema_version, self.strict_schema)
        if rtype.custom and not (obj["metadata"].get("name")):
            errs.append("metadata.name: Required value")
        if errs:
            raise ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (rtype.kind, obj["metadata"].get("name"), "; ".join(errs)),
                           {"name": obj["metadata"].get("name"), "kind": rtype.kind,
                            "causes": [{"message": e} for e in errs]})

    @staticmethod
    def _without_server_fields(obj):
        return obj

    def _finalize_write(self, rtype, key, old, new, owners, dry_run):
        """Common tail of create/update: defaults, validation, bookkeeping, store."""
        meta = new["metadata"]
        defaults.apply_defaults(rtype.kind, new, old) if not rtype.custom else None
        self._validate(rtype, new, old)
        if old is not None:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
                else:
                    meta.pop(k, None)
            if old["metadata"].get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise ApiError(422, "Invalid", "metadata.finalizers: Forbidden: no new finalizers can be "
                                   "added if the object is being deleted, found new finalizers %s" % sorted(added))
            if self._has_spec(rtype):
                meta["generation"] = old["metadata"].get("generation", 1)
                if self._body(new) != self._body(old) or (
                        "status" not in rtype.subresources and new.get("status") != old.get("status")):
                    meta["generation"] += 1
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            unchanged = self._comparable(new) == self._comparable(old) and \
                self._owner_sets(owners) == self._owner_sets(self.owners.get(key, {}))
            if unchanged:
                return self._render(rtype, key)
        else:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if self._has_spec(rtype):
                meta["generation"] = 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if dry_run:
            out = copy.deepcopy(new)
            meta_out = out["metadata"]
            meta_out["resourceVersion"] = meta.get("resourceVersion") or ""
            return out
        meta["resourceVersion"] = self._next_rv()
        stamp = now()
        for rec in owners.values():
            rec["time"] = rec.get("time") or stamp
        self.objects[key] = new
        self.owners[key] = owners
        if rtype.kind == "CustomResourceDefinition":
            self.registry.register_crd(new)
        # a pending deletion completes when the last finalizer goes
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rtype, key, "Background")
        self._emit("MODIFIED" if old is not None else "ADDED", rtype, new)
        return self._render(rtype, key)

    @staticmethod
    def _body(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}

    @staticmethod
    def _owner_sets(owners):
        return {m: (r["operation"], frozenset(r["paths"])) for m, r in owners.items()}

    @staticmethod
    def _comparable(obj):
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("resourceVersion", None)
        obj["metadata"].pop("managedFields", None)
        return obj

    def create(self, rtype, ns, body, dry_run=False, manager=None):
        with self.lock:
            self._check_namespace(rtype, ns)
            obj = self._prepare(rtype, ns, None, body)
            meta = obj["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            if not meta.get("name"):
                raise ApiError(422, "Invalid", "%s is invalid: metadata.name: Required value: name or "
                               "generateName is required" % rtype.kind)
            key = self._key(rtype, ns, meta["name"])
            if key in self.objects:
                what = rtype.plural + ("." + rtype.group if rtype.group else "")
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (what, meta["name"]),
                               {"name": meta["name"], "group": rtype.group, "kind": rtype.plural})
            for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                meta.pop(k, None)
            if "status" in rtype.subresources:
                obj.pop("status", None)
            if rtype.kind == "PersistentVolumeClaim" and not rtype.group:
                # the StorageObjectInUseProtection admission plugin of the real server
                fins = meta.setdefault("finalizers", [])
                if "kubernetes.io/pvc-protection" not in fins:
                    fins.append("kubernetes.io/pvc-protection")
            owners = patching.take_ownership({}, obj, manager or "unknown", {})
            return self._finalize_write(rtype, key, None, obj, owners, dry_run)

    def update(self, rtype, ns, name, body, dry_run=False, manager=None, subresource=None):
        with self.lock:
            key = self._key(rtype, ns, name)
            if key not in self.objects:
                raise _not_found(rtype, name)
            old = self.objects[key]
            obj = self._prepare(rtype, ns, name, body)
            rv = obj["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                               "modified; please apply your changes to the latest version and try again"
                               % (rtype.plural, name), {"name": name, "kind": rtype.plural})
            return self._write(rtype, key, old, obj, dry_run, manager, subresource)

    def _write(self, rtype, key, old, obj, dry_run, manager, subresource, owners=None):
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if "status" in rtype.subresources:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
        owners = patching.take_ownership(old, new, manager or "unknown",
                                         self.owners.get(key, {}) if owners is None else owners)
        return self._finalize_write(rtype, key, old, new, owners, dry_run)

    def patch(self, rtype, ns, name, body, content_type, dry_run=False, manager=None, force=False,
              subresource=None):
        with self.lock:
            key = self._key(rtype, ns, name)
            exists = key in self.objects
            ctype = (content_type or "").split(";")[0].strip()
            if ctype == "application/apply-patch+yaml":
                if not manager:
                    raise ApiError(400, "BadRequest", "PATCH with server-side apply requires a fieldManager")
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "the apply configuration must be an object")
                if not exists:
                    self._check_namespace(rtype, ns)
                    obj = self._prepare(rtype, ns, name, body)
                    try:
                        applied, owners = patching.server_side_apply({}, obj, manager, {}, True)
                    except patching.Conflict:  # pragma: no cover - impossible on create
                        raise
                    applied.update(_gvk_of(rtype))
                    applied["metadata"]["name"] = name
                    if rtype.namespaced:
                        applied["metadata"]["namespace"] = ns
                    if "status" in rtype.subresources and subresource != "status":
                        applied.pop("status", None)
                    return self._finalize_write(rtype, key, None, applied, owners, dry_run)
                old = self.objects[key]
                obj = self._prepare(rtype, ns, name, body)
                live = copy.deepcopy(old)
                try:
                    merged, owners = patching.server_side_apply(live, obj, manager, self.owners.get(key, {}), force)
                except patching.Conflict as exc:
                    causes = [{"reason": "FieldManagerConflict", "field": "." + ".".join(p),
                               "message": 'conflict with "%s"' % m.split("\x00")[0]} for m, p in exc.conflicts]
                    raise ApiError(409, "Conflict", "Apply failed with %d conflict%s: %s" % (
                        len(causes), "" if len(causes) == 1 else "s",
                        "; ".join("%s: %s" % (c["message"], c["field"]) for c in causes)), {"causes": causes}) from exc
                if subresource == "status":
                    new = copy.deepcopy(old)
                    new["status"] = merged.get("status", {})
                elif "status" in rtype.subresources:
                    merged["status"] = copy.deepcopy(old.get("status")) if "status" in old else None
                    if merged["status"] is None:
                        merged.pop("status")
                    new = merged
                else:
                    new = merged
                return self._finalize_write(rtype, key, old, new, owners, dry_run)
            if not exists:
                raise _not_found(rtype, name)
            old = self.objects[key]
            current = copy.deepcopy(old)
            owners = None
            try:
                if ctype == "application/json-patch+json":
                    # as the real server: the patch sees managedFields, and a changed list replaces them
                    shown = self._render(rtype, key)
                    new = patching.json_patch(shown, body)
                    if isinstance(new, dict) and (new.get("metadata") or {}).get("managedFields") != \
                            shown["metadata"].get("managedFields"):
                        owners = patching.owners_from_managed_fields(new["metadata"].get("managedFields"))
                elif ctype == "application/merge-patch+json":
                    new = patching.merge_patch(current, body)
                elif ctype == "application/strategic-merge-patch+json":
                    if rtype.custom:
                        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                                       "format - accepted media types include: application/json-patch+json, "
                                       "application/merge-patch+json, application/apply-patch+yaml")
                    new = patching.strategic_merge(current, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType", "unsupported patch type %r" % ctype)
            except patching.PatchError as exc:
                raise ApiError(exc.code, exc.reason, str(exc)) from exc
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch result is not an object")
            new = self._prepare(rtype, ns, name, new)
            if new["metadata"].get("uid") and new["metadata"]["uid"] != old["metadata"]["uid"]:
                raise ApiError(409, "Conflict", "Precondition failed: UID in precondition does not match")
            rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                               "modified; please apply your changes to the latest version and try again"
                               % (rtype.plural, name))
            return self._write(rtype, key, old, new, dry_run, manager, subresource, owners)

    # --- deletes ----------------------------------------------------------------------------
    def delete(self, rtype, ns, name, propagation=None, dry_run=False, grace=None, preconditions=None):
        with self.lock:
            key = self._key(rtype, ns, name)
            if key not in self.objects:
                raise _not_found(rtype, name)
            obj = self.objects[key]
            if preconditions and preconditions.get("uid") and preconditions["uid"] != obj["metadata"]["uid"]:
                raise ApiError(409, "Conflict", "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (preconditions["uid"], obj["metadata"]["uid"]))
            if propagation is None:
                propagation = "Background"
            if dry_run:
                out = self._render(rtype, key)
                return out
            if propagation == "Orphan":
                self._orphan(obj["metadata"]["uid"])
            graceful = rtype.kind == "Pod" and (grace if grace is not None else self.pod_grace_seconds) > 0
            if obj["metadata"].get("finalizers") or graceful:
                if not obj["metadata"].get("deletionTimestamp"):
                    new = copy.deepcopy(obj)
                    new["metadata"]["deletionTimestamp"] = now()
                    new["metadata"]["deletionGracePeriodSeconds"] = int(grace if grace is not None else
                                                                        (self.pod_grace_seconds if graceful else 0))
                    new["metadata"]["resourceVersion"] = self._next_rv()
                    self.objects[key] = new
                    self._emit("MODIFIED", rtype, new)
                    if propagation == "Foreground":
                        self._cascade(new["metadata"]["uid"])
                return self._render(rtype, key)
            return self._remove(rtype, key, propagation)

    def finish_graceful_delete(self, rtype, ns, name):
        """The kubelet's part: a pod whose grace period is over goes (if no finalizer holds it)."""
        with self.lock:
            key = self._key(rtype, ns, name)
            obj = self.objects.get(key)
            if obj and obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                self._remove(rtype, key, "Background")

    def _remove(self, rtype, key, propagation):
        obj = self.objects.pop(key)
        self.owners.pop(key, None)
        uid = obj["metadata"]["uid"]
        if rtype.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            plural = (spec.get("names") or {}).get("plural")
            for k in [k for k in self.objects if k[0] == spec.get("group") and k[1] == plural]:
                self.objects.pop(k, None)
            self.registry.unregister_crd(obj)
        if rtype.kind == "Namespace":
            for k in [k for k in self.objects if k[2] == key[3]]:
                self.objects.pop(k, None)
        self._emit("DELETED", rtype, obj)
        if propagation in ("Background", "Foreground"):
            self._cascade(uid)
        if rtype.custom:
            return copy.deepcopy(obj)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": key[3], "group": rtype.group, "kind": rtype.plural, "uid": uid}}

    def _dependents(self, uid):
        for key, obj in list(self.objects.items()):
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                yield key, obj

    def _orphan(self, uid):
        for key, obj in list(self._dependents(uid)):
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = [r for r in new["metadata"]["ownerReferences"] if r.get("uid") != uid]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            new["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[key] = new
            self._emit("MODIFIED", self._type_of(key, new), new)

    def _cascade(self, uid):
        """The garbage collector, synchronously: dependents whose only owner went are deleted."""
        for key, obj in list(self._dependents(uid)):
            if key not in self.objects:
                continue
            rtype = self._type_of(key, obj)
            remaining = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid
                         and self._uid_exists(r.get("uid"))]
            if remaining:
                continue
            try:
                self.delete(rtype, key[2], key[3], propagation="Background")
            except ApiError:
                pass

    def _uid_exists(self, uid):
        return any(o["metadata"].get("uid") == uid for o in self.objects.values())

    def _type_of(self, key, obj):
        group = key[0]
        version = obj.get("apiVersion", "v1").rpartition("/")[2]
        return self.registry.lookup(group, version, key[1]) or self.registry.by_kind(obj.get("apiVersion"), obj.get("kind"))

    def delete_collection(self, rtype, ns, label_selector=None, field_selector=None, propagation=None,
                          dry_run=False):
        listing = self.list(rtype, ns, label_selector, field_selector)
        items = []
        for item in listing["items"]:
            try:
                self.delete(rtype, item["metadata"].get("namespace"), item["metadata"]["name"],
                            propagation=propagation, dry_run=dry_run)
            except ApiError:
                continue
            items.append(item)
        listing["items"] = items
        return listing

    # --- for controllers and tests (not recorded as API requests) ----------------------------
    def find(self, group, plural, ns=None, predicate=None):
        with self.lock:
            out = []
            for key, obj in self.objects.items():
                if key[0] == group and key[1] == plural and (ns is None or key[2] == ns):
                    if predicate is None or predicate(obj):
                        out.append(copy.deepcopy(obj))
            return sorted(out, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
