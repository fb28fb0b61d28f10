# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A real Patroni cluster on this machine: one etcd plus N Patroni members on loopback ports.

The local target of pgfleet.postgres. It is configured from the *same* model and the same
``SPILO_CONFIGURATION`` rendering as the Kubernetes path, so a manifest means the same thing in
both places. Two halves:

* pure functions (no processes, no files): ``render_cluster`` turns a model, its Spilo
  configuration, a port/path layout, credentials and a few host facts (installed locales, known
  GUCs, available libraries) into one ``patroni.yml`` dict per member plus the etcd command line;
  ``member_row``/``health``/``format_table`` turn Patroni answers into a member table.
* ``LocalCluster``: state dir, ports, processes. ``plan_present`` computes the actions,
  ``apply`` runs them, ``status`` reads every member's own ``GET /patroni``, ``absent`` stops what
  was started (by PID, including the postmasters Patroni detaches) and removes the data.

Everything runs as the ``postgres`` OS user (PostgreSQL refuses root). The state dir
(default ``/var/lib/pgfleet/clusters/<name>``) holds ``state.json`` (mode 0600: ports, PIDs and
credentials), ``etcd/``, ``run/`` (unix sockets) and one directory per member with its
``patroni.yml``, ``patroni.log`` and ``data/``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

try:  # Python 3 only at run time; the module is never run on Python 2.
    from urllib.error import HTTPError, URLError
except ImportError:  # pragma: no cover
    HTTPError = URLError = Exception

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    ManifestError,
    PgfleetError,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import etcd as etcd_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import layout as lay
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.secrets import generate_password
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.spilo import spilo_configuration

DEFAULT_STATE_ROOT = lay.DEFAULT_HOME
DEFAULT_PATRONI = "/var/lib/pgfleet/venv/bin/patroni"
DEFAULT_PG_BIN_DIR = "/usr/lib/postgresql/15/bin"
DEFAULT_ETCD = "/usr/bin/etcd"
DEFAULT_OS_USER = "postgres"
LOCAL_PG_VERSION = "15"
REST_USERNAME = "patroni"
STATE_FORMAT = 1
LOOPBACK = "127.0.0.1"
# Parameters only a Spilo image understands; plain PostgreSQL lacks the modules behind them.
SPILO_ONLY_PREFIXES = ("bg_mon.", "extwlist.")
# The local target owns these: ports and sockets are per member, set by Patroni or by us.
FORCED_PARAMETERS = ("listen_addresses", "port", "unix_socket_directories", "data_directory",
                     "hba_file", "ident_file", "config_file")
MAX_SOCKET_DIR = lay.MAX_SOCKET_DIR


# The most members one local cluster may have, whatever the memory: each member is a Patroni
# process, a PostgreSQL server and two loopback ports, and every replica streams from the leader.
MAX_MEMBERS = 16
# Memory one member needs besides shared_buffers: Patroni (~50 MB) and PostgreSQL's own processes.
MEMBER_OVERHEAD_MB = 96
DEFAULT_SHARED_BUFFERS_MB = 128


class LocalClusterError(PgfleetError):
    """The local cluster could not be brought up, inspected or torn down (context: cluster, member)."""


# ---------------------------------------------------------------------------------------------
# Model and SPILO_CONFIGURATION: the same functions as the Kubernetes path
# ---------------------------------------------------------------------------------------------
def model_from_manifest(cr, operator_config=None, existing_secrets=None):
    """The model (``manifest.build_model``) and its ``SPILO_CONFIGURATION`` dict
    (``spilo.spilo_configuration``) of a ``postgresql`` object: the Kubernetes path's rendering.

    ``operator_config``: anything ``opconfig.load`` accepts (ConfigMap data, a whole ConfigMap,
    typed values, None for the defaults). Raises ``ManifestErrors`` listing every problem.
    """
    model = build_model(cr, operator_config, existing_secrets=existing_secrets)
    conf = spilo_configuration(model)
    if isinstance(conf, str):
        conf = json.loads(conf)
    return model, conf


def load_manifest_file(path):
    """The ``postgresql`` object of a YAML file, read through the collection's safe loader
    (size cap, UTF-8, duplicate keys and alias expansion refused). Raises ``ManifestError``."""
    try:
        from ansible_collections.pgfleet.postgres.plugins.module_utils.model.loader import load_file
    except ImportError:  # pragma: no cover - the safe loader ships with the collection
        load_file = None
    if load_file is not None:
        return load_file(path, what="manifest_file", kind="postgresql")
    import yaml
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (IOError, OSError) as err:
        raise ManifestError("manifest_file", "cannot read %s (%s)" % (path, err.strerror or err),
                            "pass the path of a postgresql manifest") from None
    except UnicodeDecodeError as err:
        raise ManifestError("manifest_file", "%s is not UTF-8 text (byte %d)" % (path, err.start),
                            "save the file as UTF-8") from None
    except yaml.YAMLError as err:
        raise ManifestError("manifest_file", "%s is not valid YAML (%s)" % (path, str(err)[:200]),
                            "fix the YAML") from None
    found = [d for d in docs if isinstance(d, dict) and str(d.get("kind", "")).lower() == "postgresql"]
    if not found and len(docs) == 1 and isinstance(docs[0], dict):
        found = docs
    if not found:
        raise ManifestError("manifest_file", "%s holds no postgresql object" % path,
                            "pass a file with kind: postgresql (acid.zalan.do/v1)")
    return found[0]


def existing_secrets(state):
    """``existing_secrets`` for ``build_model`` from a previous run's state (keeps passwords)."""
    return dict(((state or {}).get("credentials") or {}).get("secrets") or {})


# ---------------------------------------------------------------------------------------------
# Pure rendering
# ---------------------------------------------------------------------------------------------
def _locale_key(name):
    """``en_US.UTF-8`` and ``en_US.utf8`` are the same locale to ``locale -a``."""
    name = (name or "").strip()
    if "." not in name:
        return name.lower()
    base, codeset = name.split(".", 1)
    return base.lower() + "." + codeset.lower().replace("-", "")


def initdb_options(initdb, installed_locales):
    """Copy Spilo's initdb list, replacing locales this machine lacks by C.UTF-8 (with a warning).

    ``installed_locales`` is the output of ``locale -a`` as a list; ``None`` skips the check.
    """
    warnings = []
    installed = None if installed_locales is None else set(_locale_key(x) for x in installed_locales)
    out = []
    for entry in initdb or []:
        if isinstance(entry, dict):
            entry = dict(entry)
            for key in list(entry):
                if key == "locale" or key.startswith("lc-"):
                    value = str(entry[key])
                    if installed is not None and _locale_key(value) not in installed \
                            and value.upper() not in ("C", "POSIX"):
                        warnings.append(
                            "spec.patroni.initdb.%s: locale %s is not installed on this machine; the "
                            "local cluster uses C.UTF-8 (install it, e.g. with locale-gen, to match "
                            "Kubernetes)" % (key, value))
                        entry[key] = "C.UTF-8"
        out.append(entry)
    return out, warnings


def filter_parameters(params, where, known_gucs=None, available_libraries=None):
    """Drop what plain PostgreSQL 15 on this machine cannot start with; return (kept, warnings).

    Dropped with a warning: Spilo-only ``bg_mon.*``/``extwlist.*``, names the local target owns
    (ports, sockets, files), names ``postgres --describe-config`` does not know (when
    ``known_gucs`` is given; dotted custom names are kept), and ``shared_preload_libraries``
    entries whose library is missing (when ``available_libraries`` is given).
    """
    kept, warnings = {}, []
    for name in sorted(params or {}):
        value = params[name]
        field = "%s.%s" % (where, name)
        if name.startswith(SPILO_ONLY_PREFIXES):
            warnings.append("%s: Spilo-only parameter, dropped on the local target" % field)
            continue
        if name in FORCED_PARAMETERS:
            warnings.append("%s: set by the local target itself, manifest value ignored" % field)
            continue
        if known_gucs is not None and "." not in name and name not in known_gucs:
            warnings.append("%s: PostgreSQL %s here does not know this parameter, dropped on the local "
                            "target" % (field, LOCAL_PG_VERSION))
            continue
        if name == "shared_preload_libraries" and available_libraries is not None:
            libs = [x.strip().strip('"') for x in str(value).split(",") if x.strip()]
            missing = [x for x in libs if x not in available_libraries]
            if missing:
                warnings.append("%s: librar%s %s not installed here, dropped on the local target"
                                % (field, "y" if len(missing) == 1 else "ies", ", ".join(missing)))
            libs = [x for x in libs if x not in missing]
            if not libs:
                continue
            value = ",".join(libs)
        kept[name] = value
    return kept, warnings


def pg_hba_lines(manifest_lines, superuser, replication_user):
    """pg_hba for a member: the lines Patroni needs first, then the manifest's (or local defaults).

    Patroni rewrites pg_hba.conf from its config, so replication (``replication_user``) and
    pg_rewind (``superuser``) over loopback must be listed explicitly, ahead of any manifest line
    that could reject them (``hostnossl all all all reject``).
    """
    warnings = []
    lines = [
        "local all all trust",
        "local replication all trust",
        "host replication %s 127.0.0.1/32 scram-sha-256" % replication_user,
        "host all %s 127.0.0.1/32 scram-sha-256" % superuser,
    ]
    if manifest_lines:
        for line in manifest_lines:
            if str(line).split()[:1] == ["hostssl"]:
                warnings.append("spec.patroni.pg_hba: %r cannot match on the local target (no TLS "
                                "there)" % line)
            lines.append(str(line))
    else:
        lines += ["host all all 127.0.0.1/32 scram-sha-256", "host all all ::1/128 scram-sha-256"]
    return lines, warnings


def credentials_from_model(model, previous=None):
    """Superuser, replication and REST credentials, keeping ``previous`` ones (a rerun)."""
    previous = previous or {}
    config = model.get("config") or {}
    superuser = config.get("super_username") or "postgres"
    repl = config.get("replication_username") or "standby"
    by_role = dict((s.get("role") or s.get("username"), s) for s in model.get("secrets") or [])
    creds = {}
    for key, role in (("superuser", superuser), ("replication", repl)):
        secret = by_role.get(role)
        if not secret or not secret.get("password"):
            raise LocalClusterError("the model has no credential secret for the %s role %r; the local "
                                    "target needs its password" % (key, role), cluster=model.get("name"))
        creds[key] = {"username": secret["username"], "password": secret["password"]}
    rest = previous.get("restapi") or {"username": REST_USERNAME, "password": generate_password()}
    creds["restapi"] = dict(rest)
    # etcd's users: root (ours only) and patroni (Patroni's DCS access, the /pgfleet/ prefix).
    old_etcd = previous.get("etcd") or {}
    creds["etcd"] = dict((key, dict(old_etcd.get(key) or {"username": user, "password": generate_password()}))
                         for key, user in (("root", etcd_mod.ROOT_USER), ("patroni", etcd_mod.PATRONI_USER)))
    creds["secrets"] = dict((s["name"], {"username": s["username"], "password": s["password"]})
                            for s in model.get("secrets") or [] if s.get("password"))
    return creds


def _megabytes(value, default):
    """shared_buffers as MB (``"512MB"``, ``"1GB"``, ``"16384"`` in 8 kB pages); ``default`` if unreadable."""
    text = str(value if value is not None else "").strip()
    units = (("TB", 1024 * 1024), ("GB", 1024), ("MB", 1), ("kB", 1.0 / 1024))
    for unit, factor in units:
        if text.endswith(unit) and text[:-len(unit)].strip().isdigit():
            return int(text[:-len(unit)]) * factor
    return int(text) * 8.0 / 1024 if text.isdigit() else default


def member_limit(instances, parameters=None, mem_available_mb=None):
    """Refuse more members than this machine can run, before anything is allocated.

    ``mem_available_mb``: MemAvailable from /proc/meminfo (None: only the fixed bound applies).
    Returns the limit; raises ``ManifestError`` naming it and why.
    """
    limit, why = MAX_MEMBERS, "the local target runs at most %d members per cluster" % MAX_MEMBERS
    if mem_available_mb is not None:
        per_member = MEMBER_OVERHEAD_MB + _megabytes((parameters or {}).get("shared_buffers"),
                                                     DEFAULT_SHARED_BUFFERS_MB)
        fit = max(1, int(mem_available_mb // per_member))
        if fit < limit:
            limit = fit
            why = ("each member needs about %d MB (shared_buffers plus %d MB for Patroni and PostgreSQL's "
                   "processes) and this machine has %d MB available" % (per_member, MEMBER_OVERHEAD_MB,
                                                                        mem_available_mb))
    if instances > limit:
        shown = str(instances) if len(str(instances)) <= 12 else str(instances)[:12] + "..."
        raise ManifestError("spec.numberOfInstances", "%s members asked; this machine can run at most %d (%s)"
                            % (shown, limit, why), "lower numberOfInstances to %d or less" % limit)
    return limit


def mem_available_mb():
    """MemAvailable of this machine in MB, or None when /proc/meminfo does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (IOError, OSError, ValueError, IndexError):
        pass
    return None


def member_names(cluster, count):
    return ["%s-%d" % (cluster, i) for i in range(count)]


def render_cluster(model, spilo_conf, layout, credentials, facts=None):
    """Render every member's patroni.yml (as dicts) and the etcd command line. Pure.

    ``layout``: ``{"state_dir", "socket_dir", "etcd": {"client_port", "peer_port"},
    "members": {name: {"pg_port", "api_port"}}}``.
    ``facts`` (all optional): ``locales`` (``locale -a``), ``gucs`` (known parameter names),
    ``libraries`` (library names in pkglibdir), ``pg_bin_dir``, ``etcd_bin``.
    Returns ``{"members": {name: config}, "etcd": argv, "warnings": [...]}``.
    """
    facts = facts or {}
    warnings = []
    name = model["name"]
    spilo_pg = spilo_conf.get("postgresql") or {}
    bootstrap = spilo_conf.get("bootstrap") or {}
    pg_version = str(model.get("pg_version") or "")
    if pg_version and pg_version != LOCAL_PG_VERSION:
        warnings.append("spec.postgresql.version: %s requested; the local target runs PostgreSQL %s"
                        % (pg_version, LOCAL_PG_VERSION))

    log_statement = str((spilo_pg.get("parameters") or {}).get("log_statement")
                        or ((bootstrap.get("dcs") or {}).get("postgresql") or {}).get("parameters", {}).get(
                            "log_statement") or "").strip().lower()
    if log_statement in ("all", "ddl", "mod"):
        warnings.append("spec.postgresql.parameters.log_statement: %s writes every role statement of the role sync "
                        "to the server log, SCRAM password verifiers included (ALTER ROLE ... PASSWORD); keep the "
                        "logs private or use log_statement: none" % log_statement)

    local_params, w = filter_parameters(spilo_pg.get("parameters"), "spec.postgresql.parameters",
                                        facts.get("gucs"), facts.get("libraries"))
    warnings += w
    local_params["unix_socket_directories"] = layout["socket_dir"]

    dcs = copy.deepcopy(bootstrap.get("dcs") or {})
    dcs_pg = dcs.setdefault("postgresql", {})
    dyn, w = filter_parameters(dcs_pg.get("parameters"), "spec.postgresql.parameters",
                               facts.get("gucs"), facts.get("libraries"))
    warnings += w
    dcs_pg["parameters"] = dyn
    dcs_pg.setdefault("use_pg_rewind", True)
    dcs_pg.setdefault("use_slots", True)
    dyn.setdefault("wal_log_hints", "on")

    initdb, w = initdb_options(bootstrap.get("initdb"), facts.get("locales"))
    warnings += w

    superuser = credentials["superuser"]["username"]
    repl_user = credentials["replication"]["username"]
    hba, w = pg_hba_lines(spilo_pg.get("pg_hba"), superuser, repl_user)
    warnings += w

    members = {}
    for member, ports in sorted(layout["members"].items()):
        mdir = os.path.join(layout["state_dir"], member)
        members[member] = {
            "scope": name,
            "namespace": "/pgfleet/",
            "name": member,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": "%s:%d" % (LOOPBACK, ports["api_port"]),
                "connect_address": "%s:%d" % (LOOPBACK, ports["api_port"]),
                "authentication": dict(credentials["restapi"]),
            },
            "ctl": {"authentication": dict(credentials["restapi"])},
            "etcd3": etcd_mod.patroni_section(layout["etcd"]["client_port"], credentials["etcd"]),
            "bootstrap": {"dcs": copy.deepcopy(dcs), "initdb": copy.deepcopy(initdb)},
            "postgresql": {
                "listen": "%s:%d" % (LOOPBACK, ports["pg_port"]),
                "connect_address": "%s:%d" % (LOOPBACK, ports["pg_port"]),
                "data_dir": os.path.join(mdir, "data"),
                "bin_dir": facts.get("pg_bin_dir") or DEFAULT_PG_BIN_DIR,
                "pgpass": os.path.join(mdir, "pgpass"),
                "authentication": {
                    "superuser": dict(credentials["superuser"]),
                    "replication": dict(credentials["replication"]),
                    "rewind": dict(credentials["superuser"]),
                },
                "parameters": dict(local_params),
                "pg_hba": list(hba),
                # A new replica must not wait for a spread checkpoint (minutes) on the leader.
                "basebackup": [{"checkpoint": "fast"}],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
    etcd = etcd_mod.argv(facts.get("etcd_bin") or DEFAULT_ETCD, name, etcd_mod.data_dir(layout["state_dir"]),
                         layout["etcd"]["client_port"], layout["etcd"]["peer_port"])
    # Both the parameters the manifest wanted and what we made of them, once each.
    seen, unique = set(), []
    for w in warnings:
        if w not in seen:
            seen.add(w)
            unique.append(w)
    return {"members": members, "etcd": etcd, "warnings": unique}


def multi_host_dsn(ports, user, dbname="postgres", extra=None):
    """A libpq keyword/value string over every member, ``target_session_attrs=read-write``.

    Never contains a password (pass it separately or through PGPASSWORD).
    """
    parts = ["host=%s" % ",".join([LOOPBACK] * len(ports)),
             "port=%s" % ",".join(str(p) for p in ports),
             "user=%s" % user, "dbname=%s" % dbname,
             "target_session_attrs=read-write", "connect_timeout=3"]
    for key, value in sorted((extra or {}).items()):
        parts.append("%s=%s" % (key, value))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Pure: member table from Patroni answers
# ---------------------------------------------------------------------------------------------
def _is_leader(answer):
    return (answer or {}).get("role") in ("primary", "master", "standby_leader")


def _is_streaming(answer):
    answer = answer or {}
    return answer.get("role") == "replica" and answer.get("state") in ("running", "streaming") and (
        answer.get("state") == "streaming" or answer.get("replication_state") == "streaming")


def member_row(member, answer, leader_location=None, sync_names=()):
    """One row of the member table from that member's own ``GET /patroni`` (None: unreachable).

    ``sync_names``: members the leader's ``replication`` list shows as ``sync``/``quorum``.
    """
    if answer is None:
        return {"member": member, "role": "unknown", "state": "unreachable", "lag": None,
                "timeline": None, "pending_restart": None, "pending_restart_reason": None}
    xlog = answer.get("xlog") or {}
    role = answer.get("role")
    lag = None
    if _is_leader(answer):
        role = "leader" if role != "standby_leader" else role
        lag = 0
    elif leader_location is not None:
        pos = max(xlog.get("received_location") or 0, xlog.get("replayed_location") or 0)
        lag = max(0, leader_location - pos)
    if role == "replica" and (answer.get("sync_standby") or member in sync_names):
        role = "sync_standby"
    state = answer.get("state")
    if state == "running" and answer.get("replication_state"):
        state = answer["replication_state"]
    return {"member": member, "role": role, "state": state, "lag": lag,
            "timeline": answer.get("timeline"),
            "pending_restart": bool(answer.get("pending_restart")),
            "pending_restart_reason": answer.get("pending_restart_reason")}


def member_rows(answers):
    """Rows for ``{member: answer-or-None}``, lag measured against the leader's WAL position."""
    leader_location = None
    sync_names = set()
    for answer in answers.values():
        if _is_leader(answer):
            leader_location = (answer.get("xlog") or {}).get("location")
            for rep in answer.get("replication") or []:
                if rep.get("sync_state") in ("sync", "quorum"):
                    sync_names.add(rep.get("application_name"))
    return [member_row(m, answers[m], leader_location, sync_names) for m in sorted(answers)]


def health(answers, expected):
    """``(healthy, leader, problems)``: healthy is 1 leader + ``expected``-1 streaming replicas."""
    leaders = [m for m, a in answers.items() if _is_leader(a) and a.get("state") == "running"]
    problems = []
    if len(answers) != expected:
        problems.append("%d members answer, %d expected" % (len(answers), expected))
    if len(leaders) != 1:
        problems.append("%d leaders running" % len(leaders))
    for member in sorted(answers):
        answer = answers[member]
        if member in leaders:
            continue
        if answer is None:
            problems.append("%s: REST API unreachable" % member)
        elif not _is_streaming(answer):
            problems.append("%s: role %s, state %s" % (
                member, answer.get("role"), answer.get("replication_state") or answer.get("state")))
    return (not problems, leaders[0] if len(leaders) == 1 else None, problems)


def format_table(rows):
    """The member table as lines of text (for ``debug`` output and logs)."""
    head = ("Member", "Role", "State", "Lag (bytes)", "TL", "Pending restart")
    data = [head]
    for r in rows:
        pending = "-" if r["pending_restart"] is None else ("yes" if r["pending_restart"] else "no")
        if r["pending_restart"] and r.get("pending_restart_reason"):
            pending += " (%s)" % ", ".join(sorted(r["pending_restart_reason"]))
        data.append((r["member"], r["role"] or "-", r["state"] or "-",
                     "-" if r["lag"] is None else str(r["lag"]),
                     "-" if r["timeline"] is None else str(r["timeline"]), pending))
    widths = [max(len(row[i]) for row in data) for i in range(len(head))]
    lines = []
    for row in data:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


# ---------------------------------------------------------------------------------------------
# Roles and databases (what the operator does after the pods are up)
# ---------------------------------------------------------------------------------------------
def spilo_bootstrap_roles(model):
    """Roles that Spilo's post-init script creates and the model refers to without managing them.

    Plain PostgreSQL has no such script: the team admin role (``team_admin_role``, ``admin``),
    which manifest users get ``ADMIN`` to, is created here as a NOLOGIN role with CREATEDB.
    """
    names = set(r["name"] for r in model.get("roles") or [])
    needed = set()
    for role in model.get("roles") or []:
        if role.get("admin") and role["admin"] not in names:
            needed.add(role["admin"])
    return [{"name": name, "origin": "system", "flags": ["CREATEDB"], "member_of": [], "admin": None,
             "parameters": {}, "password": None, "secret": None, "is_db_owner": False} for name in sorted(needed)]


def sync_sql(model, credentials, pg_port, check_mode=False):
    """Converge the model's roles (passwords from their secrets), databases and prepared databases.

    The same module_utils as ``postgresql_role_sync``/``postgresql_database_sync``, against the
    leader on loopback. Returns ``{"changed", "roles": [...actions], "databases": [...actions],
    "warnings"}``; no password or verifier is in it.
    """
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.dbsync import sync_databases
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import sync_roles

    params = {"login_host": LOOPBACK, "login_port": int(pg_port),
              "login_user": credentials["superuser"]["username"],
              "login_password": credentials["superuser"]["password"], "login_db": "postgres",
              "ssl_mode": "disable", "connect_timeout": 10}
    encryption = ((model.get("spec") or {}).get("postgresql") or {}).get("parameters", {}).get(
        "password_encryption") or "scram-sha-256"
    desired = spilo_bootstrap_roles(model) + copy.deepcopy(model.get("roles") or [])
    roles = sync_roles(params, desired, check_mode=check_mode, password_encryption=encryption)
    dbs = sync_databases(params, dict(model.get("databases") or {}),
                         copy.deepcopy(model.get("prepared_databases") or []), check_mode=check_mode)
    return {"changed": bool(roles["changed"] or dbs["changed"]), "roles": roles["actions"],
            "databases": dbs["actions"], "warnings": list(roles["warnings"]) + list(dbs["warnings"])}


# ---------------------------------------------------------------------------------------------
# Host facts and process helpers
# ---------------------------------------------------------------------------------------------
def host_facts(pg_bin_dir=DEFAULT_PG_BIN_DIR, etcd_bin=DEFAULT_ETCD):
    """What this machine offers: installed locales, parameters PostgreSQL knows, libraries."""
    facts = {"pg_bin_dir": pg_bin_dir, "etcd_bin": etcd_bin, "locales": None, "gucs": None,
             "libraries": None, "mem_available_mb": mem_available_mb()}
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10, check=False)
        if out.returncode == 0:
            facts["locales"] = [x for x in out.stdout.splitlines() if x.strip()]
    except OSError:
        pass
    postgres = os.path.join(pg_bin_dir, "postgres")
    try:
        out = subprocess.run([postgres, "--describe-config"], capture_output=True, text=True,
                             timeout=30, check=False)
        if out.returncode == 0:
            facts["gucs"] = set(line.split("\t", 1)[0] for line in out.stdout.splitlines() if line)
    except OSError:
        pass
    try:
        out = subprocess.run([os.path.join(pg_bin_dir, "pg_config"), "--pkglibdir"],
                             capture_output=True, text=True, timeout=10, check=False)
        libdir = out.stdout.strip() if out.returncode == 0 else ""
    except OSError:
        libdir = ""
    if not libdir:
        libdir = os.path.join(os.path.dirname(pg_bin_dir.rstrip("/")), "lib")
    if os.path.isdir(libdir):
        facts["libraries"] = set(f[:-3] for f in os.listdir(libdir) if f.endswith(".so"))
    return facts


def free_ports(count, taken=()):
    """``count`` distinct free TCP ports on loopback (bind to port 0), avoiding ``taken``."""
    ports, socks = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in taken and port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _port_busy(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def unreachable_ancestor(path, user):
    """The first existing ancestor of ``path`` that ``user`` (a pwd entry) cannot traverse, or None."""
    groups = set([user.pw_gid])
    try:
        import grp
        groups.update(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)
    except ImportError:  # pragma: no cover
        pass
    current = os.path.dirname(os.path.abspath(path))
    chain = []
    while True:
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(chain):
        try:
            st = os.stat(directory)
        except OSError:
            return None  # does not exist yet: it will be created by us (0755)
        if user.pw_uid == 0:
            continue
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return directory
    return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def pid_alive(pid, marker=None):
    """True if ``pid`` runs (not a zombie) and, when given, its command line contains ``marker``."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    except (ChildProcessError, OSError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (IOError, OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    if marker is not None:
        cmd = _cmdline(pid)
        return cmd is not None and marker in cmd
    return True


def stop_pid(pid, marker, timeout=30.0, sig=signal.SIGTERM, kill_sig=signal.SIGKILL, send=True):
    """Signal ``pid`` (only if it is still the process we started), wait, then kill after timeout.

    ``send=False``: the signal was already sent, only wait (and kill after ``timeout``).
    Returns ``"not running"``, ``"stopped"`` or ``"killed"``.
    """
    if not pid_alive(pid, marker):
        return "not running"
    try:
        if send:
            os.kill(pid, sig)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            return "stopped"
        time.sleep(0.1)
    try:
        os.kill(pid, kill_sig)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + 10
    while pid_alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return "killed"


def postmaster_pid(data_dir):
    """PID of the postmaster recorded in ``data_dir/postmaster.pid``, if it still runs there."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            pid = int(fh.readline().strip())
    except (IOError, OSError, ValueError):
        return None
    return pid if pid_alive(pid, data_dir) else None


def _argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except (IOError, OSError):
        return []


def _uid(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError, IndexError):
        pass
    return None


def processes_using(path, uid=None):
    """PIDs (of ``uid``, when given) with an argument inside ``path``: a check after teardown.

    Only whole arguments count (``/x/m0/patroni.yml``, ``-D /x/m0/data``), so a controller
    command line such as ``-e state_dir=/x`` is not taken for a service. Never used to kill.
    """
    path = path.rstrip("/")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if uid is not None and _uid(pid) != uid:
            continue
        args = _argv(pid)
        if any(a == path or a.startswith(path + "/") for a in args) and pid_alive(pid):
            found.append(pid)
    return sorted(found)


def http_json(url, method="GET", body=None, auth=None, timeout=2.0):
    """Minimal JSON over HTTP for the harness; returns ``(status, parsed-or-text)``."""
    data = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
    try:
        resp = open_url(url, data=data, method=method, headers=headers, timeout=timeout,
                        validate_certs=False, follow_redirects="none", use_proxy=False)
        status, raw = resp.status, resp.read()
    except HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def patroni_state(api_url, timeout=2.0):
    """A member's own ``GET /patroni`` answer, or None when its REST API does not answer."""
    try:
        answer = http_json(api_url.rstrip("/") + "/patroni", timeout=timeout)[1]
    except (URLError, OSError, ValueError, UrlsConnectionError):
        return None
    return answer if isinstance(answer, dict) else None


def _tail(path, lines=15):
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            return fh.read().decode("utf-8", "replace").splitlines()[-lines:]
    except (IOError, OSError):
        return []


def _yaml_dump(data):
    try:
        import yaml
        return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    except ImportError:  # pragma: no cover - JSON is valid YAML
        return json.dumps(data, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# The cluster on this machine
# ---------------------------------------------------------------------------------------------
class LocalCluster(object):
    """One local cluster, identified by its state dir. Methods plan, act and read state.

    ``os_user`` is used when running as root; otherwise everything runs as the current user.
    """

    def __init__(self, name, state_dir=None, state_root=None, os_user=DEFAULT_OS_USER,
                 patroni_bin=DEFAULT_PATRONI, pg_bin_dir=DEFAULT_PG_BIN_DIR, etcd_bin=DEFAULT_ETCD):
        # ``state_root`` is the home every state dir must lie in. A Python caller that names only a
        # state_dir chose it in code: its parent is the home then (the module always passes the home).
        if state_root is None:
            state_root = os.path.dirname(os.path.realpath(state_dir)) if state_dir else DEFAULT_STATE_ROOT
        self.name = lay.check_name(name)
        self.home = state_root
        self.state_dir = lay.resolve_state_dir(name, state_dir, state_root)
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.patroni_bin = patroni_bin
        self.pg_bin_dir = pg_bin_dir
        self.etcd_bin = etcd_bin
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam(os_user)
            except KeyError:
                raise LocalClusterError("the OS user %r does not exist; install postgresql-15 (it creates "
                                        "the postgres user) or set os_user" % os_user) from None
        else:
            self.user = pwd.getpwuid(os.geteuid())
        self.uids = set([os.geteuid(), self.user.pw_uid])
        self.warnings = []

    def ownership(self):
        """``absent``, ``ours`` or ``foreign`` (a directory we did not create for this cluster)."""
        return lay.ownership(self.state_dir, self.name, self.uids)

    def _refuse_foreign(self):
        if self.ownership() == "foreign":
            raise LocalClusterError("%s exists and was not created by the local target for cluster %s (no marker "
                                    "file %s in it); nothing was changed or removed. Choose another name or "
                                    "state_dir" % (self.state_dir, self.name, lay.MARKER), cluster=self.name)

    # --- state file ---------------------------------------------------------------------------
    def load_state(self):
        if self.ownership() != "ours":
            return None
        try:
            with open(self.state_file) as fh:
                state = json.load(fh)
        except (IOError, OSError):
            return None
        except ValueError as err:
            raise LocalClusterError("%s is not valid JSON (%s); remove the state dir with state=absent "
                                    "or by hand" % (self.state_file, err), cluster=self.name) from None
        if state.get("name") != self.name:
            raise LocalClusterError("%s belongs to cluster %r, not %r; use another state_dir"
                                    % (self.state_file, state.get("name"), self.name), cluster=self.name)
        return state

    def save_state(self, state):
        tmp = self.state_file + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
        self._own(tmp)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.state_file)

    def _own(self, path):
        if os.geteuid() == 0:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _mkdir(self, path, mode=0o700):
        """A private directory inside our state dir (never a symlink or someone else's directory)."""
        root = os.geteuid() == 0
        lay.make_private_dir(path, self.user.pw_uid if root else None, self.user.pw_gid if root else None, mode)

    def _write_private(self, path, text):
        """Write a file only this user and the service user can read; True if it changed."""
        try:
            with open(path) as fh:
                if fh.read() == text:
                    return False
        except (IOError, OSError):
            pass
        if os.path.lexists(path + ".tmp"):
            os.unlink(path + ".tmp")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        self._own(path + ".tmp")
        os.rename(path + ".tmp", path)
        return True

    def socket_dir(self):
        return lay.socket_dir_for(self.state_dir)

    # --- processes ----------------------------------------------------------------------------
    def _spawn(self, argv, log_path, cwd):
        env = {"PATH": "%s:/usr/local/bin:/usr/bin:/bin" % self.pg_bin_dir,
               "HOME": self.user.pw_dir, "USER": self.user.pw_name, "LOGNAME": self.user.pw_name,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        kwargs = {}
        if os.geteuid() == 0:
            # Popen switches user in the child before exec: the recorded PID is the service itself.
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._own(log_path)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=cwd,
                                    env=env, close_fds=True, start_new_session=True, **kwargs)
        finally:
            os.close(fd)
        return proc.pid

    def _wait_etcd(self, port, pid, timeout):
        try:
            etcd_mod.wait_healthy(port, lambda: pid_alive(pid), timeout,
                                  lambda: _tail(os.path.join(self.state_dir, "etcd.log"), 5))
        except etcd_mod.EtcdError as err:
            raise LocalClusterError(err.msg, cluster=self.name) from None

    # --- plan / apply -------------------------------------------------------------------------
    def layout(self, state, instances):
        """Ports and paths: kept from ``state`` for existing members, fresh free ports otherwise."""
        taken = set()
        etcd = dict((state or {}).get("etcd") or {})
        members = {}
        for info in ((state or {}).get("members") or {}).values():
            taken.update((info["pg_port"], info["api_port"]))
        if etcd:
            taken.update((etcd["client_port"], etcd["peer_port"]))
        else:
            etcd["client_port"], etcd["peer_port"] = free_ports(2, taken)
            taken.update((etcd["client_port"], etcd["peer_port"]))
        old = (state or {}).get("members") or {}
        for member in member_names(self.name, instances):
            if member in old:
                members[member] = {"pg_port": old[member]["pg_port"], "api_port": old[member]["api_port"]}
            else:
                pg_port, api_port = free_ports(2, taken)
                taken.update((pg_port, api_port))
                members[member] = {"pg_port": pg_port, "api_port": api_port}
        return {"state_dir": self.state_dir, "socket_dir": self.socket_dir(),
                "etcd": {"client_port": etcd["client_port"], "peer_port": etcd["peer_port"]},
                "members": members}

    def plan_present(self, model, spilo_conf, facts=None):
        """What ``apply`` would do to make the cluster match the model. Changes nothing."""
        instances = int(model.get("instances") or 0)
        if instances < 1:
            raise ManifestError("spec.numberOfInstances", "is %s" % instances,
                                "the local target needs at least 1 instance")
        params = ((model.get("spec") or {}).get("postgresql") or {}).get("parameters") or {}
        member_limit(instances, params)  # the fixed bound first: cheap, before any fact is read
        self._refuse_foreign()
        state = self.load_state()
        facts = facts if facts is not None else host_facts(self.pg_bin_dir, self.etcd_bin)
        member_limit(instances, params, facts.get("mem_available_mb"))
        creds = credentials_from_model(model, (state or {}).get("credentials"))
        layout = self.layout(state, instances)
        rendered = render_cluster(model, spilo_conf, layout, creds, facts)
        actions = []
        etcd_pid = ((state or {}).get("etcd") or {}).get("pid")
        if not pid_alive(etcd_pid, os.path.join(self.state_dir, "etcd")):
            actions.append({"action": "start", "target": "etcd"})
        old = (state or {}).get("members") or {}
        for member in sorted(rendered["members"]):
            conf_path = os.path.join(self.state_dir, member, "patroni.yml")
            text = _yaml_dump(rendered["members"][member])
            try:
                with open(conf_path) as fh:
                    same = fh.read() == text
            except (IOError, OSError):
                same = False
            alive = member in old and pid_alive(old[member].get("pid"), conf_path)
            if not alive:
                actions.append({"action": "start", "target": member})
            elif not same:
                actions.append({"action": "reload", "target": member})
        for member in sorted(set(old) - set(rendered["members"])):
            actions.append({"action": "remove", "target": member})
        return {"state": state, "credentials": creds, "layout": layout, "rendered": rendered,
                "actions": actions, "warnings": list(model.get("warnings") or []) + rendered["warnings"],
                "model": {"name": model["name"], "instances": instances,
                          "pg_version": str(model.get("pg_version") or "")}}

    def absent_command(self):
        """The command that stops and removes this cluster (said when something fails)."""
        extra = ""
        if self.state_dir != os.path.join(os.path.realpath(self.home), self.name):
            extra = " -e state_dir=%s" % self.state_dir
        return "ansible-playbook playbooks/local.yml -e name=%s -e state=absent%s" % (self.name, extra)

    def apply(self, plan, timeout=120.0, wait=True):
        """Carry out ``plan`` (from ``plan_present``) and wait until 1 leader + N-1 streaming.

        When it fails on a cluster this run created, everything it started is stopped (the logs
        stay in the state dir); on a cluster that existed, nothing is stopped and the error says
        how to remove it.
        """
        new = plan["state"] is None
        try:
            return self._apply(plan, timeout, wait)
        except (LocalClusterError, OSError) as err:
            msg = getattr(err, "msg", None) or str(err)
            context = dict(getattr(err, "context", None) or {})
            context.pop("cluster", None)
            if new and self.ownership() == "ours":
                stopped = self.stop_all(self.load_state() or {}, timeout=30)
                msg += ("; this run created the cluster, so what it started was stopped (%s); the logs stay in %s. "
                        "Fix the cause and run present again, or remove everything with: %s"
                        % (", ".join("%s %s" % kv for kv in sorted(stopped.items())) or "nothing had started",
                           self.state_dir, self.absent_command()))
                context["stopped"] = stopped
            else:
                msg += ("; the cluster existed before this run and was left running as it is. To stop and remove "
                        "it: %s" % self.absent_command())
            raise LocalClusterError(msg, cluster=self.name, **context) from None

    def _apply(self, plan, timeout, wait):
        layout, creds, rendered = plan["layout"], plan["credentials"], plan["rendered"]
        state = plan["state"] or {"format": STATE_FORMAT, "name": self.name, "state_dir": self.state_dir,
                                  "etcd": {}, "members": {}}
        state["credentials"] = creds
        state["os_user"] = self.user.pw_name
        state["socket_dir"] = layout["socket_dir"]
        state["pg_version_requested"] = plan["model"]["pg_version"]
        state["pg_version"] = LOCAL_PG_VERSION
        blocked = unreachable_ancestor(self.state_dir, self.user)
        if blocked:
            raise LocalClusterError("state_dir %s: the %s user cannot reach it (%s is mode %o); choose a state_dir "
                                    "under /var/lib/pgfleet or /tmp" % (self.state_dir, self.user.pw_name, blocked,
                                                                        os.stat(blocked).st_mode & 0o7777),
                                    cluster=self.name)
        root = os.geteuid() == 0
        uid, gid = (self.user.pw_uid, self.user.pw_gid) if root else (None, None)
        try:
            lay.create_state_dir(self.state_dir, self.name, uid, gid)
            lay.create_socket_dir(layout["socket_dir"], self.state_dir, self.name, uid, gid)
        except lay.LayoutError as err:
            raise LocalClusterError(str(err), cluster=self.name) from None
        self.save_state(state)
        todo = dict((a["target"], a["action"]) for a in plan["actions"])

        # etcd first: Patroni waits for its DCS anyway, but a dead etcd is the clearest failure.
        etcd_dir = os.path.join(self.state_dir, "etcd")
        if todo.get("etcd") == "start":
            for port in (layout["etcd"]["client_port"], layout["etcd"]["peer_port"]):
                if _port_busy(port):
                    raise LocalClusterError("etcd port %d is taken by another process; remove the cluster "
                                            "(state=absent) and create it again" % port, cluster=self.name)
            pid = self._spawn(rendered["etcd"], os.path.join(self.state_dir, "etcd.log"), self.state_dir)
            state["etcd"] = dict(layout["etcd"], pid=pid, data_dir=etcd_dir,
                                 log=os.path.join(self.state_dir, "etcd.log"))
            self.save_state(state)
            self._wait_etcd(layout["etcd"]["client_port"], pid, min(timeout, 30))
        else:
            state["etcd"] = dict(state["etcd"], **layout["etcd"])
        if not state["etcd"].get("auth"):
            try:
                etcd_mod.enable_auth(layout["etcd"]["client_port"], creds["etcd"])
            except etcd_mod.EtcdError as err:
                raise LocalClusterError(err.msg, cluster=self.name) from None
            state["etcd"]["auth"] = True
            self.save_state(state)

        # Scale down: remove surplus members (after moving the leader away from them).
        removed = [t for t, a in todo.items() if a == "remove"]
        if removed:
            self._move_leader_away(state, removed, creds)
            for member in sorted(removed):
                self.stop_member(member, state=state)
                if member.startswith(self.name + "-") and member[len(self.name) + 1:].isdigit():
                    shutil.rmtree(os.path.join(self.state_dir, member), ignore_errors=True)
                state["members"].pop(member, None)
                self.save_state(state)

        for member in sorted(rendered["members"]):
            mdir = os.path.join(self.state_dir, member)
            self._mkdir(mdir)
            conf_path = os.path.join(mdir, "patroni.yml")
            self._write_private(conf_path, _yaml_dump(rendered["members"][member]))
            info = dict(state["members"].get(member) or {}, **layout["members"][member])
            info.update({"config": conf_path, "data_dir": os.path.join(mdir, "data"),
                         "log": os.path.join(mdir, "patroni.log"),
                         "api_url": "http://%s:%d" % (LOOPBACK, info["api_port"])})
            state["members"][member] = info
            action = todo.get(member)
            if action == "start":
                self._start_member(member, info)
            elif action == "reload":
                os.kill(info["pid"], signal.SIGHUP)
            self.save_state(state)
        result = {"changed": bool(plan["actions"]), "actions": plan["actions"]}
        if wait:
            result["members"] = self.wait_healthy(timeout, state=state)
        return result

    def _start_member(self, member, info):
        data_dir = info["data_dir"]
        leftover = postmaster_pid(data_dir)
        if leftover:
            # Patroni died but its detached postmaster still runs: stop it, Patroni restarts it.
            stop_pid(leftover, data_dir, timeout=30, sig=signal.SIGINT, kill_sig=signal.SIGQUIT)
        for port in (info["pg_port"], info["api_port"]):
            if _port_busy(port):
                raise LocalClusterError("port %d of member %s is taken by another process; stop it or "
                                        "remove the cluster (state=absent) and create it again"
                                        % (port, member), cluster=self.name, member=member)
        info["pid"] = self._spawn([self.patroni_bin, info["config"]], info["log"],
                                  os.path.dirname(info["config"]))

    def _move_leader_away(self, state, removed, creds):
        keep = sorted(set(state["members"]) - set(removed))
        answers = self.answers(state)
        leader = next((m for m, a in answers.items() if _is_leader(a)), None)
        if leader not in removed or not keep:
            return
        url = state["members"][leader]["api_url"] + "/switchover"
        auth = (creds["restapi"]["username"], creds["restapi"]["password"])
        status, answer = http_json(url, "POST", {"leader": leader, "candidate": keep[0]}, auth, timeout=30)
        if status != 200:
            raise LocalClusterError("could not move the leader from %s to %s before scaling down: HTTP %s %s"
                                    % (leader, keep[0], status, answer), cluster=self.name, member=leader)

    # --- members one by one (used by tests: fault injection) ---------------------------------
    def start_member(self, member, state=None):
        """Start one member's Patroni again with its existing config and data."""
        state = state or self.load_state()
        info = state["members"][member]
        if pid_alive(info.get("pid"), info["config"]):
            return False
        self._start_member(member, info)
        self.save_state(state)
        return True

    def stop_member(self, member, state=None, timeout=30.0, kill=False, postmaster=True, signalled=False):
        """Stop one member's Patroni by PID (SIGKILL at once with ``kill``), then its postmaster.

        ``postmaster=False`` leaves a detached postmaster running (what a crashed Patroni leaves).
        """
        state = state or self.load_state()
        info = state["members"][member]
        sig = signal.SIGKILL if kill else signal.SIGTERM
        outcome = stop_pid(info.get("pid"), info["config"], timeout=timeout, sig=sig, send=not signalled)
        if postmaster:
            pm = postmaster_pid(info["data_dir"])
            if pm:
                stop_pid(pm, info["data_dir"], timeout=30, sig=signal.SIGINT, kill_sig=signal.SIGQUIT)
                outcome += " (postmaster %s stopped too)" % pm
        return outcome

    # --- reading ------------------------------------------------------------------------------
    def answers(self, state=None, timeout=2.0):
        state = state or self.load_state() or {}
        return dict((m, patroni_state(i["api_url"], timeout)) for m, i in (state.get("members") or {}).items())

    def status(self, state=None):
        state = state or self.load_state()
        if not state:
            return {"exists": False, "members": [], "healthy": False, "leader": None, "problems": []}
        answers = self.answers(state)
        ok, leader, problems = health(answers, len(state["members"]))
        rows = member_rows(answers)
        for row in rows:
            info = state["members"][row["member"]]
            row.update({"api_url": info["api_url"], "pg_port": info["pg_port"], "pid": info.get("pid")})
            if row["state"] == "unreachable" and not pid_alive(info.get("pid"), info["config"]):
                row["state"] = "stopped"
        return {"exists": True, "members": rows, "healthy": ok, "leader": leader, "problems": problems}

    def wait_healthy(self, timeout=120.0, state=None, interval=0.25):
        """Poll each member's own ``GET /patroni`` until 1 leader + N-1 streaming; return the rows."""
        state = state or self.load_state()
        deadline = time.monotonic() + timeout
        while True:
            answers = self.answers(state, timeout=1.0)
            ok, leader, problems = health(answers, len(state["members"]))
            if ok:
                return member_rows(answers)
            dead = [m for m, i in state["members"].items() if not pid_alive(i.get("pid"), i["config"])]
            if time.monotonic() > deadline or dead:
                logs = dict((m, _tail(i["log"])) for m, i in state["members"].items()
                            if m in dead or answers.get(m) is None or not _is_leader(answers.get(m)))
                why = "; ".join(problems)
                if dead:
                    why = "Patroni exited for %s; %s" % (", ".join(sorted(dead)), why)
                raise LocalClusterError(
                    "cluster %s is not healthy (%s); see the member logs under %s" % (self.name, why, self.state_dir),
                    cluster=self.name, problems=problems, members=member_rows(answers), logs=logs)
            time.sleep(interval)

    def summary(self, state=None):
        """Ports, API URLs, DSN (no password) and the credentials file path: safe to print."""
        state = state or self.load_state()
        if not state:
            return {"state_dir": self.state_dir, "exists": False}
        members = state["members"]
        ports = [members[m]["pg_port"] for m in sorted(members)]
        return {
            "exists": True,
            "state_dir": self.state_dir,
            "state_file": self.state_file,
            "credentials_file": self.state_file,
            "api_urls": dict((m, members[m]["api_url"]) for m in sorted(members)),
            "ports": {"etcd_client": state["etcd"].get("client_port"),
                      "etcd_peer": state["etcd"].get("peer_port"),
                      "members": dict((m, {"postgres": members[m]["pg_port"], "api": members[m]["api_port"]})
                                      for m in sorted(members))},
            "etcd_url": "http://%s:%s" % (LOOPBACK, state["etcd"].get("client_port")),
            "dsn": multi_host_dsn(ports, state["credentials"]["superuser"]["username"]),
            "socket_dir": state.get("socket_dir"),
            "pids": dict([("etcd", state["etcd"].get("pid"))] + [(m, members[m].get("pid")) for m in sorted(members)]),
        }

    # --- teardown -----------------------------------------------------------------------------
    def plan_absent(self):
        """What ``absent`` would stop and remove. Refuses a directory we did not create."""
        self._refuse_foreign()
        state = self.load_state()
        if state is None:
            # Ours (marker) but no state file: a present that stopped before writing it.
            mine = self.ownership() == "ours"
            return {"state": None, "actions": [{"action": "remove", "target": self.state_dir}] if mine else []}
        actions = [{"action": "stop", "target": m} for m in sorted(state.get("members") or {})]
        actions.append({"action": "stop", "target": "etcd"})
        actions.append({"action": "remove", "target": self.state_dir})
        return {"state": state, "actions": actions}

    def absent(self, plan=None, timeout=30.0):
        """Stop exactly what was started (members, detached postmasters, etcd), then remove the data."""
        plan = plan or self.plan_absent()
        state = plan["state"]
        stopped = self.stop_all(state, timeout) if state else {}
        leftover = processes_using(self.state_dir, self.user.pw_uid)
        if leftover:
            raise LocalClusterError("processes still use %s after the stop (PIDs %s); the data was kept. Stop "
                                    "them, then run state=absent again" % (
                                        self.state_dir, ", ".join(str(p) for p in leftover)),
                                    cluster=self.name, pids=leftover, stopped=stopped)
        sock = (state or {}).get("socket_dir")
        lay.remove_ours(self.state_dir, self.name, self.uids)
        if sock and sock.startswith(lay.SOCKET_PREFIX):
            lay.remove_ours(sock, self.name, self.uids)
        return {"changed": bool(plan["actions"]), "actions": plan["actions"], "stopped": stopped}

    def stop_all(self, state, timeout=30.0):
        """Stop every member (and its detached postmaster), then etcd, by PID; ``{process: outcome}``."""
        stopped = {}
        if state:
            members = state.get("members") or {}
            # SIGTERM every Patroni at once: each needs about 4 s to stop cleanly.
            signalled = set()
            for member, info in members.items():
                if pid_alive(info.get("pid"), info["config"]):
                    try:
                        os.kill(info["pid"], signal.SIGTERM)
                        signalled.add(member)
                    except ProcessLookupError:
                        pass
            for member in sorted(members):
                outcome = self.stop_member(member, state=state, timeout=timeout, signalled=True)
                if member in signalled and outcome.startswith("not running"):
                    outcome = "stopped" + outcome[len("not running"):]
                stopped[member] = outcome
            etcd = state.get("etcd") or {}
            stopped["etcd"] = stop_pid(etcd.get("pid"), os.path.join(self.state_dir, "etcd"), timeout=timeout)
        return stopped
