# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Database sync: ``databases`` and ``preparedDatabases`` (docs/sql-sync.md).

``model["databases"]`` (``{db: owner}``) and ``model["prepared_databases"]`` (CONTRACTS.md) ->
snapshot -> plan -> apply, like ``rolesync``:

* ``read_snapshot`` reads ``pg_database``/``pg_roles``/``pg_available_extensions`` once on the
  maintenance database, then ``pg_namespace``, ``pg_extension`` and ``pg_default_acl`` once in
  every prepared database that exists;
* ``plan_databases`` is pure and validates everything (names, 63-byte limit of derived role names,
  owners, extensions) before a statement exists;
* ``apply_plan`` runs owner changes in one transaction on the maintenance database, each
  ``CREATE DATABASE`` on its own (PostgreSQL cannot run it inside a transaction block), then ONE
  transaction per prepared database (schemas, schema grants, default privileges, extensions).

Default privileges are computed for every (owner, schema) pair of a prepared database and compared with
``pg_default_acl`` on **every** sync, for new and existing databases and schemas alike, so a
database moved from ``databases`` to ``preparedDatabases``, an existing schema such as
``public`` or ``defaultUsers`` turned on later all converge. Grants are additive: nothing is
revoked or dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    ManifestError,
    ManifestErrors,
    PostgresError,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.roles import RESERVED_DATABASES
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import (
    Session,
    ident,
    idents,
    keywords,
    names_ok,
    stmt,
)

READ_WORKERS = 4
OBJECT_KEYWORDS = {"n": "SCHEMAS", "r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}
PRIVILEGE_ORDER = ["SELECT", "INSERT", "UPDATE", "DELETE", "USAGE", "EXECUTE"]

CLUSTER_DATABASES = "SELECT datname, pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database"
CLUSTER_ROLES = "SELECT rolname FROM pg_catalog.pg_roles"
CLUSTER_EXTENSIONS = "SELECT name FROM pg_catalog.pg_available_extensions"
DB_SCHEMAS = """
SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner),
       COALESCE((SELECT array_agg(pg_catalog.pg_get_userbyid(a.grantee) ORDER BY 1)
                   FROM pg_catalog.aclexplode(n.nspacl) a
                  WHERE a.privilege_type = 'USAGE' AND a.grantee <> 0), '{}')
  FROM pg_catalog.pg_namespace n
 WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
"""
DB_EXTENSIONS = """
SELECT e.extname, n.nspname
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
"""
DB_DEFAULT_ACL = """
SELECT pg_catalog.pg_get_userbyid(d.defaclrole), COALESCE(n.nspname, ''), d.defaclobjtype::text,
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
       a.privilege_type
  FROM pg_catalog.pg_default_acl d
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
 CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a
"""


def fresh_database():
    """What a database created from an untouched template1 looks like (used for planning)."""
    return {
        "schemas": {"public": {"owner": "pg_database_owner", "usage": []}},
        "extensions": {"plpgsql": "pg_catalog"},
        "default_acl": {},
    }


# --- catalog ------------------------------------------------------------------------------------


def read_database(session):
    schemas = {}
    for name, owner, usage in session.fetch(DB_SCHEMAS):
        schemas[name] = {"owner": owner, "usage": sorted(usage or [])}
    extensions = dict(session.fetch(DB_EXTENSIONS))
    default_acl = {}
    for owner, schema, objtype, grantee, privilege in session.fetch(DB_DEFAULT_ACL):
        default_acl.setdefault((owner, schema, objtype), {}).setdefault(grantee, set()).add(privilege)
    return {"schemas": schemas, "extensions": extensions, "default_acl": default_acl}


def read_snapshot(params, prepared_names):
    """Cluster-level facts from the maintenance database, plus ``read_database`` of every prepared
    database that exists."""
    with Session(params) as session:
        databases = dict(session.fetch(CLUSTER_DATABASES))
        roles = sorted(r[0] for r in session.fetch(CLUSTER_ROLES))
        available = sorted(r[0] for r in session.fetch(CLUSTER_EXTENSIONS))
    existing = [name for name in prepared_names if name in databases]

    def read_one(name):
        with Session(params, dbname=name) as session:
            return read_database(session)

    # One connection per database; a few at a time (connecting dominates a no-op sync).
    if len(existing) > 1:
        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            per_db = dict(zip(existing, pool.map(read_one, existing)))  # noqa: B905 (no strict= before Python 3.10)
    else:
        per_db = {name: read_one(name) for name in existing}
    return {"databases": databases, "roles": roles, "available_extensions": available, "per_db": per_db}


# --- desired state ------------------------------------------------------------------------------


def _derived(name, field, errors):
    return name if names_ok(errors, (name, field, "derived role name")) else None


def normalise_prepared(prepared, errors):
    """Validated prepared databases with every derived role name spelled out."""
    out = []
    seen = set()
    for index, raw in enumerate(prepared or []):
        field = "prepared_databases[%d]" % index
        if not isinstance(raw, dict):
            errors.append(ManifestError(field, "must be a mapping, got %r" % (raw,), "see docs/sql-sync.md"))
            continue
        name = raw.get("name")
        if not names_ok(errors, (name, field + ".name", "database name")):
            continue
        field = "prepared_databases[%s]" % name
        if name in RESERVED_DATABASES:
            errors.append(ManifestError(field, "%r is a system database" % name, "choose another database name"))
            continue
        if name in seen:
            errors.append(ManifestError(field, "the database is listed twice", "list it once"))
            continue
        seen.add(name)
        default_users = bool(raw.get("default_users"))
        db = {
            "name": name,
            "default_users": default_users,
            "owner": raw.get("owner") or name + "_owner",
            "db_owner": _derived(name + "_owner", field, errors),
            "reader": _derived(name + "_reader", field, errors),
            "writer": _derived(name + "_writer", field, errors),
            "owner_user": _derived(name + "_owner_user", field, errors) if default_users else None,
            "schemas": [],
            "extensions": {},
        }
        names_ok(errors, (db["owner"], field + ".owner", "role name"))
        raw_schemas = raw.get("schemas")
        if not raw_schemas:
            raw_schemas = [{"name": "data", "default_roles": True, "default_users": False}]
        schema_names = set()
        for sindex, s in enumerate(raw_schemas):
            sfield = "%s.schemas[%d]" % (field, sindex)
            sname = s.get("name") if isinstance(s, dict) else None
            if not names_ok(errors, (sname, sfield + ".name", "schema name")):
                continue
            if sname.startswith("pg_") or sname == "information_schema":
                errors.append(ManifestError(sfield, "schema name %r is reserved by PostgreSQL" % sname,
                                            "choose another schema name"))
                continue
            if sname in schema_names:
                errors.append(ManifestError(sfield, "schema %r is listed twice" % sname, "list it once"))
                continue
            schema_names.add(sname)
            own = s.get("default_roles") is not False
            s_users = bool(s.get("default_users")) and own
            prefix = "%s_%s" % (name, sname)
            entry = {"name": sname, "own_roles": own, "default_users": s_users}
            if own:
                entry["owner"] = _derived(prefix + "_owner", sfield, errors)
                entry["reader"] = _derived(prefix + "_reader", sfield, errors)
                entry["writer"] = _derived(prefix + "_writer", sfield, errors)
                entry["owner_user"] = _derived(prefix + "_owner_user", sfield, errors) if s_users else None
            else:
                entry["owner"] = db["db_owner"]
            db["schemas"].append(entry)
        for ext, ext_schema in (raw.get("extensions") or {}).items():
            efield = "%s.extensions.%s" % (field, ext)
            if not names_ok(errors, (ext, efield, "extension name"), (ext_schema, efield, "schema name")):
                continue
            db["extensions"][ext] = ext_schema
        out.append(db)
    return out


def default_privilege_specs(db):
    """Every desired default privilege of a prepared database (always, see docs/sql-sync.md).

    Returns ``(acl, usage)``: ``acl`` maps ``(owner, schema or "", objtype)`` to
    ``{grantee: {privileges}}``; ``usage`` maps schema -> grantees that need USAGE on it.
    """
    acl, usage = {}, {}

    def add(owner, schema, reader, writer):
        if not owner:
            return
        wanted = [("r", reader, ["SELECT"]), ("r", writer, ["INSERT", "UPDATE", "DELETE"]),
                  ("S", reader, ["SELECT"]), ("S", writer, ["USAGE", "UPDATE"]),
                  ("f", reader, ["EXECUTE"]), ("f", writer, ["EXECUTE"]),
                  ("T", reader, ["USAGE"]), ("T", writer, ["USAGE"])]
        if schema == "":
            wanted += [("n", writer, ["USAGE"]), ("n", reader, ["USAGE"])]
        else:
            usage.setdefault(schema, set()).update([reader, writer])
        for objtype, grantee, privs in wanted:
            acl.setdefault((owner, schema, objtype), {}).setdefault(grantee, set()).update(privs)

    # Step 1: global default privileges of the database owner roles.
    for owner in [db["db_owner"], db["owner_user"]]:
        add(owner, "", db["reader"], db["writer"])
    # Step 2: per schema, (a)-(d).
    for s in db["schemas"]:
        name = s["name"]
        add(s["owner"], name, db["reader"], db["writer"])  # (a)
        if s["own_roles"]:
            if s["default_users"]:
                add(s["owner_user"], name, db["reader"], db["writer"])  # (b)
            for owner in [db["db_owner"], db["owner_user"], s["owner"], s.get("owner_user")]:  # (c)
                add(owner, name, s["reader"], s["writer"])
        elif db["default_users"]:
            add(db["owner_user"], name, db["reader"], db["writer"])  # (d)
    return acl, usage


def _privs_sql(privs):
    return keywords([", ".join(p for p in PRIVILEGE_ORDER if p in privs)])


def _described(owner, schema, objtype, privs, grantees):
    where = (" IN SCHEMA %s" % schema) if schema else ""
    return "FOR ROLE %s%s: %s ON %s TO %s" % (owner, where, ", ".join(p for p in PRIVILEGE_ORDER if p in privs),
                                              OBJECT_KEYWORDS[objtype], ", ".join(grantees))


# --- plan ---------------------------------------------------------------------------------------


class Action(object):
    __slots__ = ("kind", "database", "detail", "statements")

    def __init__(self, kind, database, statements, **detail):
        self.kind = kind
        self.database = database
        self.statements = statements
        self.detail = detail

    def to_dict(self):
        out = {"action": self.kind, "database": self.database}
        out.update(self.detail)
        return out


class DatabasePlan(object):
    """``cluster``: owner changes (one transaction on the maintenance database); ``create``: one
    ``CREATE DATABASE`` each; ``per_db``: ``{db: [actions]}``, one transaction per database."""

    def __init__(self):
        self.cluster = []
        self.create = []
        self.per_db = {}
        self.prepared = {}
        self.missing_roles = []
        self.warnings = []
        self.diff = {"before": {}, "after": {}}

    @property
    def changed(self):
        return bool(self.cluster or self.create or any(self.per_db.values()))

    def all_actions(self):
        out = list(self.cluster) + list(self.create)
        for actions in self.per_db.values():
            out += actions
        return out

    def queries(self):
        return [s.render() for a in self.all_actions() for s in a.statements]

    def action_dicts(self):
        return [a.to_dict() for a in self.all_actions()]


def plan_database(db, state, roles=None):
    """Actions for one prepared database, given its catalog ``state`` (``read_database`` shape).

    Returns ``(actions, before, after, warnings)``.
    """
    actions, warnings = [], []
    name = db["name"]
    schemas = state["schemas"]
    # Schemas that do not exist yet: CREATE SCHEMA ... AUTHORIZATION <owner>.
    for s in db["schemas"]:
        cur = schemas.get(s["name"])
        if cur is None:
            actions.append(Action("create_schema", name, [
                stmt("CREATE SCHEMA {} AUTHORIZATION {}", ident(s["name"]), ident(s["owner"]))],
                schema=s["name"], owner=s["owner"]))
        elif cur["owner"] != s["owner"] and not (cur["owner"] == "pg_database_owner" and s["owner"] == db["db_owner"]):
            warnings.append("schema %s in database %s is owned by %s, not %s; its owner is left as it is"
                            % (s["name"], name, cur["owner"], s["owner"]))
    acl, usage = default_privilege_specs(db)
    # USAGE on the listed schemas for the reader/writer roles.
    for schema in [s["name"] for s in db["schemas"]]:
        have = set((schemas.get(schema) or {}).get("usage") or [])
        owner = (schemas.get(schema) or {}).get("owner")
        missing = sorted(g for g in usage.get(schema, ()) if g not in have and g != owner)
        if missing:
            actions.append(Action("grant_schema_usage", name, [
                stmt("GRANT USAGE ON SCHEMA {} TO {}", ident(schema), idents(missing))],
                schema=schema, grantees=missing))
    # Default privileges: compare every desired (owner, schema, type, grantee) with pg_default_acl.
    granted = []
    for key in sorted(acl):
        owner, schema, objtype = key
        have = state["default_acl"].get(key, {})
        by_privs = {}
        for grantee, privs in sorted(acl[key].items()):
            missing = frozenset(privs - have.get(grantee, set()))
            if missing:
                by_privs.setdefault(missing, []).append(grantee)
        for privs, grantees in sorted(by_privs.items(), key=lambda kv: sorted(kv[0])):
            where = stmt(" IN SCHEMA {}", ident(schema)).query if schema else stmt("").query
            statement = stmt("ALTER DEFAULT PRIVILEGES FOR ROLE {}{} GRANT {} ON {} TO {}", ident(owner), where,
                             _privs_sql(privs), keywords([OBJECT_KEYWORDS[objtype]]), idents(grantees))
            text = _described(owner, schema, objtype, privs, grantees)
            granted.append(text)
            actions.append(Action("grant_default_privileges", name, [statement], owner=owner, schema=schema or None,
                                  objects=OBJECT_KEYWORDS[objtype], privileges=sorted(privs), grantees=grantees))
    # Extensions: created or moved as the superuser, never dropped.
    known_schemas = set(schemas) | {s["name"] for s in db["schemas"]}
    for ext, schema in sorted(db["extensions"].items()):
        cur = state["extensions"].get(ext)
        if cur == schema:
            continue
        if schema not in known_schemas:
            raise ManifestErrors([ManifestError(
                "prepared_databases[%s].extensions.%s" % (name, ext),
                "schema %r does not exist in database %s and is not listed in its schemas" % (schema, name),
                "add the schema to schemas or install the extension into an existing schema")])
        if cur is None:
            actions.append(Action("create_extension", name, [
                stmt("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}", ident(ext), ident(schema))],
                extension=ext, schema=schema))
        else:
            actions.append(Action("move_extension", name, [
                stmt("ALTER EXTENSION {} SET SCHEMA {}", ident(ext), ident(schema))],
                extension=ext, schema=schema, previous_schema=cur))
    before = after = None
    if actions:
        before = {
            "schemas": {s: schemas[s]["owner"] for s in sorted(schemas)},
            "extensions": dict(sorted(state["extensions"].items())),
        }
        after = {
            "schemas": dict(before["schemas"], **{a.detail["schema"]: a.detail["owner"]
                                                  for a in actions if a.kind == "create_schema"}),
            "extensions": dict(before["extensions"], **db["extensions"]),
            "granted": granted + ["USAGE ON SCHEMA %s TO %s" % (a.detail["schema"], ", ".join(a.detail["grantees"]))
                                  for a in actions if a.kind == "grant_schema_usage"],
        }
    return actions, before, after, warnings


def plan_databases(databases, prepared, snapshot, check_roles=True):
    """The whole plan. Raises ``ManifestErrors`` on invalid input; in ``plan.missing_roles`` lists
    roles it needs that do not exist (an error when applying, a warning in check mode)."""
    errors = []
    plan = DatabasePlan()
    wanted = {}
    for name, owner in (databases or {}).items():
        field = "databases[%s]" % name
        if not names_ok(errors, (name, field, "database name"), (owner, field, "owner role name")):
            continue
        if name in RESERVED_DATABASES:
            errors.append(ManifestError(field, "%r is a system database" % name, "choose another database name"))
            continue
        wanted[name] = owner
    preps = normalise_prepared(prepared, errors)
    available = set(snapshot.get("available_extensions") or [])
    for db in preps:
        for ext in db["extensions"]:
            if available and ext not in available:
                errors.append(ManifestError("prepared_databases[%s].extensions.%s" % (db["name"], ext),
                                            "extension %r is not available on this server" % ext,
                                            "install its package on the database hosts or remove it"))
    if errors:
        raise ManifestErrors(errors)
    for db in preps:
        if db["name"] in wanted and wanted[db["name"]] != db["owner"]:
            plan.warnings.append("database %s is listed in databases and preparedDatabases; its owner comes from "
                                 "databases (%s)" % (db["name"], wanted[db["name"]]))
        wanted.setdefault(db["name"], db["owner"])
        plan.prepared[db["name"]] = db

    # Roles this plan refers to.
    live_roles = set(snapshot.get("roles") or [])
    needed = set(wanted.values())
    for db in preps:
        needed.update(r for r in (db["db_owner"], db["reader"], db["writer"], db["owner_user"]) if r)
        for s in db["schemas"]:
            needed.update(r for r in (s["owner"], s.get("reader"), s.get("writer"), s.get("owner_user")) if r)
    plan.missing_roles = sorted(needed - live_roles)

    live_dbs = snapshot["databases"]
    for name, owner in wanted.items():
        if name not in live_dbs:
            plan.create.append(Action("create_database", name, [
                stmt("CREATE DATABASE {} OWNER {}", ident(name), ident(owner))], owner=owner))
            plan.diff["before"][name] = None
            plan.diff["after"][name] = {"owner": owner}
        elif live_dbs[name] != owner:
            plan.cluster.append(Action("alter_database_owner", name, [
                stmt("ALTER DATABASE {} OWNER TO {}", ident(name), ident(owner))],
                owner=owner, previous_owner=live_dbs[name]))
            plan.diff["before"][name] = {"owner": live_dbs[name]}
            plan.diff["after"][name] = {"owner": owner}
    for db in preps:
        state = snapshot["per_db"].get(db["name"]) or fresh_database()
        _add_db_plan(plan, db, state)
    return plan


def _add_db_plan(plan, db, state):
    actions, before, after, warnings = plan_database(db, state)
    name = db["name"]
    plan.per_db[name] = actions
    plan.warnings += warnings
    if actions:
        plan.diff["before"].setdefault(name, {})
        plan.diff["after"].setdefault(name, {})
        if plan.diff["before"][name] is not None:
            plan.diff["before"][name].update(before)
        plan.diff["after"][name].update(after)


# --- apply --------------------------------------------------------------------------------------


def apply_plan(plan, params, check_mode=False):
    """Execute ``plan``; returns ``(writes, queries, not_run)`` where ``not_run`` lists the
    statements shown but not sent (check mode: CREATE DATABASE and everything inside new ones)."""
    writes, queries, not_run = 0, [], []

    def run(session, actions, commit):
        nonlocal writes, queries
        try:
            for action in actions:
                session.run_all(action.statements)
            session.finish(commit=commit)
        finally:
            writes += session.writes
            queries += session.queries
            session.close()

    if check_mode and plan.missing_roles:
        # Role sync ran in check mode too: the roles are not there, so nothing can be tried.
        not_run = plan.queries()
        return writes, queries, not_run
    if plan.missing_roles:
        raise PostgresError(
            "roles needed by the databases do not exist: %s; run pgfleet.postgres.postgresql_role_sync with the "
            "same model first" % ", ".join(plan.missing_roles), missing_roles=plan.missing_roles)

    if plan.cluster:
        run(Session(params).connect(), plan.cluster, commit=not check_mode)
    created = set()
    for action in plan.create:
        if check_mode:
            not_run += [s.render() for s in action.statements]
            continue
        # CREATE DATABASE cannot run inside a transaction block: autocommit, one at a time.
        run(Session(params, autocommit=True).connect(), [action], commit=True)
        created.add(action.database)
    for name, actions in plan.per_db.items():
        if name in created:
            # Re-read the new database (template1 may differ from a fresh one) and re-plan it.
            with Session(params, dbname=name) as session:
                state = read_database(session)
            _add_db_plan(plan, plan.prepared[name], state)
            actions = plan.per_db[name]
        elif check_mode and any(a.database == name for a in plan.create):
            not_run += [s.render() for a in actions for s in a.statements]
            continue
        if actions:
            run(Session(params, dbname=name).connect(), actions, commit=not check_mode)
    return writes, queries, not_run


def sync_databases(params, databases, prepared, check_mode=False):
    """Read, plan, apply. Returns a result dict for ``exit_json``."""
    names = []
    for raw in prepared or []:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            names.append(raw["name"])
    # Validate before touching the server at all (names are used to connect).
    errors = []
    normalise_prepared(prepared, errors)
    if errors:
        raise ManifestErrors(errors)
    snapshot = read_snapshot(params, names)
    plan = plan_databases(databases, prepared, snapshot)
    writes, queries, not_run = apply_plan(plan, params, check_mode=check_mode)
    warnings = list(dict.fromkeys(plan.warnings))  # a re-planned new database may repeat one
    if check_mode and plan.missing_roles:
        warnings.append("roles %s do not exist yet, so the plan was not tried against the server (normal when "
                        "role sync ran in check mode too)" % ", ".join(plan.missing_roles))
    return {
        "changed": plan.changed,
        "queries": queries,
        "planned_queries": not_run,
        "statements": writes,
        "actions": plan.action_dicts(),
        "diff": plan.diff,
        "warnings": warnings,
    }
