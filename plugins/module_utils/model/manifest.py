# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The manifest model: one normalised, validated view of a ``postgresql`` (acid.zalan.do/v1) object.

:func:`build_model` is the only way any part of pgfleet reads a manifest. It validates the whole
manifest first and raises :class:`ManifestErrors` listing *every* problem (each naming the field,
e.g. ``spec.users.Foo``, and the fix) before anything is rendered or executed. The shape of the
returned dict is fixed in ``docs/dev/CONTRACTS.md``.

Where Zalando silently skips invalid input, we refuse it, so a typo never turns into a missing
database nobody notices:

* database and schema names that do not match ``^[a-zA-Z_][a-zA-Z0-9_]*$`` are an error
  (Zalando logs and skips them);
* ``additionalVolumes`` with a repeated mount path, the ``pgdata`` mount path, or ``all`` mixed
  with container names are an error (Zalando skips the volume);
* a ``standby`` section without a source, or with both S3 and GS WAL paths, is an error;
* Postgres identifiers longer than 63 bytes (Postgres would truncate them) are an error,
  including generated prepared-database role names such as ``<db>_<schema>_writer_user``.

Users named like a protected role or a system user are skipped with a warning, as in Zalando
(a warning, because the manifest is otherwise fine and the role exists anyway).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import ipaddress
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets as pgsecrets

# --------------------------------------------------------------------------------------------
# Patterns (SPEC sections 1.6, 3.1, 3.2)
CLUSTER_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CLUSTER_NAME_MAX = 58
USERNAME_RE = re.compile(r"^[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$")
DBNAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
FLAG_RE = re.compile(r"^[A-Za-z0-9]+$")
CPU_RE = opconfig.CPU_RE
MEMORY_RE = opconfig.MEMORY_RE
SCHEDULE_RE = re.compile(r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$")
WINDOW_RE = re.compile(r"^\s*(?:(?P<day>[A-Za-z]+):)?(?P<sh>\d{1,2}):(?P<sm>\d{1,2})-(?P<eh>\d{1,2}):(?P<em>\d{1,2})\s*$")
CLONE_TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?[+-](\d{2}):(\d{2})$")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
STANDBY_ENV_RE = re.compile(r"^STANDBY_WALE_(S3|GS|GSC|SWIFT)_PREFIX$", re.IGNORECASE)

PG_VERSIONS = ("13", "14", "15", "16", "17", "18")
PG_IDENTIFIER_MAX_BYTES = 63
PGDATA_MOUNT = "/home/postgres/pgdata"

#: Weekday names as Zalando spells them (case-sensitive), Monday = 0 as in Python.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

BASE_FLAGS = ("SUPERUSER", "INHERIT", "LOGIN", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
VALID_FLAGS = frozenset(BASE_FLAGS + tuple("NO" + f for f in BASE_FLAGS))

#: v1 field -> v2 field (SPEC 3.1); v2 removed the v1 names, we keep accepting them.
DEPRECATED_ALIASES = (
    ("useLoadBalancer", "enableMasterLoadBalancer"),
    ("replicaLoadBalancer", "enableReplicaLoadBalancer"),
    ("init_containers", "initContainers"),
    ("pod_priority_class_name", "podPriorityClassName"),
)

# Optional spec fields defaulted in the normalised spec.
_LIST_FIELDS = ("env", "envFrom", "sidecars", "initContainers", "additionalVolumes", "tolerations",
                "maintenanceWindows", "streams", "topologySpreadConstraints", "usersWithSecretRotation",
                "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation")
_MAP_FIELDS = ("users", "databases", "podAnnotations", "serviceAnnotations", "masterServiceAnnotations",
               "replicaServiceAnnotations", "patroni")

#: Role origins, lowest precedence first (SPEC 4.1: stream > pooler > bootstrap > system > teams
#: API > infrastructure > manifest).
ORIGIN_RANK = {"manifest": 1, "infrastructure": 2, "teams": 3, "system": 4, "prepared": 5, "pooler": 6, "stream": 7}

STREAM_USER = "fes_user"
POOLER_LABEL_APPLICATION = "db-connection-pooler"
LOGICAL_BACKUP_LABEL_APPLICATION = "spilo-logical-backup"

# Prepared-database role suffixes: suffix -> the suffix of the role it is a member of.
_DEFAULT_ROLES = (("_owner", ""), ("_reader", ""), ("_writer", "_reader"))
_DEFAULT_USERS = (("_owner_user", "_owner"), ("_reader_user", "_reader"), ("_writer_user", "_writer"))

_INITDB_BOOL_TRUE = ("data-checksums", "debug", "no-locale", "noclean", "nosync", "sync-only")


# --------------------------------------------------------------------------------------------
# Quantities


_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$")
_QUANTITY_SUFFIX = {
    None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "K": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def parse_quantity(value):
    """A Kubernetes quantity (``"250m"``, ``"1"``, ``"1.5Gi"``, ``"1e3"``) as a ``Decimal``.

    Raises ``ValueError`` for anything else. ``parse_quantity("1") == parse_quantity("1000m")``.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a quantity")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY_RE.match(str(value).strip())
    if not match:
        raise ValueError("%r is not a Kubernetes quantity" % (value,))
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets numbers through
        raise ValueError("%r is not a Kubernetes quantity" % (value,)) from exc
    if match.group(2):
        number = number * (Decimal(10) ** int(match.group(2)))
    return number * _QUANTITY_SUFFIX[match.group(3)]


def _unset_quantity(value):
    return value is None or (isinstance(value, str) and value.strip() in ("", "0", "null"))


# --------------------------------------------------------------------------------------------
# Problem collection


class _Problems(object):
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, field, problem, fix=None):
        self.errors.append(ManifestError(field, problem, fix))

    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _str_map(value, field, p, what="value"):
    """A map whose values must be strings (labels, annotations); scalars are coerced."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.error(field, "must be a map of %ss, got %s" % (what, type(value).__name__), "write key: value pairs")
        return {}
    result = {}
    for key, val in value.items():
        if isinstance(val, (dict, list)):
            p.error("%s.%s" % (field, key), "must be a string", "quote the value")
            continue
        if isinstance(val, bool):
            val = "true" if val else "false"
        result[str(key)] = "" if val is None else str(val)
    return result


def _ident_ok(name, field, p, what):
    """Refuse a Postgres identifier longer than 63 bytes (Postgres would silently truncate it)."""
    size = len(name.encode("utf-8"))
    if size > PG_IDENTIFIER_MAX_BYTES:
        p.error(field, "%s %r is %d bytes long; Postgres identifiers are at most %d bytes and longer ones are truncated"
                % (what, name, size, PG_IDENTIFIER_MAX_BYTES), "use a shorter name")
        return False
    return True


# --------------------------------------------------------------------------------------------
# Public helpers used by other parts


def normalize_flags(flags, field="flags", problems=None):
    """SPEC 4.2: upper-case, validate, reject X with NOX, drop duplicates, add LOGIN unless
    LOGIN/NOLOGIN, drop NOLOGIN, sort. Raises ManifestErrors unless ``problems`` collects them."""
    own = problems is None
    p = _Problems() if own else problems
    result = _normalize_flags(flags, field, p)
    if own and p.errors:
        raise ManifestErrors(p.errors)
    return result


def _normalize_flags(flags, field, p):
    if flags is None:
        flags = []
    if not isinstance(flags, list):
        p.error(field, "flags must be a list, got %s" % type(flags).__name__, "write e.g. [createdb, login]")
        return None
    seen = set()
    ok = True
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or not FLAG_RE.match(flag):
            p.error("%s[%d]" % (field, i), "flag %r is not alphanumeric" % (flag,), "use one of %s" % ", ".join(sorted(VALID_FLAGS)))
            ok = False
            continue
        upper = flag.upper()
        if upper not in VALID_FLAGS:
            p.error("%s[%d]" % (field, i), "unknown flag %r" % flag, "use one of %s" % ", ".join(sorted(VALID_FLAGS)))
            ok = False
            continue
        seen.add(upper)
    for base in BASE_FLAGS:
        if base in seen and "NO" + base in seen:
            p.error(field, "flags %s and NO%s contradict each other" % (base, base), "keep only one of them")
            ok = False
    if not ok:
        return None
    if "LOGIN" not in seen and "NOLOGIN" not in seen:
        seen.add("LOGIN")
    seen.discard("NOLOGIN")
    return sorted(seen)


def container_resources(resources, config, container="postgres", ignore_limits=False, field="spec.resources", warnings=None):
    """Resources of a container after SPEC 3.4.

    ``container``: ``postgres`` (all five steps), ``sidecar`` (steps 1, 3, 4 with the Postgres
    defaults), ``pooler`` (steps 1, 3, 4 with the ``connection_pooler_default_*`` defaults) or
    ``logical_backup`` (steps 1, 3, 4 with ``logical_backup_*`` falling back to the Postgres
    defaults). ``warnings`` (a list) receives a line per value that was raised or capped.
    Quantities are compared numerically. The values must already be valid quantities.
    """
    resources = resources if isinstance(resources, dict) else {}
    if container == "pooler":
        defaults = {("requests", "cpu"): config["connection_pooler_default_cpu_request"],
                    ("requests", "memory"): config["connection_pooler_default_memory_request"],
                    ("limits", "cpu"): config["connection_pooler_default_cpu_limit"],
                    ("limits", "memory"): config["connection_pooler_default_memory_limit"]}
    else:
        defaults = {("requests", "cpu"): config["default_cpu_request"],
                    ("requests", "memory"): config["default_memory_request"],
                    ("limits", "cpu"): config["default_cpu_limit"],
                    ("limits", "memory"): config["default_memory_limit"]}
        if container == "logical_backup":
            for (kind, res) in list(defaults):
                own = config.get("logical_backup_%s_%s" % (res, kind[:-1] if kind == "requests" else "limit"))
                if own:
                    defaults[(kind, res)] = own
    result = {"requests": {}, "limits": {}}
    for kind in ("requests", "limits"):
        given = resources.get(kind) if isinstance(resources.get(kind), dict) else {}
        for res in ("cpu", "memory"):
            value = given.get(res)
            if _unset_quantity(value):
                value = defaults[(kind, res)]
            if not _unset_quantity(value):
                result[kind][res] = str(value)
        for key, value in sorted(given.items()):
            if key.startswith("hugepages-") and not _unset_quantity(value):
                result[kind][key] = str(value)
    req, lim = result["requests"], result["limits"]

    def note(msg):
        if warnings is not None:
            warnings.append(msg)

    # 2. minimum limits (postgres only); like Zalando, a missing limit counts as 0 and is raised too
    if container == "postgres" and not ignore_limits:
        for res in ("cpu", "memory"):
            minimum = config["min_%s_limit" % res]
            if minimum and parse_quantity(lim.get(res, "0")) < parse_quantity(minimum):
                note("%s.limits.%s: %s is below min_%s_limit %s, raised to %s" % (field, res, lim.get(res, "unset"), res, minimum, minimum))
                lim[res] = minimum
    # 3. a limit below its request is raised to the request
    for res in sorted(set(req) & set(lim)):
        if parse_quantity(lim[res]) < parse_quantity(req[res]):
            note("%s.limits.%s: %s is below the request %s, raised to %s" % (field, res, lim[res], req[res], req[res]))
            lim[res] = req[res]
    # 4. memory request = memory limit
    if config["set_memory_request_to_limit"] and "memory" in lim:
        req["memory"] = lim["memory"]
    # 5. maximum requests (postgres only)
    if container == "postgres" and not ignore_limits:
        for res in ("cpu", "memory"):
            maximum = config["max_%s_request" % res]
            if maximum and res in req and parse_quantity(req[res]) > parse_quantity(maximum):
                note("%s.requests.%s: %s is above max_%s_request %s, capped to %s" % (field, res, req[res], res, maximum, maximum))
                req[res] = maximum
    return result


def parse_maintenance_window(text, field="spec.maintenanceWindows[0]", problems=None):
    """``"Sat:01:00-05:00"`` or ``"01:00-05:00"`` -> ``{"weekday": 5 | None, "start", "end"}``.

    Times are UTC. Like Zalando, a window cannot cross midnight; the error says how to split it.
    """
    own = problems is None
    p = _Problems() if own else problems
    result = _parse_window(text, field, p)
    if own and p.errors:
        raise ManifestErrors(p.errors)
    return result


def _parse_window(text, field, p):
    fix = 'write "HH:MM-HH:MM" (every day) or "Ddd:HH:MM-HH:MM" with Ddd one of %s, times in UTC' % ", ".join(WEEKDAYS)
    if not isinstance(text, str):
        p.error(field, "a maintenance window must be a string, got %r" % (text,), fix)
        return None
    match = WINDOW_RE.match(text)
    if not match:
        p.error(field, "%r is not a maintenance window" % text, fix)
        return None
    day = match.group("day")
    weekday = None
    if day is not None:
        if day not in WEEKDAYS:
            p.error(field, "%r: unknown weekday %r (case-sensitive)" % (text, day), fix)
            return None
        weekday = WEEKDAYS.index(day)
    sh, sm, eh, em = (int(match.group(g)) for g in ("sh", "sm", "eh", "em"))
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 23 or minute > 59:
            p.error(field, "%r: %02d:%02d is not a time of day" % (text, hour, minute), "hours are 00-23, minutes 00-59")
            return None
    if (eh, em) < (sh, sm):
        if weekday is None:
            split = "%02d:%02d-23:59 and 00:00-%02d:%02d" % (sh, sm, eh, em)
        else:
            split = "%s:%02d:%02d-23:59 and %s:00:00-%02d:%02d" % (day, sh, sm, WEEKDAYS[(weekday + 1) % 7], eh, em)
        p.error(field, "%r ends before it starts: a window cannot cross midnight (kept from Zalando for compatibility)" % text,
                "split it into two windows: %s" % split)
        return None
    return {"weekday": weekday, "start": "%02d:%02d" % (sh, sm), "end": "%02d:%02d" % (eh, em)}


def prepared_database_default_name(cluster_name):
    """``preparedDatabases: {}`` stands for one database named like the cluster, ``-`` -> ``_``."""
    return cluster_name.replace("-", "_")


def pooler_name(cluster_name, role="master"):
    return "%s-pooler" % cluster_name if role == "master" else "%s-pooler-repl" % cluster_name


# --------------------------------------------------------------------------------------------
# The model


def build_model(cr, config=None, existing_secrets=None):
    """Validate and normalise the ``postgresql`` object ``cr``; see ``docs/dev/CONTRACTS.md``.

    ``config``: the operator configuration in any form :func:`opconfig.load` accepts (typed or
    ConfigMap strings, or a whole ConfigMap); ``None`` means the defaults.
    ``existing_secrets``: the credential secrets that already exist, as a map of secret name (or
    ``namespace/name``) -> ``{"username", "password"}`` or a v1 Secret object, or a list of v1
    Secret objects. Their passwords are reused; a password is generated only for a secret that
    does not exist yet.

    Raises :class:`ManifestErrors` with every problem found.
    """
    p = _Problems()
    try:
        cfg = opconfig.load(config)
    except ManifestErrors as exc:
        p.errors.extend(exc.errors)
        cfg = opconfig.load(None)
    p.warnings.extend(cfg.get("_warnings", []))

    if not isinstance(cr, dict):
        raise ManifestErrors([ManifestError("manifest", "must be a postgresql object (a mapping), got %s" % type(cr).__name__,
                                            "pass the whole manifest with apiVersion, kind, metadata and spec")])
    metadata = cr.get("metadata")
    spec_in = cr.get("spec")
    if not isinstance(metadata, dict):
        p.error("metadata", "is missing or not a mapping", "add metadata: {name: <cluster>}")
        metadata = {}
    if not isinstance(spec_in, dict):
        p.error("spec", "is missing or not a mapping", "add the spec section (teamId, numberOfInstances, postgresql, volume)")
        spec_in = {}
    api_version = cr.get("apiVersion")
    if api_version is not None and api_version != "acid.zalan.do/v1":
        p.error("apiVersion", "%r is not acid.zalan.do/v1" % (api_version,), "write apiVersion: acid.zalan.do/v1")
    kind = cr.get("kind")
    if kind is not None and kind != "postgresql":
        p.error("kind", "%r is not postgresql" % (kind,), "write kind: postgresql")

    name = metadata.get("name")
    namespace = metadata.get("namespace") or "default"
    cr_labels = _str_map(metadata.get("labels"), "metadata.labels", p, "label")
    cr_annotations = _str_map(metadata.get("annotations"), "metadata.annotations", p, "annotation")
    spec = copy.deepcopy(spec_in)

    _map_aliases(spec, p)
    _default_containers(spec)

    team = spec.get("teamId")
    if not isinstance(team, str) or not team:
        p.error("spec.teamId", "is required", "add teamId: <your team>, e.g. teamId: acid")
        team = team if isinstance(team, str) else ""
    elif len(team) > 63 or not LABEL_VALUE_RE.match(team):
        p.error("spec.teamId", "%r is not a valid label value (it becomes the team label)" % team,
                "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    _check_name(name, team, cfg, p)
    name = name if isinstance(name, str) else ""

    instances_raw = spec.get("numberOfInstances")
    if not _is_int(instances_raw):
        p.error("spec.numberOfInstances", "is required and must be a whole number, got %r" % (instances_raw,), "write e.g. numberOfInstances: 2")
        instances_raw = 0
    elif instances_raw < 0:
        p.error("spec.numberOfInstances", "must be >= 0, got %d" % instances_raw, "write 0 to stop the cluster, or a positive count")
        instances_raw = 0

    pg_version = _check_postgresql(spec, p)
    _check_volume(spec, p)
    _check_resources_field(spec.get("resources"), "spec.resources", p)
    _check_maps(spec, p)
    _check_lists(spec, p)
    _check_env(spec, p)
    _check_containers(spec, cfg, p)
    _check_additional_volumes(spec, p)
    _check_source_ranges(spec, p)
    _check_misc(spec, p)
    _check_patroni(spec, p)
    tls = _check_tls(spec, p)
    clone = _check_clone(spec, p)
    standby = _check_standby(spec, p)
    windows = _check_windows(spec, cfg, p)
    pooler = _pooler(spec, cfg, name, p)
    logical_backup, schedule = _logical_backup(spec, cfg, p)

    # instances (SPEC 2.1)
    instances = _clamp_instances(instances_raw, spec, cfg, cr_annotations, standby, p)

    # labels and annotations (SPEC 1.2, 1.4)
    selector = dict(cfg["cluster_labels"])
    selector[cfg["cluster_name_label"]] = name
    obj = dict(selector)
    obj["team"] = team
    for key in cfg["inherited_labels"]:
        if key not in cr_labels:
            continue
        if key in selector or key == "team":
            if cr_labels[key] != obj[key]:
                p.warn("metadata.labels.%s: not inherited, the operator sets this label itself (%s=%s)" % (key, key, obj[key]))
            continue
        obj[key] = cr_labels[key]
    labels = {"selector": selector, "object": obj}
    annotations = _annotations(spec, cfg, cr_annotations)

    ignore_limits = bool(cfg["ignore_resources_limits_annotation_key"]) and \
        cr_annotations.get(cfg["ignore_resources_limits_annotation_key"]) == "true"
    resources = None
    res_warnings = []
    if not _resources_invalid(spec.get("resources")):
        resources = container_resources(spec.get("resources"), cfg, "postgres", ignore_limits, warnings=res_warnings)
    if pooler is not None and not _resources_invalid((spec.get("connectionPooler") or {}).get("resources")):
        pooler["resources"] = container_resources((spec.get("connectionPooler") or {}).get("resources"), cfg, "pooler",
                                                  field="spec.connectionPooler.resources", warnings=res_warnings)
    for line in res_warnings:
        p.warn(line)
    logical_backup_resources = container_resources({}, cfg, "logical_backup")

    # users, roles, databases, secrets (SPEC 4)
    users = _check_users(spec, cfg, p)
    databases = _check_databases(spec, p)
    prepared = _prepared_databases(spec, cfg, name, p)
    roles = _desired_roles(spec, cfg, name, users, databases, prepared, pooler, p)
    all_databases = dict((db["name"], db["owner"]) for db in prepared)
    for db, owner in databases.items():
        if db in all_databases and all_databases[db] != owner:
            p.warn("spec.databases.%s: also a prepared database; its owner is %s (from databases), not %s"
                   % (db, owner, all_databases[db]))
        all_databases[db] = owner
    for db in prepared:
        db["owner"] = all_databases[db["name"]]
    known = set(r["name"] for r in roles)
    for key in ("usersWithSecretRotation", "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation"):
        for i, user in enumerate(spec[key]):
            if isinstance(user, str) and user not in known:
                p.warn("spec.%s[%d]: %r is not a role of this manifest; ignored" % (key, i, user))
    if cfg["enable_teams_api"]:
        p.warn("config.enable_teams_api: the teams API is not supported by pgfleet; no team member roles are created")
    if cfg["infrastructure_roles_secrets"] or cfg["infrastructure_roles_secret_name"]:
        p.warn("config.infrastructure_roles_secrets: infrastructure roles are not supported by pgfleet yet; ignored")
    for db, owner in sorted(databases.items()):
        if owner not in known:
            p.warn("spec.databases.%s: owner %s is not a role of this manifest; the database is created only if that role exists"
                   % (db, owner))

    if p.errors:
        raise ManifestErrors(p.errors)

    existing = _index_existing(existing_secrets)
    secrets_list = _secrets(roles, cfg, name, namespace, labels, annotations["inherited"], existing, p)

    spec["users"] = users
    spec["databases"] = databases
    spec["preparedDatabases"] = dict((db["name"], _prepared_spec(db)) for db in prepared)

    return {
        "name": name,
        "namespace": namespace,
        "uid": metadata.get("uid"),
        "generation": metadata.get("generation"),
        "cr_labels": cr_labels,
        "cr_annotations": cr_annotations,
        "team": team,
        "config": cfg,
        "spec": spec,
        "instances": instances,
        "pg_version": pg_version,
        "labels": labels,
        "annotations": annotations,
        "resources": resources,
        "dcs": "etcd" if cfg["etcd_host"] else ("configmaps" if cfg["kubernetes_use_configmaps"] else "endpoints"),
        "standby": standby,
        "maintenance_windows": windows,
        "pooler": pooler or _pooler_disabled(spec, cfg, name),
        "logical_backup": logical_backup,
        "logical_backup_schedule": schedule,
        "logical_backup_resources": logical_backup_resources,
        "tls": tls,
        "clone": clone,
        "roles": roles,
        "databases": all_databases,
        "prepared_databases": prepared,
        "secrets": secrets_list,
        "warnings": p.warnings,
    }


# --------------------------------------------------------------------------------------------
# Sections


def _map_aliases(spec, p):
    for old, new in DEPRECATED_ALIASES:
        if old not in spec:
            continue
        value = spec.pop(old)
        if new in spec and spec[new] is not None:
            if spec[new] != value:
                p.warn("spec.%s: deprecated alias of %s, which is also set; %s wins" % (old, new, new))
        else:
            spec[new] = value
            p.warn("spec.%s is deprecated (removed in Zalando v2): write %s instead" % (old, new))


def _default_containers(spec):
    for key in _LIST_FIELDS:
        if spec.get(key) is None:
            spec[key] = []
    for key in _MAP_FIELDS:
        if spec.get(key) is None:
            spec[key] = {}


def _check_name(name, team, cfg, p):
    fix = "use lower-case letters, digits and '-', starting with a letter and ending with a letter or digit"
    if not isinstance(name, str) or not name:
        p.error("metadata.name", "is required", "add metadata: {name: <team>-<name>}")
        return
    if not CLUSTER_NAME_RE.match(name):
        p.error("metadata.name", "%r is not a valid cluster name" % name, fix)
    if len(name) > CLUSTER_NAME_MAX:
        p.error("metadata.name", "%r is %d characters; at most %d are allowed (63 minus '-repl')" % (name, len(name), CLUSTER_NAME_MAX),
                "use a shorter name")
    if cfg["enable_team_id_clustername_prefix"] and team:
        prefix = team.lower() + "-"
        if len(name) < len(prefix) + 1 or not name.lower().startswith(prefix):
            p.error("metadata.name", "%r must start with the team id %r followed by '-' (enable_team_id_clustername_prefix is on)"
                    % (name, team), "rename the cluster to %s<name>" % prefix)


def _check_postgresql(spec, p):
    pg = spec.get("postgresql")
    if not isinstance(pg, dict):
        p.error("spec.postgresql", "is required", 'add postgresql: {version: "%s"}' % PG_VERSIONS[-1])
        spec["postgresql"] = {"parameters": {}}
        return None
    version = pg.get("version")
    if _is_int(version) or isinstance(version, float):
        version = str(int(version)) if float(version) == int(version) else str(version)
        pg["version"] = version
    if version is None:
        p.error("spec.postgresql.version", "is required", 'add version: "%s"' % PG_VERSIONS[-1])
    elif version not in PG_VERSIONS:
        p.error("spec.postgresql.version", "%r is not a supported major version" % (version,),
                "use one of %s (quoted)" % ", ".join(PG_VERSIONS))
        version = None
    params = pg.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        p.error("spec.postgresql.parameters", "must be a map of parameter names to values", "write e.g. max_connections: \"100\"")
        params = {}
    out = {}
    for key, value in params.items():
        if isinstance(value, (dict, list)):
            p.error("spec.postgresql.parameters.%s" % key, "must be a single value", "quote the value as a string")
            continue
        if isinstance(value, bool):
            value = "on" if value else "off"
        out[str(key)] = "" if value is None else str(value)
    pg["parameters"] = out
    return version


def _check_quantity(value, field, p, memory=True, required=False):
    if value is None or (isinstance(value, str) and value == ""):
        if required:
            p.error(field, "is required", 'write a size such as "1Gi"')
        return False
    regex = MEMORY_RE if memory else CPU_RE
    if isinstance(value, bool) or not regex.match(str(value)):
        example = '"1Gi" or "500Mi"' if memory else '"250m" or "1"'
        p.error(field, "%r is not a valid %s quantity" % (value, "memory/size" if memory else "CPU"), "write e.g. %s" % example)
        return False
    return True


def _check_volume(spec, p):
    vol = spec.get("volume")
    if not isinstance(vol, dict):
        p.error("spec.volume", "is required", "add volume: {size: 1Gi}")
        return
    _check_quantity(vol.get("size"), "spec.volume.size", p, memory=True, required=True)
    for key, bound in (("iops", 80000), ("throughput", 2000)):
        val = vol.get(key)
        if val is not None and (not _is_int(val) or val < 0 or val > bound):
            p.error("spec.volume.%s" % key, "%r must be a whole number between 0 and %d" % (val, bound), "fix or remove it")
    for key in ("storageClass", "subPath", "type"):
        if vol.get(key) is not None and not isinstance(vol.get(key), str):
            p.error("spec.volume.%s" % key, "must be a string", "quote the value")
    if vol.get("selector") is not None and not isinstance(vol.get("selector"), dict):
        p.error("spec.volume.selector", "must be a label selector", "write matchLabels/matchExpressions")


def _check_resources_field(resources, field, p):
    if resources is None:
        return
    if not isinstance(resources, dict):
        p.error(field, "must be a map with requests and limits", "write requests: {cpu, memory} and limits: {cpu, memory}")
        return
    for kind in ("requests", "limits"):
        section = resources.get(kind)
        if section is None:
            continue
        if not isinstance(section, dict):
            p.error("%s.%s" % (field, kind), "must be a map", "write cpu: and memory:")
            continue
        for key, value in section.items():
            if _unset_quantity(value):
                continue
            if key == "cpu":
                _check_quantity(value, "%s.%s.cpu" % (field, kind), p, memory=False)
            elif key == "memory" or str(key).startswith("hugepages-"):
                _check_quantity(value, "%s.%s.%s" % (field, kind, key), p, memory=True)
            else:
                p.warn("%s.%s.%s: unknown resource, ignored" % (field, kind, key))
    for key in resources:
        if key not in ("requests", "limits"):
            p.warn("%s.%s: unknown key, ignored" % (field, key))


def _resources_invalid(resources):
    p = _Problems()
    _check_resources_field(resources, "x", p)
    return bool(p.errors)


def _check_maps(spec, p):
    for key in ("podAnnotations", "serviceAnnotations", "masterServiceAnnotations", "replicaServiceAnnotations"):
        spec[key] = _str_map(spec.get(key), "spec.%s" % key, p, "annotation")
    for key in ("users", "databases", "patroni"):
        if not isinstance(spec.get(key), dict):
            p.error("spec.%s" % key, "must be a map, got %s" % type(spec.get(key)).__name__, "write key: value pairs")
            spec[key] = {}


def _check_lists(spec, p):
    for key in _LIST_FIELDS:
        if not isinstance(spec.get(key), list):
            p.error("spec.%s" % key, "must be a list, got %s" % type(spec.get(key)).__name__, "write a YAML list")
            spec[key] = []
    for key in ("usersWithSecretRotation", "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation"):
        for i, user in enumerate(spec[key]):
            if not isinstance(user, str):
                p.error("spec.%s[%d]" % (key, i), "must be a user name", "write the user name as a string")
    for i, item in enumerate(spec["tolerations"]):
        if not isinstance(item, dict):
            p.error("spec.tolerations[%d]" % i, "must be a toleration object", "write key/operator/value/effect")
    for i, item in enumerate(spec["topologySpreadConstraints"]):
        if not isinstance(item, dict):
            p.error("spec.topologySpreadConstraints[%d]" % i, "must be an object", "write maxSkew, topologyKey, whenUnsatisfiable")
            continue
        for req in ("maxSkew", "topologyKey", "whenUnsatisfiable"):
            if item.get(req) in (None, ""):
                p.error("spec.topologySpreadConstraints[%d].%s" % (i, req), "is required", "add %s" % req)
    for i, item in enumerate(spec["envFrom"]):
        if not isinstance(item, dict):
            p.error("spec.envFrom[%d]" % i, "must be an EnvFromSource object", "write configMapRef: or secretRef:")


def _check_env(spec, p):
    for i, item in enumerate(spec["env"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("name"):
            p.error("spec.env[%d].name" % i, "every env entry needs a name", "add name: <VARIABLE>")


def _check_containers(spec, cfg, p):
    names = {"postgres": "the Postgres container"}
    for key, enabled_key in (("initContainers", "enable_init_containers"), ("sidecars", "enable_sidecars")):
        items = spec[key]
        if items and not cfg[enabled_key]:
            p.error("spec.%s" % key, "is set but the operator configuration disables it (%s=false)" % enabled_key,
                    "remove spec.%s or set %s to true" % (key, enabled_key))
        for i, item in enumerate(items):
            field = "spec.%s[%d]" % (key, i)
            if not isinstance(item, dict):
                p.error(field, "must be a container object", "write name:, image: ...")
                continue
            cname = item.get("name")
            if not isinstance(cname, str) or not cname:
                p.error(field + ".name", "every container needs a name", "add name: <container>")
            elif not DNS1123_LABEL_RE.match(cname) or len(cname) > 63:
                p.error(field + ".name", "%r is not a valid container name" % cname,
                        "use lower-case letters, digits and '-' (at most 63)")
            elif cname in names:
                p.error(field + ".name", "%r is already used by %s" % (cname, names[cname]), "give every container its own name")
            else:
                names[cname] = "spec.%s[%d]" % (key, i)
            if not isinstance(item.get("image"), str) or not item.get("image"):
                p.error(field + ".image", "every container needs an image", "add image: <registry/image:tag>")
            if key == "sidecars":
                _check_resources_field(item.get("resources"), field + ".resources", p)
    for item in cfg["sidecars"]:
        if isinstance(item, dict) and item.get("name"):
            names.setdefault(item["name"], "config.sidecars")
    for sidecar_name in cfg["sidecar_docker_images"]:
        names.setdefault(sidecar_name, "config.sidecar_docker_images")
    spec["_container_names"] = sorted(names)


def _check_additional_volumes(spec, p):
    containers = set(spec.pop("_container_names", ["postgres"]))
    seen_names = {}
    seen_paths = {}
    for i, vol in enumerate(spec["additionalVolumes"]):
        field = "spec.additionalVolumes[%d]" % i
        if not isinstance(vol, dict):
            p.error(field, "must be an object", "write name, mountPath, volumeSource")
            continue
        vname = vol.get("name")
        if not isinstance(vname, str) or not vname:
            p.error(field + ".name", "is required", "add name: <volume>")
        elif not DNS1123_LABEL_RE.match(vname) or len(vname) > 63:
            p.error(field + ".name", "%r is not a valid volume name" % vname, "use lower-case letters, digits and '-'")
        elif vname in ("pgdata", "dshm", "postgresql-run"):
            p.error(field + ".name", "%r is reserved for a volume the operator adds" % vname, "choose another name")
        elif vname in seen_names:
            p.error(field + ".name", "%r is already used by spec.additionalVolumes[%d]" % (vname, seen_names[vname]), "give every volume its own name")
        else:
            seen_names[vname] = i
        path = vol.get("mountPath")
        if not isinstance(path, str) or not path:
            p.error(field + ".mountPath", "is required", "add mountPath: /some/dir")
        elif path.rstrip("/") == PGDATA_MOUNT:
            p.error(field + ".mountPath", "%s is the data volume's mount path" % PGDATA_MOUNT, "mount the volume elsewhere (Zalando skips it)")
        elif path in seen_paths:
            p.error(field + ".mountPath", "%s is already mounted by spec.additionalVolumes[%d]" % (path, seen_paths[path]),
                    "use a different mountPath (Zalando skips the second volume)")
        else:
            seen_paths[path] = i
        if not isinstance(vol.get("volumeSource"), dict) or not vol.get("volumeSource"):
            p.error(field + ".volumeSource", "is required", "add a volume source such as emptyDir: {}")
        targets = vol.get("targetContainers")
        if targets is None:
            targets = []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            p.error(field + ".targetContainers", "must be a list of container names", 'write e.g. ["postgres"] or ["all"]')
            continue
        if "all" in targets and len(targets) > 1:
            p.error(field + ".targetContainers", '"all" mixed with container names', 'write either ["all"] or a list of names (Zalando skips the volume)')
        for t in targets:
            if t != "all" and t not in containers:
                p.warn("%s.targetContainers: there is no container named %r; the volume is not mounted there" % (field, t))
        if vol.get("subPath") is not None and not isinstance(vol.get("subPath"), str):
            p.error(field + ".subPath", "must be a string", "quote the value")


def _check_source_ranges(spec, p):
    ranges = spec.get("allowedSourceRanges")
    if ranges is None:
        return
    if not isinstance(ranges, list):
        p.error("spec.allowedSourceRanges", "must be a list of CIDRs", 'write e.g. ["10.0.0.0/8"]')
        return
    for i, cidr in enumerate(ranges):
        ok = isinstance(cidr, str) and "/" in cidr
        if ok:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                ok = False
        if not ok:
            p.error("spec.allowedSourceRanges[%d]" % i, "%r is not an IPv4 or IPv6 CIDR" % (cidr,), 'write e.g. "10.0.0.0/8" or "fd00::/8"')


def _check_misc(spec, p):
    for key in ("spiloRunAsUser", "spiloRunAsGroup", "spiloFSGroup"):
        val = spec.get(key)
        if val is not None and (not _is_int(val) or val < 0):
            p.error("spec.%s" % key, "%r must be a whole number >= 0" % (val,), "write e.g. 103")
    for key in ("enableMasterLoadBalancer", "enableReplicaLoadBalancer", "enableMasterPoolerLoadBalancer",
                "enableReplicaPoolerLoadBalancer", "enableConnectionPooler", "enableReplicaConnectionPooler",
                "enableLogicalBackup", "enableShmVolume", "enableMasterNodePort", "enableReplicaNodePort"):
        val = spec.get(key)
        if val is not None and not isinstance(val, bool):
            p.error("spec.%s" % key, "%r must be true or false" % (val,), "write true or false without quotes")
    for key in ("masterNodePort", "replicaNodePort"):
        val = spec.get(key)
        if val is not None and (not _is_int(val) or not (val == 0 or 30000 <= val <= 32767)):
            p.error("spec.%s" % key, "%r is not a node port" % (val,), "use 0 (let Kubernetes pick) or a port in 30000-32767")
    for key in ("nodeAffinity", "livenessProbe"):
        val = spec.get(key)
        if val is not None and not isinstance(val, dict):
            p.error("spec.%s" % key, "must be an object, got %s" % type(val).__name__, "write it as a YAML mapping")
    for key in ("dockerImage", "schedulerName", "podPriorityClassName", "logicalBackupRetention"):
        val = spec.get(key)
        if val is not None and not isinstance(val, str):
            p.error("spec.%s" % key, "must be a string", "quote the value")
    for i, stream in enumerate(spec["streams"]):
        field = "spec.streams[%d]" % i
        if not isinstance(stream, dict):
            p.error(field, "must be an object", "write applicationId, database, tables")
            continue
        for req in ("applicationId", "database"):
            if not isinstance(stream.get(req), str) or not stream.get(req):
                p.error("%s.%s" % (field, req), "is required", "add %s" % req)
        db = stream.get("database")
        if isinstance(db, str) and db and not DBNAME_RE.match(db):
            p.error(field + ".database", "%r is not a valid database name" % db, "use letters, digits and '_'")
        tables = stream.get("tables")
        if not isinstance(tables, dict) or not tables:
            p.error(field + ".tables", "is required", "add tables: {schema.table: {eventType: ...}}")
            continue
        for tname, table in tables.items():
            if not isinstance(table, dict) or not table.get("eventType"):
                p.error("%s.tables.%s.eventType" % (field, tname), "is required", "add eventType: <event type>")


def _check_patroni(spec, p):
    pat = spec["patroni"]
    for key in ("ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_node_count"):
        val = pat.get(key)
        if val is not None and (not _is_int(val) or val < 0):
            p.error("spec.patroni.%s" % key, "%r must be a whole number >= 0" % (val,), "write e.g. %s: 10" % key)
    ttl, loop_wait, retry = (pat.get(k) for k in ("ttl", "loop_wait", "retry_timeout"))
    if _is_int(ttl) and 0 < ttl < 20:
        p.warn("spec.patroni.ttl: %d is below Patroni's minimum 20; Patroni will use 20" % ttl)
    if _is_int(retry) and 0 < retry < 3:
        p.warn("spec.patroni.retry_timeout: %d is below Patroni's minimum 3; Patroni will use 3" % retry)
    if all(_is_int(v) and v > 0 for v in (ttl, loop_wait, retry)) and loop_wait + 2 * retry > ttl:
        p.warn("spec.patroni: loop_wait + 2 * retry_timeout (%d) exceeds ttl (%d); Patroni will adjust the values"
               % (loop_wait + 2 * retry, ttl))
    for key in ("synchronous_mode", "synchronous_mode_strict", "failsafe_mode"):
        val = pat.get(key)
        if val is not None and not isinstance(val, bool):
            p.error("spec.patroni.%s" % key, "%r must be true or false" % (val,), "write true or false without quotes")
    initdb = pat.get("initdb")
    if initdb is not None:
        if not isinstance(initdb, dict):
            p.error("spec.patroni.initdb", "must be a map of initdb options", 'write e.g. encoding: "UTF8"')
        else:
            out = {}
            for key, val in initdb.items():
                if isinstance(val, (dict, list)):
                    p.error("spec.patroni.initdb.%s" % key, "must be a single value", "quote the value")
                    continue
                if isinstance(val, bool):
                    val = "true" if val else "false"
                out[str(key)] = "" if val is None else str(val)
            pat["initdb"] = out
    hba = pat.get("pg_hba")
    if hba is not None and (not isinstance(hba, list) or not all(isinstance(x, str) for x in hba)):
        p.error("spec.patroni.pg_hba", "must be a list of pg_hba.conf lines", 'write e.g. ["host all all 0.0.0.0/0 scram-sha-256"]')
    slots = pat.get("slots")
    if slots is not None:
        if not isinstance(slots, dict) or not all(isinstance(v, dict) for v in slots.values()):
            p.error("spec.patroni.slots", "must be a map of slot name to slot settings", "write e.g. slot1: {type: physical}")
        else:
            for sname, slot in slots.items():
                if not re.match(r"^[a-z0-9_]+$", str(sname)) or len(str(sname)) > PG_IDENTIFIER_MAX_BYTES:
                    p.error("spec.patroni.slots.%s" % sname, "is not a valid replication slot name",
                            "use lower-case letters, digits and '_' (at most 63)")
                if slot.get("type") not in (None, "physical", "logical"):
                    p.error("spec.patroni.slots.%s.type" % sname, "%r is not physical or logical" % slot.get("type"), "write physical or logical")
                if slot.get("type") == "logical" and (not slot.get("database") or not slot.get("plugin")):
                    p.error("spec.patroni.slots.%s" % sname, "a logical slot needs database and plugin", "add database: and plugin:")


def _check_tls(spec, p):
    tls = spec.get("tls")
    if tls is None:
        return None
    if not isinstance(tls, dict):
        p.error("spec.tls", "must be an object", "write secretName: <secret>")
        return None
    if "secretName" not in tls:
        p.error("spec.tls.secretName", "is required when tls is set", "add secretName: <secret holding tls.crt and tls.key>")
        return None
    secret = tls.get("secretName")
    if secret in (None, ""):
        return None
    if not isinstance(secret, str) or not DNS1123_SUBDOMAIN_RE.match(secret) or len(secret) > 253:
        p.error("spec.tls.secretName", "%r is not a valid Secret name" % (secret,), "use the name of a Secret in the cluster namespace")
        return None
    ca_secret = tls.get("caSecretName") or ""
    if ca_secret and (not isinstance(ca_secret, str) or not DNS1123_SUBDOMAIN_RE.match(ca_secret)):
        p.error("spec.tls.caSecretName", "%r is not a valid Secret name" % (ca_secret,), "use the name of a Secret in the cluster namespace")
    return {
        "secretName": secret,
        "certificateFile": tls.get("certificateFile") or "tls.crt",
        "privateKeyFile": tls.get("privateKeyFile") or "tls.key",
        "caFile": tls.get("caFile") or "",
        "caSecretName": ca_secret if isinstance(ca_secret, str) else "",
    }


def _check_clone(spec, p):
    clone = spec.get("clone")
    if clone is None:
        return None
    if not isinstance(clone, dict):
        p.error("spec.clone", "must be an object", "write cluster: <source cluster>")
        return None
    cluster = clone.get("cluster")
    timestamp = clone.get("timestamp") or ""
    if not isinstance(cluster, str) or not cluster:
        p.error("spec.clone.cluster", "is required", "add cluster: <name of the source cluster>")
    elif not timestamp and (not DNS1035_LABEL_RE.match(cluster) or len(cluster) > 63):
        p.error("spec.clone.cluster", "%r is not a valid service name (cloning without a timestamp connects to that service)" % cluster,
                "use the source cluster's name: lower-case letters, digits and '-', at most 63")
    if timestamp:
        match = CLONE_TS_RE.match(timestamp) if isinstance(timestamp, str) else None
        ok = match is not None
        if ok:
            year, month, day, hour, minute, second, dummy, off_h, off_m = match.groups()
            try:
                datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
                ok = int(off_h) <= 23 and int(off_m) <= 59 and int(second) <= 60
            except ValueError:
                ok = False
        if not ok:
            p.error("spec.clone.timestamp", "%r is not an RFC 3339 time with a numeric UTC offset" % (timestamp,),
                    'write e.g. "2025-12-19T12:40:33+01:00" ("Z" is not accepted)')
    uid = clone.get("uid")
    if uid not in (None, "") and (not isinstance(uid, str) or not UUID_RE.match(uid)):
        p.error("spec.clone.uid", "%r is not a UUID" % (uid,), "copy metadata.uid of the source cluster")
    result = dict(clone)
    result["timestamp"] = timestamp
    return result


def _check_standby(spec, p):
    standby = spec.get("standby")
    from_env = any(isinstance(e, dict) and isinstance(e.get("name"), str) and STANDBY_ENV_RE.match(e["name"]) and e.get("value")
                   for e in spec["env"])
    if standby is None:
        return bool(from_env)
    if not isinstance(standby, dict):
        p.error("spec.standby", "must be an object", "write s3_wal_path, gs_wal_path or standby_host")
        return True
    s3, gs, host = (standby.get(k) for k in ("s3_wal_path", "gs_wal_path", "standby_host"))
    if not (s3 or gs or host):
        p.error("spec.standby", "names no source to replicate from", "set standby_host, s3_wal_path or gs_wal_path")
    if s3 and gs:
        p.error("spec.standby", "sets both s3_wal_path and gs_wal_path", "keep only one WAL location")
    port = standby.get("standby_port")
    if port not in (None, ""):
        try:
            ok = 1 <= int(str(port)) <= 65535
        except ValueError:
            ok = False
        if not ok:
            p.error("spec.standby.standby_port", "%r is not a port" % (port,), 'write e.g. "5432"')
        else:
            standby["standby_port"] = str(port)
    return True


def _check_windows(spec, cfg, p):
    result = []
    if spec["maintenanceWindows"]:
        for i, text in enumerate(spec["maintenanceWindows"]):
            window = _parse_window(text, "spec.maintenanceWindows[%d]" % i, p)
            if window:
                result.append(window)
    else:
        for i, text in enumerate(cfg["maintenance_windows"]):
            window = _parse_window(text, "config.maintenance_windows[%d]" % i, p)
            if window:
                result.append(window)
    if not cfg["enable_maintenance_windows"]:
        return []  # no windows = always inside a window (SPEC 5.7)
    return result


def _pooler_user(spec, cfg, p):
    conf = spec.get("connectionPooler") if isinstance(spec.get("connectionPooler"), dict) else {}
    user = conf.get("user") or cfg["connection_pooler_user"]
    field = "spec.connectionPooler.user" if conf.get("user") else "config.connection_pooler_user"
    if not isinstance(user, str) or not USERNAME_RE.match(user):
        p.error(field, "%r is not a valid user name" % (user,), "use lower-case letters, digits, '_' and '-'")
    elif user in (cfg["super_username"], cfg["replication_username"]) or user in cfg["protected_role_names"]:
        p.error(field, "%r is a system or protected role and cannot be the pooler user" % user, 'use another name, e.g. "pooler"')
    else:
        _ident_ok(user, field, p, "user name")
    return user


def _pooler(spec, cfg, name, p):
    conf = spec.get("connectionPooler")
    if conf is not None and not isinstance(conf, dict):
        p.error("spec.connectionPooler", "must be an object", "write numberOfInstances, mode, schema, user, ...")
        conf = {}
    master_flag = spec.get("enableConnectionPooler")
    master = master_flag is True or (master_flag is None and conf is not None)
    replica = spec.get("enableReplicaConnectionPooler") is True
    if not master and not replica:
        return None
    conf = conf or {}
    mode = conf.get("mode") or cfg["connection_pooler_mode"]
    if mode not in ("session", "transaction"):
        p.error("spec.connectionPooler.mode", "%r is not session or transaction" % (mode,), "write session or transaction")
    instances = conf.get("numberOfInstances")
    if instances is None:
        instances = cfg["connection_pooler_number_of_instances"]
    elif not _is_int(instances) or instances < 1:
        p.error("spec.connectionPooler.numberOfInstances", "%r must be a whole number >= 1" % (instances,), "write e.g. 2")
        instances = 1
    max_conn = conf.get("maxDBConnections")
    if max_conn is None:
        max_conn = cfg["connection_pooler_max_db_connections"]
    elif not _is_int(max_conn) or max_conn < 1:
        p.error("spec.connectionPooler.maxDBConnections", "%r must be a whole number >= 1" % (max_conn,), "write e.g. 60")
        max_conn = cfg["connection_pooler_max_db_connections"]
    schema = conf.get("schema") or cfg["connection_pooler_schema"]
    sfield = "spec.connectionPooler.schema" if conf.get("schema") else "config.connection_pooler_schema"
    if not isinstance(schema, str) or not DBNAME_RE.match(schema):
        p.error(sfield, "%r is not a valid schema name" % (schema,), "use letters, digits and '_'")
    else:
        _ident_ok(schema, sfield, p, "schema name")
    _check_resources_field(conf.get("resources"), "spec.connectionPooler.resources", p)
    image = conf.get("dockerImage") or cfg["connection_pooler_image"]
    return {
        "master": master,
        "replica": replica,
        "user": _pooler_user(spec, cfg, p),
        "schema": schema,
        "mode": mode,
        "instances": max(1, instances),
        "max_db_connections": max_conn,
        "image": image,
        "resources": None,
        "names": {"master": pooler_name(name, "master"), "replica": pooler_name(name, "replica")},
    }


def _pooler_disabled(spec, cfg, name):
    conf = spec.get("connectionPooler") if isinstance(spec.get("connectionPooler"), dict) else {}
    return {
        "master": False,
        "replica": False,
        "user": conf.get("user") or cfg["connection_pooler_user"],
        "schema": conf.get("schema") or cfg["connection_pooler_schema"],
        "mode": conf.get("mode") or cfg["connection_pooler_mode"],
        "instances": conf.get("numberOfInstances") or cfg["connection_pooler_number_of_instances"],
        "max_db_connections": conf.get("maxDBConnections") or cfg["connection_pooler_max_db_connections"],
        "image": conf.get("dockerImage") or cfg["connection_pooler_image"],
        "resources": None,
        "names": {"master": pooler_name(name, "master"), "replica": pooler_name(name, "replica")},
    }


def _logical_backup(spec, cfg, p):
    schedule = spec.get("logicalBackupSchedule")
    if schedule not in (None, ""):
        if not isinstance(schedule, str) or not SCHEDULE_RE.match(schedule.strip()):
            p.error("spec.logicalBackupSchedule", "%r is not a supported cron schedule" % (schedule,),
                    'write five fields of numbers, "*" or "*/n" (no ranges or lists), e.g. "30 00 * * *"')
    else:
        schedule = cfg["logical_backup_schedule"]
    return spec.get("enableLogicalBackup") is True, schedule


def _clamp_instances(n, spec, cfg, cr_annotations, standby, p):
    key = cfg["ignore_instance_limits_annotation_key"]
    if key and cr_annotations.get(key) == "true":
        return n
    lo, hi = cfg["min_instances"], cfg["max_instances"]
    if standby and n == 1:
        return n
    result = n
    if hi >= 0 and result > hi:
        result = hi
    if lo >= 0 and result < lo:
        result = lo
    if result != n:
        p.warn("spec.numberOfInstances: %d is outside the operator limits [%s, %s]; using %d"
               % (n, lo if lo >= 0 else "-", hi if hi >= 0 else "-", result))
    return result


def _annotations(spec, cfg, cr_annotations):
    inherited = dict((k, v) for k, v in cr_annotations.items() if k in cfg["inherited_annotations"])
    statefulset = dict(inherited)
    patterns = [re.compile(pat) for pat in cfg["downscaler_annotations"]]
    for key, value in cr_annotations.items():
        if any(pat.search(key) for pat in patterns):
            statefulset[key] = value
    pod = dict(cfg["custom_pod_annotations"])
    pod.update(spec["podAnnotations"])
    pod.update(inherited)
    if cfg["kube_iam_role"]:
        pod["iam.amazonaws.com/role"] = cfg["kube_iam_role"]
    return {"inherited": inherited, "statefulset": statefulset, "pod": pod}


def _check_users(spec, cfg, p):
    users = {}
    system = (cfg["super_username"], cfg["replication_username"])
    for raw_name, flags in spec["users"].items():
        uname = str(raw_name)
        field = "spec.users.%s" % uname
        if not USERNAME_RE.match(uname):
            p.error(field, "%r is not a valid user name" % uname,
                    "use lower-case letters, digits, '-' and '_' (dots separate a namespace), starting and ending with a letter or digit")
            continue
        if not _ident_ok(uname, field, p, "user name"):
            continue
        normalized = _normalize_flags(flags, field, p)
        if normalized is None:
            continue
        if uname in system:
            p.warn("%s: %r is a system user managed by the operator; the manifest entry is skipped" % (field, uname))
            continue
        if uname in cfg["protected_role_names"]:
            p.warn("%s: %r is a protected role (protected_role_names); the manifest entry is skipped" % (field, uname))
            continue
        users[uname] = normalized
    return users


def _check_databases(spec, p):
    result = {}
    for raw_db, owner in spec["databases"].items():
        db = str(raw_db)
        field = "spec.databases.%s" % db
        if not DBNAME_RE.match(db):
            p.error(field, "%r is not a valid database name (Zalando would skip it silently; we refuse it)" % db,
                    "use letters, digits and '_', not starting with a digit")
            continue
        if not _ident_ok(db, field, p, "database name"):
            continue
        if not isinstance(owner, str) or not owner:
            p.error(field, "the owner %r is not a role name" % (owner,), "write <database>: <owner role>")
            continue
        if not _ident_ok(owner, field, p, "owner name"):
            continue
        result[db] = owner
    return result


def _prepared_databases(spec, cfg, cluster_name, p):
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
            p.error(field, "%r is not a valid database name (Zalando would skip it silently; we refuse it)" % db,
                    "use letters, digits and '_', not starting with a digit")
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
        if _ident_ok(db, field, p, "database name"):
            _ident_ok(db + ("_writer_user" if default_users else "_writer"), field, p, "generated role name")
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
            _ident_ok(ext, efield, p, "extension name")
            if not isinstance(schema, str) or not DBNAME_RE.match(schema):
                p.error(efield, "schema %r is not a valid schema name (Zalando would skip it silently; we refuse it)" % (schema,),
                        "use letters, digits and '_', e.g. public")
                continue
            _ident_ok(schema, efield, p, "schema name")
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
                p.error(sfield, "%r is not a valid schema name (Zalando would skip it silently; we refuse it)" % schema,
                        "use letters, digits and '_', not starting with a digit")
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
            if _ident_ok(schema, sfield, p, "schema name") and droles:
                _ident_ok("%s_%s%s" % (db, schema, "_writer_user" if dusers else "_writer"), sfield, p, "generated role name")
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


def _prepared_spec(db):
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


def _desired_roles(spec, cfg, cluster_name, users, databases, prepared, pooler, p):
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
            if name not in roles and _ident_ok(name, "config.additional_owner_roles", p, "role name"):
                _add_role(roles, _role(name, "system", []), p)
    return _order_roles(roles)


def _search_path(schemas):
    """The ``search_path`` of a prepared role as SPEC 4.6 writes it: ``"$user", "s1", "s2"``, every name
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


def _index_existing(existing):
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


def _secrets(roles, cfg, cluster_name, namespace, labels, inherited, existing, p):
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
        found = existing.get("%s/%s" % (secret_ns, name)) or existing.get(name)
        username = role["name"]
        if found and found.get("password"):
            password = found["password"]
            if found.get("username") and found["username"] != role["name"]:
                username = found["username"]
                p.warn("secret %s/%s holds user %s (rotated?) for role %s; its credentials are kept" % (secret_ns, name, username, role["name"]))
        else:
            password = pgsecrets.generate_password()
        role["password"] = password
        role["secret"] = {"name": name, "namespace": secret_ns}
        result.append({
            "name": name,
            "namespace": secret_ns,
            "username": username,
            "password": password,
            "role": role["name"],
            "labels": dict(pooler_labels if role["origin"] == "pooler" else labels["object"]),
            "annotations": dict(inherited),
        })
    for role in roles:
        role.pop("_secret_namespace", None)
    if p.errors:
        raise ManifestErrors(p.errors)
    return result
