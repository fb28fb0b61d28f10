# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Roles, databases and credential secrets of the model (docs/design/model.md §4).

:func:`desired_roles` merges the roles of every origin (system users, prepared databases, manifest
users, pooler and stream users), :func:`prepared_databases` expands ``spec.preparedDatabases``, and
:func:`credential_secrets` names one Secret per login role (without passwords; those come from
``manifest.attach_credentials``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import roles as pgroles
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets as pgsecrets
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import (
    DBNAME_RE,
    ident_ok,
    skip_or_refuse,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.door import DNS1123_LABEL_RE, DNS1123_SUBDOMAIN_RE
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.names import pooler_name

#: Role origins, lowest precedence first (docs/design/model.md §4: stream > pooler > prepared > system > teams
#: > infrastructure > manifest).
ORIGIN_RANK = {"manifest": 1, "infrastructure": 2, "teams": 3, "system": 4, "prepared": 5, "pooler": 6, "stream": 7}

STREAM_USER = "fes_user"
POOLER_LABEL_APPLICATION = "db-connection-pooler"

# Prepared-database role suffixes: suffix -> the suffix of the role it is a member of.
_DEFAULT_ROLES = (("_owner", ""), ("_reader", ""), ("_writer", "_reader"))
_DEFAULT_USERS = (("_owner_user", "_owner"), ("_reader_user", "_reader"), ("_writer_user", "_writer"))


def prepared_database_default_name(cluster_name):
    """``preparedDatabases: {}`` stands for one database named like the cluster, ``-`` -> ``_``."""
    return cluster_name.replace("-", "_")


def prepared_databases(spec, cfg, cluster_name, p):
    raw = spec.get("preparedDatabases")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        p.error("spec.preparedDatabases", "must be a map of database names", "write e.g. preparedDatabases: {bar: {}}")
        return []
    if not raw:
        raw = {prepared_database_default_name(cluster_name): {}}
    result = []
    for raw_db, conf in sorted(raw.items(), key=lambda kv: str(kv[0])):
        db = str(raw_db)
        field = "spec.preparedDatabases.%s" % db
        if not DBNAME_RE.match(db):
            skip_or_refuse(p, field, "%r is not a valid database name" % db, "use letters, digits and '_', not starting with a digit", db)
            continue
        if pgroles.reserved_database_problem(db):
            p.error(field, pgroles.reserved_database_problem(db), "use another database name")
            continue
        if conf is None:
            conf = {}
        if not isinstance(conf, dict):
            p.error(field, "must be an object", "write defaultUsers, extensions, schemas, secretNamespace")
            continue
        default_users = conf.get("defaultUsers", False)
        if not isinstance(default_users, bool):
            p.error(field + ".defaultUsers", "must be true or false", "write true or false")
            default_users = False
        if ident_ok(db, field, p, "database name"):
            ident_ok(db + ("_writer_user" if default_users else "_writer"), field, p, "generated role name")
        extensions = conf.get("extensions") or {}
        if not isinstance(extensions, dict):
            p.error(field + ".extensions", "must be a map of extension to schema", "write e.g. pgcrypto: public")
            extensions = {}
        ext_out = {}
        for ext, schema in extensions.items():
            ext = str(ext)
            efield = "%s.extensions.%s" % (field, ext)
            if not re.match(r"^[A-Za-z0-9_][-A-Za-z0-9_]*$", ext):
                p.error(efield, "%r is not a valid extension name" % ext, "use the name as in CREATE EXTENSION")
                continue
            ident_ok(ext, efield, p, "extension name")
            if not isinstance(schema, str):
                p.error(efield, "schema %r is not a schema name" % (schema,), "write the schema as text, e.g. public")
                continue
            if not DBNAME_RE.match(schema):
                skip_or_refuse(p, efield, "schema %r is not a valid schema name" % (schema,), "use letters, digits and '_', e.g. public", schema)
                continue
            ident_ok(schema, efield, p, "schema name")
            ext_out[ext] = schema
        schemas = conf.get("schemas")
        if schemas is not None and not isinstance(schemas, dict):
            p.error(field + ".schemas", "must be a map of schema names", "write e.g. schemas: {data: {}}")
            schemas = None
        if not schemas:
            schemas = {"data": {"defaultRoles": True}}
        schema_out = []
        for raw_schema, sconf in sorted(schemas.items(), key=lambda kv: str(kv[0])):
            schema = str(raw_schema)
            sfield = "%s.schemas.%s" % (field, schema)
            if not DBNAME_RE.match(schema):
                skip_or_refuse(p, sfield, "%r is not a valid schema name" % schema, "use letters, digits and '_', not starting with a digit", schema)
                continue
            if sconf is None:
                sconf = {}
            if not isinstance(sconf, dict):
                p.error(sfield, "must be an object", "write defaultRoles, defaultUsers")
                continue
            droles = sconf.get("defaultRoles")
            dusers = sconf.get("defaultUsers", False)
            if droles is not None and not isinstance(droles, bool):
                p.error(sfield + ".defaultRoles", "must be true or false", "write true or false")
                droles = None
            if not isinstance(dusers, bool):
                p.error(sfield + ".defaultUsers", "must be true or false", "write true or false")
                dusers = False
            droles = droles is not False
            if ident_ok(schema, sfield, p, "schema name") and droles:
                ident_ok("%s_%s%s" % (db, schema, "_writer_user" if dusers else "_writer"), sfield, p, "generated role name")
            schema_out.append({"name": schema, "default_roles": droles, "default_users": bool(dusers)})
        secret_ns = conf.get("secretNamespace") or None
        if secret_ns is not None and (not isinstance(secret_ns, str) or not DNS1123_LABEL_RE.match(secret_ns)):
            p.error(field + ".secretNamespace", "%r is not a namespace name" % (secret_ns,), "use an existing namespace")
            secret_ns = None
        if secret_ns and not cfg["enable_cross_namespace_secret"]:
            p.warn("%s.secretNamespace is ignored because enable_cross_namespace_secret is false; secrets go to the cluster namespace" % field)
            secret_ns = None
        result.append({
            "name": db,
            "default_users": default_users,
            "extensions": ext_out,
            "schemas": schema_out,
            "owner": db + "_owner",
            "secret_namespace": secret_ns,
        })
    return result


def prepared_spec(db):
    return {
        "defaultUsers": db["default_users"],
        "extensions": dict(db["extensions"]),
        "schemas": dict((s["name"], {"defaultRoles": s["default_roles"], "defaultUsers": s["default_users"]}) for s in db["schemas"]),
        "secretNamespace": db["secret_namespace"] or "",
    }


def _role(name, origin, flags, member_of=None, admin=None, parameters=None, is_db_owner=False, secret_namespace=None):
    return {
        "name": name,
        "origin": origin,
        "flags": sorted(flags),
        "member_of": list(member_of or []),
        "admin": admin or None,
        "parameters": dict(parameters or {}),
        "password": None,
        "secret": None,
        "is_db_owner": is_db_owner,
        "_secret_namespace": secret_namespace,
    }


def _add_role(roles, role, p):
    current = roles.get(role["name"])
    if current is None:
        roles[role["name"]] = role
        return
    if ORIGIN_RANK[role["origin"]] >= ORIGIN_RANK[current["origin"]]:
        winner, loser = role, current
    else:
        winner, loser = current, role
    if winner["origin"] != loser["origin"]:
        p.warn("role %s is defined twice (%s and %s); the %s definition wins" % (role["name"], loser["origin"], winner["origin"], winner["origin"]))
    roles[role["name"]] = winner


def desired_roles(spec, cfg, cluster_name, users, databases, prepared, pooler, p):
    roles = {}
    # system users (created by Spilo; we own their passwords)
    _add_role(roles, _role(cfg["super_username"], "system", ["LOGIN", "SUPERUSER"]), p)
    _add_role(roles, _role(cfg["replication_username"], "system", ["LOGIN", "REPLICATION"]), p)
    # prepared databases
    for db in prepared:
        dbname = db["name"]
        search_path = _search_path([s["name"] for s in db["schemas"]])
        _prepared_roles(roles, dbname, "admin", search_path, db["default_users"], db["secret_namespace"], p)
        for schema in db["schemas"]:
            if schema["default_roles"]:
                _prepared_roles(roles, "%s_%s" % (dbname, schema["name"]), dbname + "_owner", _search_path([schema["name"]]),
                                schema["default_users"], db["secret_namespace"], p)
    # manifest users
    admin = cfg["team_admin_role"] if cfg["enable_admin_role_for_users"] else None
    owners = set(databases.values())
    for uname, flags in sorted(users.items()):
        ns = None
        if cfg["enable_cross_namespace_secret"] and "." in uname:
            ns = uname.split(".", 1)[0]
        _add_role(roles, _role(uname, "manifest", flags, admin=admin, is_db_owner=uname in owners, secret_namespace=ns), p)
    # pooler and stream users
    if pooler is not None:
        _add_role(roles, _role(pooler["user"], "pooler", ["LOGIN"]), p)
    if spec["streams"]:
        _add_role(roles, _role(STREAM_USER, "stream", ["LOGIN", "REPLICATION"]), p)
    # database owners named in `databases` count as owners whatever their origin
    for owner in owners:
        if owner in roles:
            roles[owner]["is_db_owner"] = True
    # additional owner roles: every DB owner becomes a member
    extra = cfg["additional_owner_roles"]
    if extra:
        for role in roles.values():
            if role["is_db_owner"]:
                for name in extra:
                    if name not in role["member_of"] and name != role["name"]:
                        role["member_of"].append(name)
        for name in extra:
            if name not in roles and ident_ok(name, "config.additional_owner_roles", p, "role name"):
                _add_role(roles, _role(name, "system", []), p)
    return _order_roles(roles)


def _search_path(schemas):
    """The ``search_path`` of a prepared role as docs/design/model.md §4 writes it: ``"$user", "s1", "s2"``, every name
    double-quoted (``"`` doubled), the form ``rolesync.split_list_guc`` reads back."""
    return ", ".join('"%s"' % name.replace('"', '""') for name in ["$user"] + list(schemas))


def _prepared_roles(roles, prefix, admin, search_path, with_users, secret_ns, p):
    defs = list(_DEFAULT_ROLES) + (list(_DEFAULT_USERS) if with_users else [])
    for suffix, inherits in defs:
        name = prefix + suffix
        is_owner = "_owner" in suffix
        login = suffix.endswith("_user")
        _add_role(roles, _role(name, "prepared", ["LOGIN"] if login else [],
                               member_of=[prefix + inherits] if inherits else [],
                               admin=admin if is_owner else prefix + "_owner",
                               parameters={"search_path": search_path},
                               is_db_owner=is_owner,
                               secret_namespace=secret_ns if login else None), p)


def _order_roles(roles):
    """Origin order, then name; a role comes after the roles it is a member of or administered by."""
    names = sorted(roles, key=lambda n: (_ORDER.index(roles[n]["origin"]), n))
    done = []
    placed = set()

    def place(name, stack):
        if name in placed or name not in roles or name in stack:
            return
        stack = stack | {name}
        for dep in roles[name]["member_of"] + ([roles[name]["admin"]] if roles[name]["admin"] else []):
            place(dep, stack)
        placed.add(name)
        done.append(roles[name])

    for name in names:
        place(name, frozenset())
    return done


_ORDER = ("system", "infrastructure", "prepared", "manifest", "teams", "pooler", "stream")


def index_existing(existing):
    """Existing secrets -> {"ns/name" or "name": {"username", "password"}}."""
    index = {}
    if not existing:
        return index
    items = existing.items() if isinstance(existing, dict) else ((None, s) for s in existing)
    for key, value in items:
        if not isinstance(value, dict):
            continue
        if "data" in value or value.get("kind") == "Secret" or "stringData" in value:
            meta = value.get("metadata") or {}
            creds = pgsecrets.decode_secret_data(value)
            name = meta.get("name") or key
            if meta.get("namespace") and name:
                index["%s/%s" % (meta["namespace"], name)] = creds
            if key is not None:
                index[key] = creds
            elif name:
                index.setdefault(name, creds)
        elif key is not None:
            index[key] = value
    return index


def credential_secrets(roles, cfg, cluster_name, namespace, labels, inherited, p):
    result = []
    seen = {}
    pooler_labels = dict(labels["selector"])
    pooler_labels["application"] = POOLER_LABEL_APPLICATION
    pooler_labels["connection-pooler"] = pooler_name(cluster_name, "master")
    for role in roles:
        secret_ns = role.pop("_secret_namespace", None) or namespace
        if "LOGIN" not in role["flags"]:
            continue
        name = pgsecrets.secret_name(role["name"], cluster_name, cfg)
        field = "spec.users.%s" % role["name"] if role["origin"] == "manifest" else "config.secret_name_template"
        if len(name) > 253 or not DNS1123_SUBDOMAIN_RE.match(name):
            p.error(field, "the secret name %r made from secret_name_template is not a valid Secret name" % name,
                    "use a shorter user name or fix secret_name_template")
            continue
        if (secret_ns, name) in seen:
            p.error(field, "secret %s/%s would hold the credentials of both %s and %s" % (secret_ns, name, seen[(secret_ns, name)], role["name"]),
                    "rename one of the roles")
            continue
        seen[(secret_ns, name)] = role["name"]
        role["secret"] = {"name": name, "namespace": secret_ns}
        result.append({
            "name": name,
            "namespace": secret_ns,
            "username": role["name"],
            "password": None,
            "role": role["name"],
            "labels": dict(pooler_labels if role["origin"] == "pooler" else labels["object"]),
            "annotations": dict(inherited),
        })
    for role in roles:
        role.pop("_secret_namespace", None)
    if p.errors:
        raise ManifestErrors(p.errors)
    return result
