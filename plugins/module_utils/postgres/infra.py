# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Infrastructure roles: roles defined once for every cluster, from Secrets (two formats) and
optional ConfigMaps. Never rotated (the rotation skips origin ``infrastructure``). See
docs/design/credentials.md.

* ``infrastructure_roles_secret_name`` (older form): one Secret with numbered keys ``user1``,
  ``password1``, ``inrole1``, ``user2``, ...
* ``infrastructure_roles_secrets``: a list of definitions ``{secretname, userkey, passwordkey,
  rolekey, defaultuservalue, defaultrolevalue, template}``. Without ``template`` a definition is
  one role (the values under those keys, or the defaults); with ``template: true`` the keys are
  prefixes of numbered keys, as in the older form.
* A ConfigMap named like the Secret may describe roles further: per role name, YAML with
  ``inrole`` (list), ``user_flags`` (list) and ``db_parameters`` (map).

Pure: the caller passes the objects it read (``data`` base64 for Secrets, plain for ConfigMaps).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import check_name

LEGACY = {"secretname": None, "userkey": "user", "passwordkey": "password", "rolekey": "inrole", "template": True}
MAX_ROLES = 1000
FLAG_RE = re.compile(r"^[A-Za-z]+$")

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None
    HAS_YAML = False


def _decode(secret):
    out = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        if isinstance(key, str) and isinstance(value, str):
            try:
                out[key] = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
    for key, value in ((secret or {}).get("stringData") or {}).items():
        if isinstance(key, str) and isinstance(value, str):
            out[key] = value
    return out


def _name_of(obj):
    meta = (obj or {}).get("metadata") or {}
    return meta.get("namespace"), meta.get("name")


def _find(objects, ref, default_ns):
    """The object named by ``ref`` (``ns/name`` or ``name`` in ``default_ns``)."""
    ns, _sep, name = ref.rpartition("/")
    ns = ns or default_ns
    for obj in objects or []:
        if isinstance(obj, dict):
            found_ns, found_name = _name_of(obj)
            if found_name == name and (found_ns or default_ns) == ns:
                return obj
    return None


def _details(configmap, warnings, where):
    """{role: {"inrole": [...], "user_flags": [...], "db_parameters": {...}}} from a ConfigMap."""
    out = {}
    for role, text in ((configmap or {}).get("data") or {}).items():
        if not isinstance(text, str):
            continue
        try:
            value = yaml.safe_load(text) if HAS_YAML else json.loads(text)
        except Exception:  # noqa: BLE001 - any parse failure is reported the same way
            warnings.append("%s: key %s is not YAML; ignored" % (where, role))
            continue
        if not isinstance(value, dict):
            warnings.append("%s: key %s must be a mapping with inrole, user_flags, db_parameters; ignored" % (where, role))
            continue
        out[role] = value
    return out


def _role(user, password, inrole, detail, warnings, where):
    try:
        check_name(user, where, "role name")
    except ManifestError as err:
        warnings.append("%s; skipped" % err.msg)
        return None
    if not password:
        warnings.append("%s: role %s has no password; skipped" % (where, user))
        return None
    member_of = [inrole] if inrole else []
    flags = ["LOGIN"]
    parameters = {}
    detail = detail or {}
    for item in detail.get("inrole") or []:
        if isinstance(item, str) and item and item not in member_of:
            member_of.append(item)
    for flag in detail.get("user_flags") or []:
        if isinstance(flag, str) and FLAG_RE.match(flag) and flag.upper() not in flags:
            flags.append(flag.upper())
    if isinstance(detail.get("db_parameters"), dict):
        parameters = dict((str(k), v) for k, v in detail["db_parameters"].items() if v is not None)
    if "NOLOGIN" in flags:
        flags.remove("LOGIN")
    return {"name": user, "origin": "infrastructure", "flags": sorted(flags), "member_of": member_of, "admin": None,
            "parameters": parameters, "password": password}


def _numbered(data, definition, details, warnings, where):
    roles = []
    user_key, pw_key, role_key = (definition.get("userkey") or "user", definition.get("passwordkey") or "password",
                                  definition.get("rolekey") or "inrole")
    for index in range(1, MAX_ROLES + 1):
        user = data.get("%s%d" % (user_key, index))
        if user is None:
            break
        role = _role(user, data.get("%s%d" % (pw_key, index)),
                     data.get("%s%d" % (role_key, index)) or definition.get("defaultrolevalue"),
                     details.get(user), warnings, "%s: %s%d" % (where, user_key, index))
        if role:
            roles.append(role)
    return roles


def infrastructure_roles(config, secrets, configmaps=(), namespace=None):
    """(roles, warnings, complete). ``complete`` is False when a named Secret was not among the
    objects given (the caller could not read it): existing roles are then simply kept."""
    warnings, roles, complete = [], [], True
    definitions = []
    if config.get("infrastructure_roles_secret_name"):
        definitions.append(dict(LEGACY, secretname=config["infrastructure_roles_secret_name"]))
    for i, item in enumerate(config.get("infrastructure_roles_secrets") or []):
        if not isinstance(item, dict) or not isinstance(item.get("secretname"), str) or not item["secretname"]:
            warnings.append("config.infrastructure_roles_secrets[%d]: needs secretname; ignored" % i)
            continue
        definitions.append(item)
    for definition in definitions:
        ref = definition["secretname"]
        where = "infrastructure role secret %s" % ref
        secret = _find(secrets, ref, namespace)
        if secret is None:
            warnings.append("%s: not found or not readable; its roles are kept as they are" % where)
            complete = False
            continue
        data = _decode(secret)
        details = _details(_find(configmaps, ref, namespace), warnings, "infrastructure role configmap %s" % ref)
        if definition.get("template"):
            roles += _numbered(data, definition, details, warnings, where)
            continue
        user = data.get(definition.get("userkey") or "user") or definition.get("defaultuservalue")
        password = data.get(definition.get("passwordkey") or "password")
        inrole = data.get(definition.get("rolekey") or "inrole") or definition.get("defaultrolevalue")
        role = _role(user, password, inrole, details.get(user) if isinstance(user, str) else None, warnings, where)
        if role:
            roles.append(role)
    # a role defined twice: the first definition wins, the other is reported
    seen, out = {}, []
    for role in roles:
        if role["name"] in seen:
            warnings.append("infrastructure role %s is defined twice; the first definition wins" % role["name"])
            continue
        seen[role["name"]] = True
        out.append(role)
    return out, warnings, complete
