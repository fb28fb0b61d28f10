"""Patch formats of the Kubernetes API, as the double applies them.

- JSON merge patch (RFC 7386): exact.
- JSON patch (RFC 6902): exact for add/remove/replace/move/copy/test.
- Strategic merge patch: APPROXIMATED. Lists are merged by the merge key the real schema declares
  for the list fields pgfleet's objects use (containers/env/volumes by name, volumeMounts by
  mountPath, ports by containerPort or port, ownerReferences by uid, conditions by type);
  ``finalizers`` merge as a set; every other list is replaced. ``$patch: delete|replace``,
  ``$setElementOrder/...``, ``$retainKeys`` and ``$deleteFromPrimitiveList/...`` are understood.
- Server-side apply: APPROXIMATED with leaf-path field ownership per field manager. Maps merge
  key by key; every list is atomic (owned and replaced whole). A manager that stops applying a
  field it owned loses it (the field is removed unless another manager owns it); a changed value
  owned by another manager is a 409 conflict unless ``force=true``.
"""

import copy
import json

_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "ownerReferences": "uid", "conditions": "type",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
}
_SET_LISTS = {"finalizers"}


class PatchError(ValueError):
    """Bad patch body (400/422) or failed JSON-patch test (422)."""

    def __init__(self, msg, code=422, reason="Invalid"):
        super(PatchError, self).__init__(msg)
        self.code = code
        self.reason = reason


class Conflict(Exception):
    def __init__(self, conflicts):
        super(Conflict, self).__init__("Apply failed with %d conflicts" % len(conflicts))
        self.conflicts = conflicts


# --- JSON merge patch ---------------------------------------------------------------------
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if val is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), val)
    return result


# --- JSON patch ---------------------------------------------------------------------------
def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path, 400, "BadRequest")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict):
            cur = cur[p]
        else:
            raise KeyError(p)
    return cur


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations", 400, "BadRequest")
    doc = copy.deepcopy(target)
    for op in ops:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        try:
            if kind == "test":
                if _resolve(doc, parts) != op.get("value"):
                    raise PatchError("the JSON patch test at %s failed" % op.get("path"))
                continue
            if kind in ("move", "copy"):
                val = copy.deepcopy(_resolve(doc, _pointer(op.get("from", ""))))
                if kind == "move":
                    doc = _remove(doc, _pointer(op["from"]))
                doc = _add(doc, parts, val)
            elif kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                doc = _remove(doc, parts)
            elif kind == "replace":
                _resolve(doc, parts)  # must exist
                doc = _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            else:
                raise PatchError("unknown JSON patch operation %r" % kind, 400, "BadRequest")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError("the JSON patch operation %s %s failed: %s" % (kind, op.get("path"), exc)) from exc
    return doc


def _add(doc, parts, val):
    if not parts:
        return val
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(val)
        else:
            idx = int(last)
            if idx > len(parent):
                raise IndexError(idx)
            parent.insert(idx, val)
    else:
        parent[last] = val
    return doc


def _remove(doc, parts):
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        del parent[int(last)]
    else:
        del parent[last]
    return doc


# --- strategic merge patch (approximation) -----------------------------------------------
def _list_key(field, items):
    key = _MERGE_KEYS.get(field)
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        key = "containerPort" if "containerPort" in sample else "port"
    return key


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        out = copy.deepcopy(patch)
        out.pop("$patch")
        return out
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in (val or [])]
            continue
        if val is None:
            result.pop(key, None)
        elif isinstance(val, list):
            result[key] = _merge_list(key, result.get(key), val)
        elif isinstance(val, dict):
            result[key] = strategic_merge(result.get(key), val, key)
        else:
            result[key] = val
    return result


def _merge_list(field, current, patch):
    current = current if isinstance(current, list) else []
    if field in _SET_LISTS:
        out = list(current)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    key = _list_key(field, patch + current)
    if not key or not all(isinstance(i, dict) for i in patch):
        return [i for i in copy.deepcopy(patch) if not (isinstance(i, dict) and i.get("$patch"))]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in copy.deepcopy(patch) if i.get("$patch") != "replace"]
    out = copy.deepcopy(current)
    for item in patch:
        idx = next((n for n, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


# --- field ownership (server-side apply approximation) ------------------------------------
_IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def leaf_paths(obj, prefix=()):
    """Set of tuple paths to every leaf; lists and empty maps are leaves."""
    out = set()
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            out |= leaf_paths(v, prefix + (k,))
    elif prefix:
        out.add(prefix)
    return out


def get_path(obj, path, default=None):
    cur = obj
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return default
        cur = cur[p]
    return cur


_MISSING = object()


def delete_path(obj, path):
    """Remove a leaf and the maps it leaves empty (never the top-level sections)."""
    stack, cur = [], obj
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return
        stack.append((cur, p))
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)
    while stack and len(stack) > 1:
        parent, key = stack.pop()
        if parent[key] == {}:
            del parent[key]
        else:
            break


def _related(a, b):
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def deep_merge(base, overlay):
    """Maps merge key by key; everything else (lists too) is replaced."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = deep_merge(out.get(k), v) if isinstance(v, dict) else copy.deepcopy(v)
    return out


def server_side_apply(live, applied, manager, owners, force):
    """Return (new object, new owners). ``owners``: {manager: {"operation", "paths"}}."""
    owners = {m: {"operation": r["operation"], "paths": set(r["paths"]), "time": r.get("time")}
              for m, r in owners.items()}
    body = copy.deepcopy(applied)
    body.pop("status", None)
    if isinstance(body.get("metadata"), dict):
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            body["metadata"].pop(k, None)
    new_paths = leaf_paths(body) - _IDENTITY
    conflicts = []
    for other, rec in owners.items():
        if other == manager:
            continue
        for p in list(rec["paths"]):
            for q in new_paths:
                if _related(p, q) and get_path(live, q, _MISSING) != get_path(body, q, _MISSING) \
                        and get_path(live, q, _MISSING) is not _MISSING:
                    conflicts.append((other, q))
                    if force:
                        rec["paths"].discard(p)
    if conflicts and not force:
        raise Conflict(conflicts)
    result = copy.deepcopy(live) if live else {}
    prev = owners.get(manager, {}).get("paths", set()) if owners.get(manager, {}).get("operation") == "Apply" else set()
    others = set()
    for other, rec in owners.items():
        if other != manager:
            others |= rec["paths"]
    for p in prev - new_paths:
        if not any(_related(p, q) for q in others) and not any(_related(p, q) for q in new_paths):
            delete_path(result, p)
    result = deep_merge(result, body)
    owners[manager] = {"operation": "Apply", "paths": new_paths, "time": None}
    return result, {m: r for m, r in owners.items() if r["paths"]}


def take_ownership(old, new, manager, owners):
    """A non-apply write: ``manager`` now owns every leaf it changed (operation Update)."""
    owners = {m: {"operation": r["operation"], "paths": set(r["paths"]), "time": r.get("time")}
              for m, r in owners.items()}
    old_paths, new_paths = leaf_paths(strip_meta(old)), leaf_paths(strip_meta(new))
    changed = {p for p in new_paths if get_path(old, p, _MISSING) != get_path(new, p, _MISSING)}
    removed = old_paths - new_paths
    for rec in owners.values():
        rec["paths"] = {p for p in rec["paths"] if not any(_related(p, c) for c in changed | removed)}
    if changed:
        rec = owners.setdefault(manager, {"operation": "Update", "paths": set(), "time": None})
        if rec["operation"] == "Apply":
            rec = owners.setdefault(manager + "\x00update", {"operation": "Update", "paths": set(), "time": None})
        rec["paths"] |= changed
    return {m: r for m, r in owners.items() if r["paths"]}


def strip_meta(obj):
    obj = copy.deepcopy(obj or {})
    meta = obj.get("metadata") or {}
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
              "selfLink", "name", "namespace"):
        meta.pop(k, None)
    obj.pop("apiVersion", None)
    obj.pop("kind", None)
    obj.pop("status", None)
    return obj


def fields_v1(paths):
    """managedFields.fieldsV1 for a set of leaf paths (lists shown atomic)."""
    tree = {}
    for p in sorted(paths):
        cur = tree
        for part in p:
            cur = cur.setdefault("f:%s" % part, {})
    return tree


def _paths_of(fields, prefix=()):
    out = set()
    for key, value in (fields or {}).items():
        if key.startswith("f:") and isinstance(value, dict) and any(k.startswith("f:") for k in value):
            out |= _paths_of(value, prefix + (key[2:],))
        elif key.startswith("f:"):
            out.add(prefix + (key[2:],))
        elif prefix:
            out.add(prefix)  # a list element (k:/v:/i:): lists are atomic here
    return out


def owners_from_managed_fields(entries):
    """{manager: {"operation", "paths", "time"}} from managedFields a client wrote (the inverse of fields_v1)."""
    owners = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("manager") or entry.get("subresource"):
            continue
        op = entry.get("operation") or "Update"
        name = entry["manager"]
        if op == "Update" and any(e.get("manager") == name and e.get("operation") == "Apply"
                                  for e in entries if isinstance(e, dict)):
            name += "\x00update"
        rec = owners.setdefault(name, {"operation": op, "paths": set(), "time": entry.get("time")})
        rec["paths"] |= _paths_of(entry.get("fieldsV1") or {})
    return owners


def loads(body, content_type):
    """Decode a request body: JSON, or YAML for apply patches."""
    if not body:
        return None
    text = body.decode("utf-8")
    if "yaml" in (content_type or ""):
        import yaml

        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PatchError("the request body is not valid JSON: %s" % exc, 400, "BadRequest") from exc
