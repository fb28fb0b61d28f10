# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Team members as roles: PostgresTeam objects (and team member lists from elsewhere) resolved
into desired roles, and the deprecation of members who left. See docs/design/credentials.md.

Pure functions; the role sync (``rolesync.sync_roles(..., teams=...)``) calls them between
reading the catalog and planning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import teams_api
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import (
    MAX_IDENTIFIER_BYTES,
    check_name,
    ident,
    keywords,
    stmt,
)

MAPS = ("additionalTeams", "additionalSuperuserTeams", "additionalMembers")
#: Walk at most this many teams (a hostile object cannot make the walk explode).
MAX_TEAMS = 1000


def merge_postgres_teams(objects, warnings):
    """The three maps of every PostgresTeam object merged: ``{map: {team: [names]}}``. Bad entries
    are skipped with a warning naming the object and field."""
    merged = dict((key, {}) for key in MAPS)
    for obj in objects or []:
        if not isinstance(obj, dict):
            continue
        name = (obj.get("metadata") or {}).get("name") or "?"
        spec = obj.get("spec") or {}
        if not isinstance(spec, dict):
            warnings.append("PostgresTeam %s: spec is not a mapping; ignored" % name)
            continue
        for key in MAPS:
            value = spec.get(key) or {}
            if not isinstance(value, dict):
                warnings.append("PostgresTeam %s: spec.%s is not a mapping of team to list; ignored" % (name, key))
                continue
            for team, items in value.items():
                field = "PostgresTeam %s: spec.%s.%s" % (name, key, team)
                if not isinstance(team, str) or not isinstance(items, list):
                    warnings.append("%s: must be a list of names; ignored" % field)
                    continue
                target = merged[key].setdefault(team, [])
                for i, item in enumerate(items):
                    if not isinstance(item, str) or not item:
                        warnings.append("%s[%d]: not a name; ignored" % (field, i))
                    elif item not in target:
                        target.append(item)
    return merged


def _walk(start, edges):
    """Every team reachable from ``start`` through ``edges`` ({team: [teams]}), ``start`` included."""
    seen, todo = [], [start]
    while todo and len(seen) < MAX_TEAMS:
        team = todo.pop(0)
        if team in seen:
            continue
        seen.append(team)
        todo.extend(t for t in edges.get(team) or [] if t not in seen)
    return seen


def resolve_members(team_id, merged, api_members=None, superuser_teams=(), crd_superusers=False):
    """``{user: superuser?}`` of the cluster's team: its own members (``api_members[team]``), the
    additional members, and those of the additional teams, transitively; superuser teams from the
    operator setting and, with ``crd_superusers``, from ``additionalSuperuserTeams``."""
    api_members = api_members or {}
    add_teams, add_members = merged["additionalTeams"], merged["additionalMembers"]

    def members_of(team):
        out = []
        for t in _walk(team, add_teams):
            for user in list(api_members.get(t) or []) + list(add_members.get(t) or []):
                if user not in out:
                    out.append(user)
        return out

    result = {}
    for user in members_of(team_id):
        result[user] = False
    supers = list(superuser_teams or [])
    if crd_superusers:
        supers += merged["additionalSuperuserTeams"].get(team_id) or []
    for team in supers:
        for user in members_of(team):
            result[user] = True
    return result


def member_roles(members, config, warnings):
    """Desired roles (role sync input) of ``members`` ({user: superuser?})."""
    pam = config.get("pam_role_name") or "zalandos"
    admin = config.get("team_admin_role") or ""
    params = dict(config.get("team_api_role_configuration") or {})
    protected = set(config.get("protected_role_names") or [])
    protected.update([config.get("super_username") or "postgres", config.get("replication_username") or "standby"])
    roles = []
    for user in sorted(members):
        try:
            check_name(user, "team member %r" % user, "role name")
        except ManifestError as err:
            warnings.append("%s; skipped" % err.msg)
            continue
        if user in protected or user.lower().startswith("pg_"):
            warnings.append("team member %s: a protected or system role name; skipped" % user)
            continue
        superuser = members[user]
        roles.append({
            "name": user,
            "origin": "teams",
            "flags": ["LOGIN", "SUPERUSER"] if superuser else ["LOGIN"],
            "member_of": [pam] + ([admin] if admin and not superuser else []),
            "admin": None,
            "parameters": params,
            "password": None,
        })
    return roles


def team_roles(team_id, config, postgres_teams=None, api_members=None):
    """(roles, warnings) for one cluster: the members from PostgresTeam objects (when
    ``enable_postgres_team_crd``) plus ``api_members`` ({team: [users]}, from the Teams API)."""
    warnings = []
    merged = dict((key, {}) for key in MAPS)
    if config.get("enable_postgres_team_crd"):
        merged = merge_postgres_teams(postgres_teams, warnings)
    superuser_teams = (config.get("postgres_superuser_teams") or []) if config.get("enable_team_superuser") else []
    members = resolve_members(team_id, merged, api_members, superuser_teams,
                              bool(config.get("enable_postgres_team_crd_superusers")))
    return member_roles(members, config, warnings), warnings


# --- members who left ---------------------------------------------------------------------------


def plan_deprecation(desired_names, snapshot, pam_role_name, suffix="_deleted", login_user="postgres"):
    """Statements that retire former team members and bring back returning ones, and the snapshot
    as it will be after them (for the role plan). A former member is a LOGIN role that is a member
    of ``pam_role_name`` and desired by no source: it loses LOGIN and gets ``suffix``. A desired role
    that is missing while ``<name><suffix>`` exists is renamed back (it gets LOGIN from the plan).
    Returns (statements, snapshot, events)."""
    live = snapshot["roles"]
    members = snapshot.get("memberships") or {}
    statements, events = [], []
    roles = dict(live)
    memberships = dict(members)
    grantors = dict(snapshot.get("grantors") or {})

    def rename(old, new):
        roles[new] = roles.pop(old)
        for table in (memberships, grantors):
            for (role, member), value in list(table.items()):
                if old in (role, member):
                    del table[(role, member)]
                    table[(new if role == old else role, new if member == old else member)] = value

    for name in sorted(desired_names):
        retired = name + suffix
        if name not in live and retired in live and (pam_role_name, retired) in members:
            statements.append(stmt("ALTER ROLE {} RENAME TO {}", ident(retired), ident(name)))
            rename(retired, name)
            events.append("team member %s is back: role %s renamed back" % (name, retired))
    for name in sorted(live):
        role = live[name]
        if (name in desired_names or (pam_role_name, name) not in members or name == login_user
                or name.endswith(suffix) or not role["attrs"].get("LOGIN")):
            continue
        statements.append(stmt("ALTER ROLE {} WITH {}", ident(name), keywords(["NOLOGIN"])))
        roles[name] = dict(role, attrs=dict(role["attrs"], LOGIN=False))
        new = name + suffix
        if len(new.encode("utf-8")) > MAX_IDENTIFIER_BYTES or new in roles:
            events.append("team member %s left: LOGIN removed (no rename: %s is too long or taken)" % (name, new))
            continue
        statements.append(stmt("ALTER ROLE {} RENAME TO {}", ident(name), ident(new)))
        rename(name, new)
        events.append("team member %s left: LOGIN removed, renamed to %s" % (name, new))
    out = dict(snapshot, roles=roles, memberships=memberships, grantors=grantors)
    return statements, out, events


# --- merging with the other sources ------------------------------------------------------------

#: Origins from the weakest to the strongest: on a name clash the stronger definition wins.
ORIGIN_ORDER = ("manifest", "infrastructure", "teams", "system", "prepared", "pooler", "stream")


def _rank(origin):
    return ORIGIN_ORDER.index(origin) if origin in ORIGIN_ORDER else -1


def merge_roles(desired, extra, warnings):
    """``desired`` plus ``extra`` roles; on a name clash the stronger origin wins and the other
    definition is reported."""
    out, index = [], {}
    for role in list(desired) + list(extra):
        name = role.get("name")
        if name not in index:
            index[name] = len(out)
            out.append(role)
            continue
        current = out[index[name]]
        if _rank(role.get("origin")) > _rank(current.get("origin")):
            winner, loser = role, current
            out[index[name]] = role
        else:
            winner, loser = current, role
        warnings.append("role %s is defined as a %s role and as a %s role; the %s definition wins, the %s one "
                        "is ignored" % (name, loser.get("origin"), winner.get("origin"), winner.get("origin"),
                                        loser.get("origin")))
    return out


def with_teams(teams, desired, snapshot, login_user):
    """Team members added to ``desired``, the Teams API asked when needed, members who left retired.
    Returns (desired, snapshot, statements, events, warnings)."""
    team_events, team_statements, team_warnings = [], [], []
    cfg = teams.get("config") or {}
    if not (cfg.get("enable_teams_api") or cfg.get("enable_postgres_team_crd") or teams.get("api_members")
            or teams.get("roles")):
        return desired, snapshot, team_statements, team_events, team_warnings  # no source of members at all
    if cfg.get("enable_teams_api") and teams.get("api_members") is None:
        merged = merge_postgres_teams(teams.get("postgres_teams"), []) if cfg.get("enable_postgres_team_crd") else {}
        found, complete, api_errors = teams_api.api_members(cfg, teams.get("team_id") or "", merged,
                                                            teams.get("api_token"), teams.get("api_timeout") or 10)
        teams = dict(teams, api_members=found, complete=teams.get("complete", True) and complete)
        team_warnings.extend("Teams API: %s; existing team member roles are kept" % e for e in api_errors)
    extra, found_warnings = team_roles(teams.get("team_id") or "", cfg, teams.get("postgres_teams"),
                                       teams.get("api_members"))
    team_warnings.extend(found_warnings)
    extra += list(teams.get("roles") or [])
    pam = cfg.get("pam_role_name") or "zalandos"
    if extra and pam not in snapshot["roles"] and pam not in {r["name"] for r in desired}:
        extra.insert(0, {"name": pam, "origin": "teams", "flags": [], "password": None})
    desired = merge_roles(desired, extra, team_warnings)
    live_members = [m for (r, m) in (snapshot.get("memberships") or {}) if r == pam]
    if cfg.get("enable_team_member_deprecation") and teams.get("complete", True) is False:
        team_warnings.append("team members could not be read completely; no member is retired this time")
    elif cfg.get("enable_team_member_deprecation") and live_members and not [
            r for r in extra if r.get("origin") == "teams" and r["name"] != pam]:
        team_warnings.append("no team member resolved while %d roles are members of %s; an empty answer looks "
                             "like a failed read, so no member is retired" % (len(live_members), pam))
    elif cfg.get("enable_team_member_deprecation"):
        team_statements, snapshot, team_events = plan_deprecation(
            {r["name"] for r in desired}, snapshot, pam, cfg.get("role_deletion_suffix") or "_deleted", login_user)
    return desired, snapshot, team_statements, team_events, team_warnings
