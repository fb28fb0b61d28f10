# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Password rotation on the local target (docs/design/credentials.md, docs/design/local.md).

The planner is the Kubernetes reconcile's (``postgres/rotation.py`` ``plan_rotation``, run by the
role sync), driven by the same operator configuration keys, manifest fields and annotations. Only
where the rotation state lives differs: on Kubernetes the credential Secret holds ``username``,
``password``, ``nextRotation`` and ``rotatedAt``; here ``state.json`` holds them under
``credentials["secrets"][<secret name>]``. This file translates between the two and never reads a
file or a clock itself (``now`` is given; the caller writes the state).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation as rotation_mod

#: The keys of a credential entry of state.json that the rotation reads and writes.
SECRET_KEYS = rotation_mod.SECRET_KEYS


def rotation_input(model, credentials, now=None):
    """The ``rotation`` argument of ``rolesync.sync_roles`` for ``model``: the policy from the
    model's operator configuration, ``spec`` and ``postgresql`` annotations, the current content of
    every role's credential entry in ``credentials["secrets"]`` (by role name) and ``now`` (an
    aware datetime or RFC 3339 text; the current time when None). Raises ``RotationError``."""
    policy = rotation_mod.policy_from(model.get("config"), model.get("spec"), model.get("cr_annotations"))
    stored = (credentials or {}).get("secrets") or {}
    secrets = {}
    for role in model.get("roles") or []:
        ref = (role.get("secret") or {}).get("name")
        content = stored.get(ref) if ref else None
        if isinstance(content, dict):
            secrets[role["name"]] = dict((k, v) for k, v in content.items() if k in SECRET_KEYS and isinstance(v, str))
    if now is None:
        now = datetime.datetime.now(rotation_mod.UTC)
    return {"policy": policy, "secrets": secrets, "now": rotation_mod.as_utc(now)}


def entry(content):
    """A credential entry of state.json from a planned secret content: a time the plan left out is
    removed (as ``rotation.secret_patch`` removes it from a Secret)."""
    return dict((k, content[k]) for k in SECRET_KEYS if content.get(k))


def store_rotated(credentials, roles, rotated):
    """Put the secret contents the role sync returned (``{role name: content}``) into
    ``credentials`` (changed in place): ``secrets`` by secret name, and ``superuser`` /
    ``replication`` when that role rotated in place. Returns the secret names changed, sorted.

    Call it only after the role sync committed: the roles hold these passwords now."""
    refs = dict((r["name"], (r.get("secret") or {}).get("name")) for r in roles or [])
    secrets = credentials.setdefault("secrets", {})
    changed = []
    for name, content in sorted((rotated or {}).items()):
        ref = refs.get(name)
        if not ref:
            continue
        secrets[ref] = entry(content)
        changed.append(ref)
        for key in ("superuser", "replication"):
            own = credentials.get(key) or {}
            if own.get("username") == name and content.get("username") == name:
                own["password"] = content["password"]
    return changed
