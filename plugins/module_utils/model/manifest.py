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
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import budgets as pgbudgets
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import door, majors, opconfig, validate
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import names as pgnames
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import owners as pgowners
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import pods as pgpods
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets as pgsecrets
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import services as pgservices
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import users as pgusers
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import (
    DBNAME_RE,
    LIST_FIELDS,
    MAP_FIELDS,
    SCHEDULE_RE,
    USERNAME_RE,
    Problems,
    ident_ok,
    is_int,
    str_map,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.door import LABEL_VALUE_RE
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.names import pooler_name
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.resources import container_resources

#: v1 field -> v2 field (docs/design/model.md §3); v2 removed the v1 names, we keep accepting them.
DEPRECATED_ALIASES = (
    ("useLoadBalancer", "enableMasterLoadBalancer"),
    ("replicaLoadBalancer", "enableReplicaLoadBalancer"),
    ("init_containers", "initContainers"),
    ("pod_priority_class_name", "podPriorityClassName"),
)


# --------------------------------------------------------------------------------------------
# The model

def build_model(cr, config=None, existing_secrets=None, credentials=True):
    """The model of ``cr`` (see :func:`build_model_without_credentials`), with credentials attached
    from ``existing_secrets`` unless ``credentials`` is false (then every password is ``None``).

    ``existing_secrets``: the credential secrets that already exist, as a map of secret name (or
    ``namespace/name``) -> ``{"username", "password"}`` or a v1 Secret object, or a list of v1
    Secret objects. Their passwords are reused; a password is generated only for a secret that
    does not exist yet.
    """
    model = build_model_without_credentials(cr, config)
    return attach_credentials(model, existing_secrets) if credentials else model


def attach_credentials(model, existing_secrets=None):
    """A copy of the secret-free ``model`` whose secrets and roles carry usernames and passwords.

    Pure: reads nothing but its arguments. An existing secret's password (and a rotated username)
    is kept; a secret that does not exist yet gets a generated password. The result holds
    plaintext passwords: pass it only through ``no_log`` tasks.
    """
    existing = pgusers.index_existing(existing_secrets)
    result = dict(model)
    result["secrets"] = [dict(s) for s in model["secrets"]]
    result["roles"] = [dict(r) for r in model["roles"]]
    by_role = dict((r["name"], r) for r in result["roles"])
    for secret in result["secrets"]:
        found = existing.get("%s/%s" % (secret["namespace"], secret["name"])) or existing.get(secret["name"])
        username = secret["role"]
        if found and found.get("password"):
            password = found["password"]
            if found.get("username") and found["username"] != secret["role"]:
                username = found["username"]  # a rotated user (postgres/rotation.py): its credentials are kept
        else:
            password = pgsecrets.generate_password()
        secret["username"] = username
        secret["password"] = password
        if secret["role"] in by_role:
            by_role[secret["role"]]["password"] = password
    return result


def build_model_without_credentials(cr, config=None):
    """Validate and normalise the ``postgresql`` object ``cr``; see ``docs/dev/CONTRACTS.md``.

    ``config``: the operator configuration in any form :func:`opconfig.load` accepts (typed or
    ConfigMap strings, or a whole ConfigMap); ``None`` means the defaults.
    The model holds no password (every ``password`` is ``None``); :func:`attach_credentials` adds them.

    Raises :class:`ManifestErrors` with every problem found.
    """
    p = Problems()
    try:
        cfg = opconfig.load(config)
    except ManifestErrors as exc:
        p.errors.extend(exc.errors)
        cfg = opconfig.load(None)
    p.warnings.extend(cfg.get("_warnings", []))

    if not isinstance(cr, dict):
        raise ManifestErrors([ManifestError("manifest", "must be a postgresql object (a mapping), got %s" % type(cr).__name__,
                                            "pass the whole manifest with apiVersion, kind, metadata and spec")])
    before = len(p.errors)
    cr = door.check_door(cr, cfg, p)  # bounds every size and count first: no later rule sees a huge value
    if len(p.errors) > before:
        raise ManifestErrors(p.errors)
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
    cr_labels = str_map(metadata.get("labels"), "metadata.labels", p, "label")
    cr_annotations = str_map(metadata.get("annotations"), "metadata.annotations", p, "annotation")
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
    validate.check_name(name, team, cfg, p)
    name = name if isinstance(name, str) else ""

    instances_raw = spec.get("numberOfInstances")
    if not is_int(instances_raw):
        p.error("spec.numberOfInstances", "is required and must be a whole number, got %r" % (instances_raw,), "write e.g. numberOfInstances: 2")
        instances_raw = 0
    elif instances_raw < 0:
        p.error("spec.numberOfInstances", "must be >= 0, got %d" % instances_raw, "write 0 to stop the cluster, or a positive count")
        instances_raw = 0

    pg_version = validate.check_postgresql(spec, p)
    if pg_version and cfg.get("major_version_upgrade_mode") == "full":
        # as the reference: in full mode a major below minimal_major_version runs as target_major_version
        try:
            desired = str(majors.desired_major(pg_version, "full", cfg.get("minimal_major_version"),
                                               cfg.get("target_major_version")))
        except ValueError as exc:
            field = str(exc).split(":", 1)[0]
            p.error(field, str(exc).split(": ", 1)[-1], "write a major version such as \"18\"")
            desired = pg_version
        if desired != pg_version:
            p.warn("spec.postgresql.version: %s is below config.minimal_major_version (%s); the cluster runs PostgreSQL %s "
                   "(config.target_major_version, major_version_upgrade_mode full)"
                   % (pg_version, cfg.get("minimal_major_version"), desired))
            pg_version = desired
    validate.check_volume(spec, p)
    validate.check_resources_field(spec.get("resources"), "spec.resources", p)
    validate.check_maps(spec, p)
    validate.check_lists(spec, p)
    validate.check_env(spec, p)
    validate.check_containers(spec, cfg, p)
    validate.check_additional_volumes(spec, p)
    validate.check_source_ranges(spec, p)
    validate.check_misc(spec, p)
    validate.check_patroni(spec, p)
    tls = validate.check_tls(spec, p)
    clone = validate.check_clone(spec, p)
    standby = validate.check_standby(spec, p)
    windows = validate.check_windows(spec, cfg, p)
    pooler = _pooler(spec, cfg, name, p)
    logical_backup, schedule = _logical_backup(spec, cfg, p)

    # instances (docs/design/model.md §2)
    instances = _clamp_instances(instances_raw, spec, cfg, cr_annotations, standby, p)

    # labels and annotations (docs/design/model.md §1)
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
    if not validate.resources_invalid(spec.get("resources")):
        resources = container_resources(spec.get("resources"), cfg, "postgres", ignore_limits, warnings=res_warnings)
    if pooler is not None and not validate.resources_invalid((spec.get("connectionPooler") or {}).get("resources")):
        pooler["resources"] = container_resources((spec.get("connectionPooler") or {}).get("resources"), cfg, "pooler",
                                                  field="spec.connectionPooler.resources", warnings=res_warnings)
    for line in res_warnings:
        p.warn(line)
    logical_backup_resources = container_resources({}, cfg, "logical_backup")

    # users, roles, databases, secrets (docs/design/model.md §4)
    users = validate.check_users(spec, cfg, p)
    databases = validate.check_databases(spec, p)
    prepared = pgusers.prepared_databases(spec, cfg, name, p)
    roles = pgusers.desired_roles(spec, cfg, name, users, databases, prepared, pooler, p)
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
    for db, owner in sorted(databases.items()):
        if owner not in known:
            p.error("spec.databases.%s" % db, "the owner %r is not a role of this manifest" % owner,
                    "add %s to spec.users, or name a user listed there" % owner)

    if p.errors:
        raise ManifestErrors(p.errors)

    secrets_list = pgusers.credential_secrets(roles, cfg, name, namespace, labels, annotations["inherited"], p)

    spec["users"] = users
    spec["databases"] = databases
    spec["preparedDatabases"] = dict((db["name"], pgusers.prepared_spec(db)) for db in prepared)
    object_names = pgnames.object_names(name, cfg)
    dcs = "etcd" if cfg["etcd_host"] else ("configmaps" if cfg["kubernetes_use_configmaps"] else "endpoints")
    pooler = pooler or _pooler_disabled(spec, cfg, name)
    pooler["security_context"] = pgpods.pooler_security_context(spec, cfg)
    pooler["pods"] = pgpods.pooler_pods(object_names, spec, cfg, labels, pooler, secrets_list, roles, tls)

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
        "pdbs": pgbudgets.disruption_budgets(labels, cfg, instances),
        "pg_version": pg_version,
        "labels": labels,
        "annotations": annotations,
        "resources": resources,
        "names": object_names,
        "owner_references": pgowners.owner_references(name, metadata.get("uid"), cfg),
        "dcs": dcs,
        "services": pgservices.services(name, namespace, team, spec, cfg, labels, annotations["inherited"], dcs,
                                        object_names["pooler"]),
        "standby": standby,
        "maintenance_windows": windows,
        "pod": pgpods.spilo_pod(spec, cfg),
        "pooler": pooler,
        "logical_backup": logical_backup,
        "logical_backup_schedule": schedule,
        "logical_backup_resources": logical_backup_resources,
        "logical_backup_pod": pgpods.logical_backup_pod(name, cfg, spec, labels, metadata.get("uid"), pg_version, secrets_list),
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
    for key in LIST_FIELDS:
        if spec.get(key) is None:
            spec[key] = []
    for key in MAP_FIELDS:
        if spec.get(key) is None:
            spec[key] = {}


def _pooler_user(spec, cfg, p):
    conf = spec.get("connectionPooler") if isinstance(spec.get("connectionPooler"), dict) else {}
    user = conf.get("user") or cfg["connection_pooler_user"]
    field = "spec.connectionPooler.user" if conf.get("user") else "config.connection_pooler_user"
    if not isinstance(user, str) or not USERNAME_RE.match(user):
        p.error(field, "%r is not a valid user name" % (user,), "use lower-case letters, digits, '_' and '-'")
    elif user in (cfg["super_username"], cfg["replication_username"]) or user in cfg["protected_role_names"]:
        p.error(field, "%r is a system or protected role and cannot be the pooler user" % user, 'use another name, e.g. "pooler"')
    else:
        ident_ok(user, field, p, "user name")
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
    elif not is_int(instances) or instances < 1:
        p.error("spec.connectionPooler.numberOfInstances", "%r must be a whole number >= 1" % (instances,), "write e.g. 2")
        instances = 1
    max_conn = conf.get("maxDBConnections")
    if max_conn is None:
        max_conn = cfg["connection_pooler_max_db_connections"]
    elif not is_int(max_conn):
        p.error("spec.connectionPooler.maxDBConnections", "%r must be a whole number >= 1" % (max_conn,), "write e.g. 60")
        max_conn = cfg["connection_pooler_max_db_connections"]
    elif max_conn < 1:
        # Zalando would hand pgbouncer 0 (no limit at all); we keep the operator's limit and say so
        p.skip("spec.connectionPooler.maxDBConnections", "%d is not a connection limit" % max_conn,
               "write a number >= 1; config.connection_pooler_max_db_connections (%d) is used meanwhile"
               % cfg["connection_pooler_max_db_connections"])
        max_conn = cfg["connection_pooler_max_db_connections"]
    schema = conf.get("schema") or cfg["connection_pooler_schema"]
    sfield = "spec.connectionPooler.schema" if conf.get("schema") else "config.connection_pooler_schema"
    if not isinstance(schema, str) or not DBNAME_RE.match(schema):
        p.error(sfield, "%r is not a valid schema name" % (schema,), "use letters, digits and '_'")
    else:
        ident_ok(schema, sfield, p, "schema name")
    validate.check_resources_field(conf.get("resources"), "spec.connectionPooler.resources", p)
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
