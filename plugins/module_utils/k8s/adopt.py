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

Some fields exclude each other (:data:`EXCLUSIVE_FIELDS`): a PodDisruptionBudget has ``minAvailable``
or ``maxUnavailable``, never both. pgfleet renders the critical-operation budget with
``maxUnavailable`` and the primary one with ``minAvailable``, and meets either field on objects of
other origins: reference operator versions before 2.0 wrote the critical-operation budget with
``minAvailable: <instances>``, later ones with ``maxUnavailable`` (0, or ``"100%"`` when it holds
nothing), and a budget edited by hand belongs to ``kubectl`` for the field edited. Whichever manager
set one of these fields, the takeover moves it to pgfleet's entry too (out of every other entry), so
that the apply that follows removes the one pgfleet does not render and the server never sees both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

#: field managers of the operators pgfleet takes objects over from (the Zalando operator's)
PREVIOUS_MANAGERS = ("postgres-operator",)
#: pgfleet's own field manager (what module k8s_apply_set uses unless told otherwise)
MANAGER = "pgfleet"
#: {kind: field paths of which the API server accepts at most one}
EXCLUSIVE_FIELDS = {
    "PodDisruptionBudget": (("spec", "minAvailable"), ("spec", "maxUnavailable")),
}


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


def _trie_has(fields, path):
    cur = fields
    for part in path:
        if not isinstance(cur, dict) or "f:" + part not in cur:
            return False
        cur = cur["f:" + part]
    return True


def _trie_without(fields, path):
    """A copy of ``fields`` without ``path``; a map left with no field is dropped as well."""
    out = copy.deepcopy(fields) if isinstance(fields, dict) else {}
    key = "f:" + path[0]
    if key not in out:
        return out
    if len(path) == 1:
        del out[key]
    else:
        rest = _trie_without(out[key], path[1:])
        if rest:
            out[key] = rest
        else:
            del out[key]
    return out


def _trie_of(path):
    out = {}
    for part in reversed(path):
        out = {"f:" + part: out}
    return out


def _is_ours(entry, manager):
    return entry.get("manager") == manager and entry.get("operation") == "Apply"


def exclusive_entries(live, manager=MANAGER):
    """[(entry, [paths])]: the managedFields entries other than ``manager``'s Apply entry that own a field of
    :data:`EXCLUSIVE_FIELDS` (whatever their manager and operation)."""
    paths = EXCLUSIVE_FIELDS.get((live or {}).get("kind")) or ()
    out = []
    for e in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if not isinstance(e, dict) or e.get("subresource") or _is_ours(e, manager):
            continue
        owned = [p for p in paths if _trie_has(e.get("fieldsV1") or {}, p)]
        if owned:
            out.append((e, owned))
    return out


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


def dropped_fields(live, desired, previous=PREVIOUS_MANAGERS, limit=10, manager=MANAGER):
    """Fields the previous operator set that pgfleet does not render (the apply after the takeover
    removes them), as dotted paths; so are the exclusive fields pgfleet does not render, whoever set them."""
    paths = []
    for entry in foreign_entries(live, previous):
        paths.extend(_field_paths(entry.get("fieldsV1") or {}))
    for _entry, owned in exclusive_entries(live, manager):
        paths.extend(owned)
    out = []
    for path in paths:
        dotted = ".".join(path)
        if path and path[0] != "status" and not _has(desired, path) and dotted not in out:
            out.append(dotted)
    return out[:limit] + (["..."] if len(out) > limit else [])


def takeover_patch(live, manager=MANAGER, previous=PREVIOUS_MANAGERS):
    """(JSON patch, [managers taken from]) moving the fields of the ``previous`` managers, and every exclusive
    field (:data:`EXCLUSIVE_FIELDS`) whoever owns it, to ``manager``'s Apply entry; or (None, [])."""
    foreign = foreign_entries(live, previous)
    exclusive = [(e, owned) for e, owned in exclusive_entries(live, manager) if not any(e is f for f in foreign)]
    if not foreign and not exclusive:
        return None, []
    meta = live.get("metadata") or {}
    entries = [e for e in meta.get("managedFields") or [] if isinstance(e, dict)]
    ours = None
    for e in entries:
        if _is_ours(e, manager) and not e.get("subresource"):
            ours = e
    fields = copy.deepcopy((ours or {}).get("fieldsV1") or {})
    for e in foreign:
        fields = merge_fields(fields, e.get("fieldsV1") or {})
    trimmed = {}
    for e, owned in exclusive:
        rest = e.get("fieldsV1") or {}
        for path in owned:
            fields = merge_fields(fields, _trie_of(path))
            rest = _trie_without(rest, path)
        trimmed[id(e)] = rest
    mine = {"manager": manager, "operation": "Apply", "apiVersion": live.get("apiVersion"),
            "fieldsType": "FieldsV1", "fieldsV1": fields}
    if ours and ours.get("time"):
        mine["time"] = ours["time"]
    elif foreign and foreign[-1].get("time"):
        mine["time"] = foreign[-1]["time"]
    elif exclusive[-1][0].get("time"):
        mine["time"] = exclusive[-1][0]["time"]
    kept = []
    for e in entries:
        if e is ours or any(e is f for f in foreign):
            continue
        if id(e) in trimmed:
            if not trimmed[id(e)]:
                continue  # it owned nothing else
            e = dict(e, fieldsV1=trimmed[id(e)])
        kept.append(e)
    patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
             {"op": "replace", "path": "/metadata/managedFields", "value": kept + [mine]}]
    return patch, sorted(set([e["manager"] for e in foreign] + [e.get("manager") or "(no manager)" for e, _owned in exclusive]))
