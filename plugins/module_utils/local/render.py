# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Pure rendering of a local cluster: a model and its Spilo configuration in, one ``patroni.yml``
(as a dict) per member and etcd's command line out. No processes, no files.

The same model and the same ``SPILO_CONFIGURATION`` as the Kubernetes path, so a manifest means
the same thing in both places; what plain PostgreSQL on this machine cannot run is dropped with
a warning (Spilo-only parameters, missing libraries, unknown parameters, missing locales).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import etcd as etcd_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.layout import LocalClusterError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.secrets import generate_password

DEFAULT_PG_BIN_DIR = "/usr/lib/postgresql/15/bin"
DEFAULT_ETCD = "/usr/bin/etcd"
LOCAL_PG_VERSION = "15"
REST_USERNAME = "patroni"
LOOPBACK = "127.0.0.1"
# Parameters only a Spilo image understands; plain PostgreSQL lacks the modules behind them.
SPILO_ONLY_PREFIXES = ("bg_mon.", "extwlist.")
# The local target owns these: ports and sockets are per member, set by Patroni or by us.
FORCED_PARAMETERS = ("listen_addresses", "port", "unix_socket_directories", "data_directory",
                     "hba_file", "ident_file", "config_file")
# The most members one local cluster may have, whatever the memory: each member is a Patroni
# process, a PostgreSQL server and two loopback ports, and every replica streams from the leader.
MAX_MEMBERS = 16
# Memory one member needs besides shared_buffers: Patroni (~50 MB) and PostgreSQL's own processes.
MEMBER_OVERHEAD_MB = 96
DEFAULT_SHARED_BUFFERS_MB = 128


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


def filter_parameters(params, where, known_gucs=None, available_libraries=None, major=LOCAL_PG_VERSION):
    """Drop what plain PostgreSQL ``major`` on this machine cannot start with; return (kept, warnings).

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
                            "target" % (field, major))
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
    creds["secrets"] = {}
    old_secrets = previous.get("secrets") or {}
    for s in model.get("secrets") or []:
        if s.get("password"):
            entry = {"username": s["username"], "password": s["password"]}
            # the password rotation's times stay beside the credentials (docs/design/credentials.md)
            kept = old_secrets.get(s["name"]) if isinstance(old_secrets.get(s["name"]), dict) else {}
            for key in ("nextRotation", "rotatedAt"):
                if kept.get(key):
                    entry[key] = kept[key]
            creds["secrets"][s["name"]] = entry
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
    major = str(facts.get("pg_major") or pg_version or LOCAL_PG_VERSION)
    if pg_version and pg_version != major:
        warnings.append("spec.postgresql.version: %s requested; this local cluster runs PostgreSQL %s"
                        % (pg_version, major))

    log_statement = str((spilo_pg.get("parameters") or {}).get("log_statement")
                        or ((bootstrap.get("dcs") or {}).get("postgresql") or {}).get("parameters", {}).get(
                            "log_statement") or "").strip().lower()
    if log_statement in ("all", "ddl", "mod"):
        warnings.append("spec.postgresql.parameters.log_statement: %s writes every role statement of the role sync "
                        "to the server log, SCRAM password verifiers included (ALTER ROLE ... PASSWORD); keep the "
                        "logs private or use log_statement: none" % log_statement)

    local_params, w = filter_parameters(spilo_pg.get("parameters"), "spec.postgresql.parameters",
                                        facts.get("gucs"), facts.get("libraries"), major)
    warnings += w
    local_params["unix_socket_directories"] = layout["socket_dir"]

    dcs = copy.deepcopy(bootstrap.get("dcs") or {})
    dcs_pg = dcs.setdefault("postgresql", {})
    dyn, w = filter_parameters(dcs_pg.get("parameters"), "spec.postgresql.parameters",
                               facts.get("gucs"), facts.get("libraries"), major)
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


def _yaml_dump(data):
    try:
        import yaml
        return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    except ImportError:  # pragma: no cover - JSON is valid YAML
        return json.dumps(data, indent=2, sort_keys=True)
