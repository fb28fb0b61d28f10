# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Adopting objects another operator wrote, so that server-side apply takes them over cleanly.

The reference operator writes its objects with create/update calls under the field manager
``postgres-operator`` (operation ``Update``). Server-side apply by ``pgfleet`` over such an object
takes the fields it applies, but a field only the other manager set stays, owned by it: a
PodDisruptionBudget the reference operator wrote with ``maxUnavailable`` then carries both
``maxUnavailable`` (theirs) and ``minAvailable`` (ours), which the API server refuses.

So before the first apply over such an object its ``managedFields`` are rewritten, as kubectl does
when it moves an object from client-side to server-side apply: the entries of the previous
operator's manager (operation ``Update``, main resource) are merged into pgfleet's ``Apply``
entry and removed. pgfleet then owns everything the previous operator set; the apply that follows
keeps what pgfleet renders and removes what it does not (the same values as before are not a
change, so no pod restarts because of it). The rewrite is one JSON patch guarded by the object's
``resourceVersion``; it changes no field of the object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

#: field managers of the operators pgfleet takes objects over from (the Zalando operator's)
PREVIOUS_MANAGERS = ("postgres-operator",)


def merge_fields(a, b):
    """Union of two ``fieldsV1`` sets (each a trie of ``f:``/``k:``/``v:``/``i:`` keys)."""
    out = copy.deepcopy(a) if isinstance(a, dict) else {}
    for key, value in (b or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_fields(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def foreign_entries(live, previous=PREVIOUS_MANAGERS):
    """The managedFields entries of ``previous`` managers that wrote the object itself by update."""
    return [e for e in ((live or {}).get("metadata") or {}).get("managedFields") or []
            if isinstance(e, dict) and e.get("manager") in previous and e.get("operation") == "Update"
            and not e.get("subresource")]


def _field_paths(fields, prefix=()):
    """The field paths of a ``fieldsV1`` trie (a list element, ``k:``/``v:``/``i:``, ends a path at its list)."""
    out = []
    for key, value in sorted((fields or {}).items()):
        if key.startswith("f:"):
            sub = _field_paths(value, prefix + (key[2:],)) if isinstance(value, dict) and value else []
            out.extend(sub or [prefix + (key[2:],)])
        elif key != "." and prefix and prefix not in out:
            out.append(prefix)
    return out


def _has(obj, path):
    cur = obj
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def dropped_fields(live, desired, previous=PREVIOUS_MANAGERS, limit=10):
    """Fields the previous operator set that pgfleet does not render (the apply after the takeover
    removes them), as dotted paths."""
    out = []
    for entry in foreign_entries(live, previous):
        for path in _field_paths(entry.get("fieldsV1") or {}):
            dotted = ".".join(path)
            if path and path[0] != "status" and not _has(desired, path) and dotted not in out:
                out.append(dotted)
    return out[:limit] + (["..."] if len(out) > limit else [])


def takeover_patch(live, manager, previous=PREVIOUS_MANAGERS):
    """(JSON patch, [previous managers]) moving their fields to ``manager``'s Apply entry, or (None, [])."""
    foreign = foreign_entries(live, previous)
    if not foreign:
        return None, []
    meta = live.get("metadata") or {}
    entries = [e for e in meta.get("managedFields") or [] if isinstance(e, dict)]
    ours = None
    for e in entries:
        if e.get("manager") == manager and e.get("operation") == "Apply" and not e.get("subresource"):
            ours = e
    fields = copy.deepcopy((ours or {}).get("fieldsV1") or {})
    for e in foreign:
        fields = merge_fields(fields, e.get("fieldsV1") or {})
    mine = {"manager": manager, "operation": "Apply", "apiVersion": live.get("apiVersion"),
            "fieldsType": "FieldsV1", "fieldsV1": fields}
    if ours and ours.get("time"):
        mine["time"] = ours["time"]
    elif foreign[-1].get("time"):
        mine["time"] = foreign[-1]["time"]
    kept = [e for e in entries if e is not ours and not any(e is f for f in foreign)]
    patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
             {"op": "replace", "path": "/metadata/managedFields", "value": kept + [mine]}]
    return patch, sorted(set(e["manager"] for e in foreign))
