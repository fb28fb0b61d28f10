# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Role sync: desired roles (``model["roles"]``, see docs/dev/CONTRACTS.md) -> plan -> one transaction.

(About 800 lines: reading, planning and applying one catalog belong together; rotation, team
members and infrastructure roles live in rotation.py, teams.py and infra.py.)

Three steps, each usable alone:

* ``read_snapshot(session)`` reads the live catalog once (``pg_authid`` with the role-level rows
  of ``pg_db_role_setting``, ``pg_auth_members``, the database list for drops);
* ``plan_roles(desired, snapshot, ...)`` is pure: it validates every desired role (names, flags,
  parameters, references) and raises ``ManifestErrors`` before anything runs, then returns a
  ``RolePlan`` of typed actions, each with its statements;
* ``apply_plan(plan, params, check_mode)`` runs the plan in ONE transaction on the maintenance
  database, committed, or rolled back in check mode. The opt-in drop of removed roles is the one
  exception: ``REASSIGN OWNED``/``DROP OWNED`` must run inside each database, so it takes one
  transaction per database, and ``DROP ROLE`` a last one.

Semantics (docs/sql-sync.md; rotation and team members: docs/design/credentials.md):

* missing roles are created with their flags and password; flags converge both ways;
* passwords are compared by verifier (``scram.verify``): an unchanged password runs nothing;
* memberships converge exactly between managed roles (roles in ``desired``); memberships of a
  managed role in an unmanaged role are granted when asked for and never revoked;
* role-level parameters converge exactly for a role that has desired parameters; a role with
  none keeps whatever was set by hand;
* nothing is dropped unless ``drop_removed`` is set, and then only the listed ``removed`` roles.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    ManifestError,
    ManifestErrors,
    PostgresError,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.roles import (
    RESERVED_ROLE_NAMES,
    RESERVED_ROLE_PREFIX,
    VALID_FLAGS,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation as rotation_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import scram
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import teams as teams_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import (
    MASK,
    Session,
    Statement,
    ident,
    idents,
    keywords,
    literal,
    names_ok,
    sql,
    stmt,
)

# Flag keyword -> (pg_authid column, value of a role created without the keyword).
ATTRIBUTES = {
    "SUPERUSER": ("rolsuper", False),
    "CREATEDB": ("rolcreatedb", False),
    "CREATEROLE": ("rolcreaterole", False),
    "INHERIT": ("rolinherit", True),
    "LOGIN": ("rolcanlogin", False),
    "REPLICATION": ("rolreplication", False),
    "BYPASSRLS": ("rolbypassrls", False),
}
ATTRIBUTE_ORDER = ["SUPERUSER", "CREATEDB", "CREATEROLE", "INHERIT", "LOGIN", "REPLICATION", "BYPASSRLS"]
# The flag vocabulary (VALID_FLAGS) is the model's: one list for the manifest check and this sync.

# GUCs whose value is a list of identifiers: sent as a list, never as one quoted string.
LIST_GUCS = frozenset(["search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries"])
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$")
# Above this many password checks, verify them on a small thread pool (PBKDF2 releases the GIL).
PARALLEL_VERIFY_FROM = 32

SYNC_LOCAL = Statement(sql.SQL("SET LOCAL synchronous_commit = 'local'")) if sql is not None else None

ROLES_QUERY = """
SELECT a.rolname, a.rolsuper, a.rolcreatedb, a.rolcreaterole, a.rolinherit, a.rolcanlogin,
       a.rolreplication, a.rolbypassrls, a.rolpassword, s.setconfig
  FROM pg_catalog.pg_authid a
  LEFT JOIN pg_catalog.pg_db_role_setting s ON s.setrole = a.oid AND s.setdatabase = 0
"""
MEMBERS_QUERY = """
SELECT r.rolname, m.rolname, am.admin_option, pg_catalog.pg_get_userbyid(am.grantor)
  FROM pg_catalog.pg_auth_members am
  JOIN pg_catalog.pg_authid r ON r.oid = am.roleid
  JOIN pg_catalog.pg_authid m ON m.oid = am.member
"""
# From PostgreSQL 16 on, a membership can be granted several times by different grantors, and
# REVOKE only removes the grant of one grantor: revokes name each grantor (GRANTED BY).
GRANTORS_FROM_VERSION = 160000
DATABASES_QUERY = """
SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname
"""


# --- values -------------------------------------------------------------------------------------


def split_list_guc(value):
    """``'"$user", data'`` -> ``["$user", "data"]``: split at commas outside double quotes.

    Quoted parts are unquoted (``""`` -> ``"``) and kept as they are; whitespace outside quotes
    is dropped. Unquoted names are taken verbatim (not lower-cased), so a schema named
    ``MySchema`` stays ``MySchema`` (it is sent quoted).
    """
    items, cur, quoted, seen_quote, i = [], [], False, False, 0
    value = value or ""
    while i < len(value):
        c = value[i]
        if quoted:
            if c == '"':
                if i + 1 < len(value) and value[i + 1] == '"':
                    cur.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cur.append(c)
        elif c == '"':
            quoted = seen_quote = True
        elif c == ",":
            items.append(("".join(cur), seen_quote))
            cur, seen_quote = [], False
        elif not c.isspace():
            cur.append(c)
        elif cur and not seen_quote:
            cur.append(c)  # a space inside an unquoted name
        i += 1
    items.append(("".join(cur), seen_quote))
    out = []
    for text, was_quoted in items:
        text = text if was_quoted else text.strip()
        if text or was_quoted:
            out.append(text)
    return out


def parse_setconfig(setconfig):
    """``["search_path=\\"$user\\", data", "work_mem=64MB"]`` -> ``{"search_path": ..., "work_mem": ...}``."""
    result = {}
    for item in setconfig or []:
        name, _sep, value = item.partition("=")
        result[name.lower()] = value
    return result


def same_parameter(name, current, desired):
    if current is None:
        return False
    if name in LIST_GUCS:
        return split_list_guc(current) == split_list_guc(desired)
    return current == desired


def _param_ident(name):
    return sql.Identifier(*name.split("."))


def _param_value(name, value):
    if name in LIST_GUCS:
        parts = split_list_guc(value)
        if not parts:
            return literal("")
        return idents(parts)
    return literal(value)


# --- desired state ------------------------------------------------------------------------------


def attributes_from_flags(flags):
    """The full attribute map (``{"LOGIN": True, ...}``) a flag list asks for."""
    attrs = {name: spec[1] for name, spec in ATTRIBUTES.items()}
    for flag in flags:
        if flag in ATTRIBUTES:
            attrs[flag] = True
        elif flag.startswith("NO") and flag[2:] in ATTRIBUTES:
            attrs[flag[2:]] = False
    return attrs


def flags_of(attrs):
    """Canonical flag list of an attribute map: the keywords that are on, plus NOINHERIT."""
    out = [name for name in ATTRIBUTE_ORDER if attrs.get(name) and name != "INHERIT"]
    if not attrs.get("INHERIT", True):
        out.append("NOINHERIT")
    return sorted(out)


def _check_role_name(name, field, errors, predefined_ok=False):
    if not names_ok(errors, (name, field, "role name")):
        return False
    if name.lower() in RESERVED_ROLE_NAMES:
        errors.append(ManifestError(field, "%r is reserved by PostgreSQL and cannot be a role name" % name,
                                    "choose another name"))
        return False
    if name.startswith(RESERVED_ROLE_PREFIX) and not predefined_ok:
        errors.append(ManifestError(field, "role names starting with pg_ are reserved by PostgreSQL (%r)" % name,
                                    "choose a name without the pg_ prefix"))
        return False
    return True


def normalise_roles(roles):
    """Validate and normalise the desired roles; raise ``ManifestErrors`` listing every problem.

    Returns ``{name: role}`` in input order, each role with ``attrs`` (full attribute map),
    ``member_of`` (sorted, unique), ``admin``, ``parameters`` (lower-case names, str values),
    ``password`` and ``origin``.
    """
    errors, out = [], {}
    for index, raw in enumerate(roles or []):
        field = "roles[%d]" % index
        if not isinstance(raw, dict):
            errors.append(ManifestError(field, "a role must be a mapping, got %r" % (raw,), "see docs/sql-sync.md"))
            continue
        name = raw.get("name")
        if not _check_role_name(name, field + ".name", errors):
            continue
        field = "roles[%s]" % name
        if name in out:
            errors.append(ManifestError(field, "the role %r is listed twice" % name, "list each role once"))
            continue
        flags, bad = [], False
        for flag in raw.get("flags") or []:
            if not isinstance(flag, str) or flag.upper() not in VALID_FLAGS:
                errors.append(ManifestError(
                    field + ".flags", "unknown flag %r" % (flag,),
                    "use only %s" % ", ".join(sorted(VALID_FLAGS))))
                bad = True
                continue
            flag = flag.upper()
            if flag not in flags:
                flags.append(flag)
        for flag in flags:
            if flag in ATTRIBUTES and "NO" + flag in flags:
                errors.append(ManifestError(field + ".flags", "flags %s and NO%s contradict each other" % (flag, flag),
                                            "keep only one of them"))
                bad = True
        member_of = []
        for other in raw.get("member_of") or []:
            # membership in a predefined role (pg_monitor, pg_read_all_data) is fine; it must exist
            if not _check_role_name(other, field + ".member_of", errors, predefined_ok=True):
                bad = True
                continue
            if other == name:
                errors.append(ManifestError(field + ".member_of", "a role cannot be a member of itself",
                                            "remove %r from member_of" % name))
                bad = True
            elif other not in member_of:
                member_of.append(other)
        admin = raw.get("admin")
        if admin is not None:
            if not _check_role_name(admin, field + ".admin", errors):
                bad = True
            elif admin == name:
                errors.append(ManifestError(field + ".admin", "a role cannot be its own admin", "remove admin"))
                bad = True
        parameters = {}
        for key, value in (raw.get("parameters") or {}).items():
            if not isinstance(key, str) or not PARAMETER_NAME.match(key):
                errors.append(ManifestError(field + ".parameters", "invalid parameter name %r" % (key,),
                                            "use a PostgreSQL setting name such as search_path"))
                bad = True
                continue
            if value is None:
                errors.append(ManifestError(field + ".parameters.%s" % key, "the value is empty",
                                            "give a value or remove the parameter"))
                bad = True
                continue
            if isinstance(value, bool):
                value = "on" if value else "off"
            parameters[key.lower()] = str(value)
        password = raw.get("password")
        if password is not None and not isinstance(password, str):
            errors.append(ManifestError(field + ".password", "the password must be a string", "quote it"))
            bad = True
        if password == "":
            password = None
        no_password = bool(raw.get("no_password"))
        if no_password and password is not None:
            errors.append(ManifestError(field + ".no_password", "no_password contradicts the password given",
                                        "keep only one of them"))
            bad = True
        if bad:
            continue
        out[name] = {
            "name": name,
            "origin": raw.get("origin"),
            "attrs": attributes_from_flags(flags),
            "member_of": sorted(member_of),
            "admin": admin,
            "parameters": parameters,
            "password": password,
            "no_password": no_password,
        }
    if errors:
        raise ManifestErrors(errors)
    return out


# --- catalog ------------------------------------------------------------------------------------


def read_snapshot(session, with_databases=False):
    """The live role catalog as plain data (the shape the unit tests fake)."""
    roles = {}
    for row in session.fetch(ROLES_QUERY):
        name = row[0]
        roles[name] = {
            "attrs": {
                "SUPERUSER": row[1], "CREATEDB": row[2], "CREATEROLE": row[3], "INHERIT": row[4],
                "LOGIN": row[5], "REPLICATION": row[6], "BYPASSRLS": row[7],
            },
            "password": row[8],
            "parameters": parse_setconfig(row[9]),
        }
    memberships, grantors = {}, {}
    for role, member, admin, grantor in session.fetch(MEMBERS_QUERY):
        memberships[(role, member)] = memberships.get((role, member), False) or bool(admin)
        grantors.setdefault((role, member), []).append((grantor, bool(admin)))
    snapshot = {"roles": roles, "memberships": memberships, "grantors": grantors,
                "server_version": session.conn.info.server_version}
    if with_databases:
        snapshot["databases"] = [r[0] for r in session.fetch(DATABASES_QUERY)]
    return snapshot


def snapshot_from_lists(roles, memberships=(), databases=(), server_version=150000):
    """Build a snapshot from simple lists (tests, docs): memberships as ``(role, member, admin)``
    or ``(role, member, admin, grantor)``."""
    grantors, members = {}, {}
    for item in memberships:
        grantors.setdefault((item[0], item[1]), []).append((item[3] if len(item) > 3 else "postgres", bool(item[2])))
        members[(item[0], item[1])] = members.get((item[0], item[1]), False) or bool(item[2])
    out = {}
    for name, info in roles.items():
        info = dict(info or {})
        attrs = attributes_from_flags(info.get("flags") or [])
        out[name] = {"attrs": attrs, "password": info.get("password"), "parameters": dict(info.get("parameters") or {})}
    return {
        "roles": out,
        "memberships": members,
        "grantors": grantors,
        "server_version": server_version,
        "databases": list(databases),
    }


# --- plan ---------------------------------------------------------------------------------------


class Action(object):
    """One typed change: ``kind`` (create_role, alter_role, set_password, set_parameter,
    reset_parameter, grant_membership, revoke_membership, revoke_admin_option, reassign_owned,
    drop_role), the role it is about, details, and its statements."""

    __slots__ = ("kind", "role", "detail", "statements", "database")

    def __init__(self, kind, role, statements, database=None, **detail):
        self.kind = kind
        self.role = role
        self.detail = detail
        self.statements = statements
        self.database = database

    def to_dict(self):
        out = {"action": self.kind, "role": self.role}
        if self.database:
            out["database"] = self.database
        out.update(self.detail)
        return out


class RolePlan(object):
    """The result of ``plan_roles``: ``actions`` for the main transaction, ``drop_actions`` (per
    database REASSIGN/DROP OWNED, then DROP ROLE), ``diff`` and ``warnings``."""

    def __init__(self):
        self.actions = []
        self.drop_actions = []
        self.warnings = []
        self.diff = {"before": {}, "after": {}}

    @property
    def changed(self):
        return bool(self.actions or self.drop_actions)

    def main_statements(self):
        if not self.actions:
            return []
        return [SYNC_LOCAL] + [s for a in self.actions for s in a.statements]

    def queries(self):
        out = [s.render() for s in self.main_statements()]
        out += [s.render() for a in self.drop_actions for s in a.statements]
        return out

    def action_dicts(self):
        return [a.to_dict() for a in self.actions + self.drop_actions]


def _password_clause(verifier):
    return sql.SQL("PASSWORD {}").format(literal(verifier)), sql.SQL("PASSWORD " + MASK)


class MembershipIndex(object):
    """Memberships indexed both ways, for the diff views (a plain scan per role is quadratic)."""

    def __init__(self, memberships):
        self.of_member, self.admins_of = {}, {}
        for (role, member), admin in memberships.items():
            self.of_member.setdefault(member, []).append(role + (" (WITH ADMIN OPTION)" if admin else ""))
            if admin:
                self.admins_of.setdefault(role, []).append(member)


def _role_view(attrs, index, name, parameters, password):
    return {
        "flags": flags_of(attrs),
        "member_of": sorted(index.of_member.get(name, [])),
        "admins": sorted(index.admins_of.get(name, [])),
        "parameters": dict(sorted(parameters.items())),
        "password": password,
    }


def _pbkdf2_batch(func, jobs):
    """``[func(*job) for job in jobs]``, on a small thread pool from PARALLEL_VERIFY_FROM jobs on."""
    def one(job):
        return func(*job)
    if len(jobs) < PARALLEL_VERIFY_FROM:
        return [one(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, jobs))


def plan_roles(desired, snapshot, login_user="postgres", password_encryption=scram.SCRAM,
               drop_removed=False, removed=(), reassign_to=None, tag_key=None):
    """Compute the plan that makes the catalog match ``desired`` (a list of CONTRACTS role dicts).

    Raises ``ManifestErrors`` for any invalid input (names, flags, references, drop policy),
    before a single statement exists. ``tag_key`` enables the fast path of ``scram`` for
    verifiers this sync wrote itself.
    """
    roles = normalise_roles(desired)
    live = snapshot["roles"]
    current_members = snapshot.get("memberships") or {}
    errors = []

    # References: every member_of / admin role must be managed or exist already.
    for name, role in roles.items():
        for other in role["member_of"]:
            if other not in roles and other not in live:
                errors.append(ManifestError(
                    "roles[%s].member_of" % name, "role %r does not exist and is not managed here" % other,
                    "create it first or remove it from member_of"))
        if role["admin"] and role["admin"] not in roles and role["admin"] not in live:
            errors.append(ManifestError(
                "roles[%s].admin" % name, "role %r does not exist and is not managed here" % role["admin"],
                "create it first or drop the admin setting (config team_admin_role)"))
    # Never lock ourselves out.
    if login_user in roles:
        attrs = roles[login_user]["attrs"]
        for flag in ("SUPERUSER", "LOGIN"):
            if login_user in live and live[login_user]["attrs"].get(flag) and not attrs[flag]:
                errors.append(ManifestError(
                    "roles[%s].flags" % login_user,
                    "refusing to remove %s from %r, the role this sync connects as" % (flag, login_user),
                    "keep %s in its flags" % flag))
    if errors:
        raise ManifestErrors(errors)

    plan = RolePlan()
    before, after = plan.diff["before"], plan.diff["after"]

    # Desired membership edges (role, member) -> admin option, and the managed pairs.
    wanted = {}
    for name, role in roles.items():
        for other in role["member_of"]:
            wanted[(other, name)] = wanted.get((other, name), False)
        if role["admin"]:
            wanted[(name, role["admin"])] = True

    # Passwords to check, (password, stored, username, tag_key): done in one batch (PBKDF2 is the slow
    # part of a no-op sync).
    checks, check_names = [], []
    for name, role in roles.items():
        pw = role["password"]
        if pw is None or name not in live:
            continue
        stored = live[name]["password"]
        if stored is None:
            continue
        if not scram.is_hashed(pw) and scram.kind(stored) != password_encryption:
            continue  # wrong method stored: re-set below without verifying
        checks.append((pw, stored, name, tag_key))
        check_names.append(name)
    verified = dict(zip(check_names, _pbkdf2_batch(scram.verify, checks)))  # noqa: B905 (no strict= before Python 3.10)
    # New verifiers, built in one batch too (PBKDF2 again).
    to_hash = [name for name, role in roles.items() if role["password"] is not None
               and (name not in live or not verified.get(name, False))]
    hash_jobs = [(roles[n]["password"], n, password_encryption, tag_key) for n in to_hash]
    new_verifiers = dict(zip(to_hash, _pbkdf2_batch(scram.verifier_for, hash_jobs)))  # noqa: B905 (no strict= before Python 3.10)

    create, alter, passwords, params, revokes, grants = [], [], [], [], [], []
    touched = set()
    for name, role in roles.items():
        attrs = role["attrs"]
        cur = live.get(name)
        pw = role["password"]
        if cur is None:
            parts = [sql.SQL("CREATE ROLE {} WITH ").format(ident(name)), keywords(_create_keywords(attrs))]
            shown = list(parts)
            if pw is not None:
                real, masked = _password_clause(new_verifiers[name])
                parts += [sql.SQL(" "), real]
                shown += [sql.SQL(" "), masked]
            create.append(Action("create_role", name, [Statement(sql.Composed(parts), sql.Composed(shown))],
                                 flags=flags_of(attrs)))
            for key, value in sorted(role["parameters"].items()):
                params.append(Action("set_parameter", name, [_set_param(name, key, value)], parameter=key))
            touched.add(name)
            continue
        changed_flags = [f for f in ATTRIBUTE_ORDER if bool(cur["attrs"].get(f)) != attrs[f]]
        if changed_flags:
            words = [f if attrs[f] else "NO" + f for f in changed_flags]
            alter.append(Action("alter_role", name, [
                Statement(sql.Composed([sql.SQL("ALTER ROLE {} WITH ").format(ident(name)), keywords(words)]))
            ], flags=words))
            touched.add(name)
        if pw is not None and not verified.get(name, False):
            real, masked = _password_clause(new_verifiers[name])
            head = sql.SQL("ALTER ROLE {} WITH ").format(ident(name))
            passwords.append(Action("set_password", name, [
                Statement(sql.Composed([head, real]), sql.Composed([head, masked]))]))
            touched.add(name)
        elif role["no_password"] and cur["password"] is not None:
            passwords.append(Action("set_password", name, [stmt("ALTER ROLE {} WITH PASSWORD NULL", ident(name))],
                                    password=None))
            touched.add(name)
        desired_params = role["parameters"]
        if desired_params:
            for key, value in sorted(desired_params.items()):
                if not same_parameter(key, cur["parameters"].get(key), value):
                    params.append(Action("set_parameter", name, [_set_param(name, key, value)], parameter=key))
                    touched.add(name)
            for key in sorted(cur["parameters"]):
                if key not in desired_params:
                    params.append(Action("reset_parameter", name, [
                        stmt("ALTER ROLE {} RESET {}", ident(name), _param_ident(key))], parameter=key))
                    touched.add(name)

    # Memberships: exact between managed roles, additive towards unmanaged ones.
    for (role_name, member), admin in sorted(wanted.items()):
        have = current_members.get((role_name, member))
        if have is None:
            tail = " WITH ADMIN OPTION" if admin else ""
            grants.append(Action("grant_membership", member, [
                stmt("GRANT {} TO {}" + tail, ident(role_name), ident(member))], of=role_name, admin=admin))
            touched.add(member if member in roles else role_name)
        elif admin and not have:
            grants.append(Action("grant_membership", member, [
                stmt("GRANT {} TO {} WITH ADMIN OPTION", ident(role_name), ident(member))],
                of=role_name, admin=True))
            touched.add(member if member in roles else role_name)
        elif have and not admin and role_name in roles and member in roles:
            revokes.append(Action("revoke_admin_option", member, _revokes(
                "REVOKE ADMIN OPTION FOR {} FROM {}", role_name, member, snapshot, admin_only=True), of=role_name))
            touched.add(member)
    for (role_name, member), _admin in sorted(current_members.items()):
        if role_name in roles and member in roles and (role_name, member) not in wanted:
            revokes.append(Action("revoke_membership", member, _revokes(
                "REVOKE {} FROM {}", role_name, member, snapshot), of=role_name))
            touched.add(member)

    plan.actions = create + alter + passwords + params + revokes + grants

    # Diff: before/after of every role touched (password only as changed/unchanged).
    new_members = {k: v for k, v in current_members.items()
                   if not (k[0] in roles and k[1] in roles and k not in wanted)}
    new_members.update(wanted)
    pw_changed = {a.role for a in passwords} | {a.role for a in create if roles[a.role]["password"] is not None}
    before_index, after_index = MembershipIndex(current_members), MembershipIndex(new_members)
    for name in sorted(touched):
        role = roles[name]
        cur = live.get(name)
        if cur is None:
            before[name] = None
        else:
            before[name] = _role_view(cur["attrs"], before_index, name, cur["parameters"],
                                      "set" if cur["password"] else "none")
        if role["parameters"] or cur is None:
            params_after = role["parameters"]
        else:
            params_after = cur["parameters"]
        after[name] = _role_view(role["attrs"], after_index, name, params_after,
                                 "changed" if name in pw_changed else "unchanged")

    if drop_removed:
        _plan_drops(plan, roles, snapshot, removed, reassign_to or login_user, login_user)
    elif removed:
        gone = sorted(n for n in removed if n not in roles and n in live)
        if gone:
            plan.warnings.append("roles no longer in the manifest are kept (drop_removed is off): %s" % ", ".join(gone))
    return plan


def _revokes(template, role_name, member, snapshot, admin_only=False):
    """One REVOKE, or from PostgreSQL 16 on one per grantor (``GRANTED BY``)."""
    if (snapshot.get("server_version") or 0) < GRANTORS_FROM_VERSION:
        return [stmt(template, ident(role_name), ident(member))]
    grantors = sorted({g for g, admin in (snapshot.get("grantors") or {}).get((role_name, member), [])
                       if admin or not admin_only})
    return [stmt(template + " GRANTED BY {}", ident(role_name), ident(member), ident(g)) for g in grantors] or [
        stmt(template, ident(role_name), ident(member))]


def _create_keywords(attrs):
    words = []
    for flag in ATTRIBUTE_ORDER:
        default = ATTRIBUTES[flag][1]
        if flag == "LOGIN":
            words.append("LOGIN" if attrs[flag] else "NOLOGIN")
        elif attrs[flag] != default:
            words.append(flag if attrs[flag] else "NO" + flag)
    return words


def _set_param(name, key, value):
    query = sql.SQL("ALTER ROLE {} SET {} TO {}")
    return Statement(query.format(ident(name), _param_ident(key), _param_value(key, value)))


def _plan_drops(plan, roles, snapshot, removed, reassign_to, login_user):
    live = snapshot["roles"]
    errors, victims = [], []
    for name in removed or []:
        if name in roles or name not in live:
            continue
        field = "removed[%s]" % name
        if name in (login_user, reassign_to, "postgres"):
            errors.append(ManifestError(field, "refusing to drop %r: it is the login user, the reassign target or "
                                        "the bootstrap superuser" % name, "remove it from the removed list"))
        elif live[name]["attrs"].get("SUPERUSER"):
            errors.append(ManifestError(field, "refusing to drop superuser %r" % name,
                                        "drop it by hand if that is really meant"))
        else:
            victims.append(name)
    if reassign_to not in live and reassign_to not in roles:
        errors.append(ManifestError("reassign_owned_to", "role %r does not exist" % reassign_to,
                                    "name an existing role to receive the objects"))
    if errors:
        raise ManifestErrors(errors)
    if not victims:
        return
    victims.sort()
    index = MembershipIndex(snapshot.get("memberships") or {})
    for db in snapshot.get("databases") or []:
        plan.drop_actions.append(Action("reassign_owned", ", ".join(victims), [
            stmt("REASSIGN OWNED BY {} TO {}", idents(victims), ident(reassign_to)),
            stmt("DROP OWNED BY {}", idents(victims)),
        ], database=db, to=reassign_to))
    plan.drop_actions.append(Action("drop_role", ", ".join(victims), [stmt("DROP ROLE {}", idents(victims))],
                                    roles=victims))
    for name in victims:
        plan.diff["before"][name] = _role_view(live[name]["attrs"], index, name,
                                               live[name]["parameters"], "set" if live[name]["password"] else "none")
        plan.diff["after"][name] = None


# --- apply --------------------------------------------------------------------------------------


def apply_plan(plan, params, check_mode=False):
    """Run ``plan``: the main transaction, then (opt-in) the per-database drops. Returns the
    number of write statements sent and the queries as run."""
    writes, queries = 0, []
    statements = plan.main_statements()
    if statements:
        session = Session(params).connect()
        try:
            session.run_all(statements)
            session.finish(commit=not check_mode)
        finally:
            writes += session.writes
            queries += session.queries
            session.close()
    if plan.drop_actions and not check_mode:
        # One transaction per database: REASSIGN OWNED / DROP OWNED only act on the current database.
        for action in plan.drop_actions:
            session = Session(params, dbname=action.database).connect()
            try:
                if action.kind == "drop_role":
                    session.run(SYNC_LOCAL)
                session.run_all(action.statements)
                session.finish(commit=True)
            finally:
                writes += session.writes
                queries += session.queries
                session.close()
    elif plan.drop_actions:
        # Check mode: the DROP ROLE would fail without the committed REASSIGN/DROP OWNED; show only.
        queries += [s.render() for a in plan.drop_actions for s in a.statements]
    return writes, queries


def sync_roles(params, desired, check_mode=False, password_encryption=scram.SCRAM, drop_removed=False,
               removed=(), reassign_to=None, rotation=None, teams=None, infrastructure=None):
    """Read, plan, apply. Returns a result dict for ``exit_json``.

    ``rotation`` (``{"policy", "secrets", "now"}``, see ``rotation.plan_rotation``) turns on password
    rotation: the desired roles are adjusted before planning, expired rotation users are dropped
    after the main transaction, and the result carries ``secrets``, the secret contents to write
    now that the roles hold them.

    ``teams`` (``{"config", "team_id", "postgres_teams", "api_members", "roles"}``, see ``teams``)
    adds the team members as roles and, with ``enable_team_member_deprecation``, retires the ones
    who left (NOLOGIN and renamed, never dropped) in the same transaction.

    ``infrastructure`` is a list of roles from ``infra.infrastructure_roles`` (merged by origin).
    """
    login_user = params.get("login_user") or "postgres"
    normalise_roles(desired)  # refuse bad names and flags before even connecting
    with Session(params) as session:
        snapshot = read_snapshot(session, with_databases=bool(drop_removed))
    team_events, team_statements, team_warnings = [], [], []
    if infrastructure:
        desired = teams_mod.merge_roles(desired, infrastructure, team_warnings)
    if teams is not None:
        desired, snapshot, team_statements, team_events, team_warnings = teams_mod.with_teams(teams, desired, snapshot, login_user)
    rotated = None
    if rotation is not None:
        rotated = rotation_mod.plan_rotation(desired, rotation.get("secrets") or {}, snapshot["roles"],
                                             rotation["policy"], rotation["now"])
        desired = rotated.roles
    plan = plan_roles(desired, snapshot, login_user=login_user, password_encryption=password_encryption,
                      drop_removed=drop_removed, removed=removed, reassign_to=reassign_to,
                      tag_key=scram.tag_key_from(params.get("login_password")))
    if team_statements:
        plan.actions.insert(0, Action("retire_team_members", ", ".join(team_events), team_statements))
    plan.warnings[:0] = team_warnings
    writes, queries = apply_plan(plan, params, check_mode=check_mode)
    result = {
        "changed": plan.changed,
        "queries": queries,
        "statements": writes,
        "actions": plan.action_dicts(),
        "diff": plan.diff,
        "warnings": plan.warnings,
    }
    if teams is not None:
        result["teams"] = {"events": team_events}
    if rotated is not None:
        dropped, more_writes, more_queries, warnings = drop_rotation_users(params, rotated.drop, check_mode)
        result["statements"] += more_writes
        result["queries"] += more_queries
        result["warnings"] += rotated.warnings + warnings
        result["changed"] = result["changed"] or bool(dropped) or bool(rotated.secrets)
        result["secrets"] = rotated.secrets
        result["rotation"] = {"events": rotated.events, "dropped": dropped}
    return result


def drop_rotation_users(params, names, check_mode=False):
    """Drop expired rotation users, each in its own transaction: one that still owns objects is
    kept and reported, the others go. Returns (dropped, writes, queries, warnings)."""
    dropped, writes, queries, warnings = [], 0, [], []
    for name in names:
        session = Session(params).connect()
        try:
            session.run(SYNC_LOCAL)
            session.run(stmt("DROP ROLE {}", ident(name)))
            session.finish(commit=not check_mode)
            dropped.append(name)
        except PostgresError as err:
            warnings.append("rotation user %s is past its retention but was kept: %s" % (name, err.msg))
        finally:
            writes += session.writes
            queries += session.queries
            session.close()
    return dropped, writes, queries, warnings
