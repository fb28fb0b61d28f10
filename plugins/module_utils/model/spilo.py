# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""What the Spilo pod is made of: its env, ``SPILO_CONFIGURATION``, volumes and mounts, sidecars and
init containers, and the scheduling pieces of the pod spec (docs/design/model.md §2).

Size (~740 lines, over the project's ~600): one module per pod on purpose for now; the natural
split (env + SPILO_CONFIGURATION / volumes + containers + scheduling) is the next step.

Every function here is pure: it reads the model built by
:func:`ansible_collections.pgfleet.postgres.plugins.module_utils.manifest.build_model` (keys in
``docs/dev/CONTRACTS.md``) and returns plain dicts and lists, ready for the Jinja templates of role
``cluster``. Nothing is read from Kubernetes here: the data of the pod-environment ConfigMap and
Secret is passed in by the caller, and a source that the operator config names but the caller could
not read raises :class:`KubernetesError`, so a partial env (and the needless rolling update it
causes, issue #2031) is never rendered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError, ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import pods
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets as _secrets
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.names import PGDATA_MOUNT
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.resources import container_resources

PGROOT = PGDATA_MOUNT + "/pgroot"
PGDATA_VOLUME = "pgdata"
POSTGRES_CONTAINER = "postgres"
TLS_MOUNT = "/tls"
TLSCA_MOUNT = "/tlsca"
IRSA_TOKEN_FILE = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"

#: Parameters Patroni must get in its local ``postgresql.parameters`` (docs/design/model.md §2). Every other
#: parameter is dynamic: it goes to ``bootstrap.dcs.postgresql.parameters`` and later to PATCH /config.
LOCAL_PARAMETERS = frozenset((
    "archive_command", "shared_buffers", "logging_collector", "log_destination", "log_directory",
    "log_filename", "log_file_mode", "log_rotation_age", "log_truncate_on_rotation", "ssl", "ssl_ca_file",
    "ssl_crl_file", "ssl_cert_file", "ssl_key_file", "shared_preload_libraries", "bg_mon.listen_address",
    "bg_mon.history_buckets", "pg_stat_statements.track_utility", "extwlist.extensions", "extwlist.custom_path",
))

#: Per-cluster switch (docs/design/model.md §8, §6): ``"true"`` on the postgresql object turns WAL archiving
#: and base backups off for that cluster. Zalando has no such switch; an annotation keeps the CRD shared.
DISABLE_WAL_ARCHIVING_ANNOTATION = "acid.zalan.do/disable-wal-archiving"

#: What Spilo looks at to decide where (and whether) to archive WAL and take base backups. With the
#: annotation these are set empty ahead of every other source, so none can switch archiving back on.
WAL_ARCHIVE_VARIABLES = (
    "WAL_S3_BUCKET", "WAL_GS_BUCKET", "WAL_SWIFT_BUCKET", "AZURE_STORAGE_ACCOUNT",
    "WALE_S3_PREFIX", "WALE_GS_PREFIX", "WALE_SWIFT_PREFIX",
    "WALG_S3_PREFIX", "WALG_GS_PREFIX", "WALG_AZ_PREFIX", "WALG_SWIFT_PREFIX", "WALG_FILE_PREFIX",
    "BACKUP_SCHEDULE",
)

#: initdb options that take no value: ``"true"`` renders them as a bare string.
INITDB_FLAGS = ("data-checksums", "debug", "no-locale", "noclean", "nosync", "sync-only")

#: The defaults of the initdb list, in order; a user option with the same key replaces the value.
INITDB_DEFAULTS = (("auth-host", "scram-sha-256"), ("auth-local", "trust"))


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

def _config(model):
    return model.get("config") or {}


def _spec(model):
    return model.get("spec") or {}


def _value(name, value):
    return {"name": name, "value": "" if value is None else str(value)}


def _field_ref(name, path):
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _secret_ref(name, secret, key):
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def dedupe_env(env):
    """Keep the first variable of every name, compared case-insensitively (docs/design/model.md §2)."""
    seen = set()
    result = []
    for var in env:
        key = str(var.get("name", "")).lower()
        if key in seen:
            continue
        seen.add(key)
        result.append(var)
    return result


def _credential_secret(model, username):
    """Name of this cluster's credential secret for ``username`` (from ``model.secrets`` if there)."""
    for entry in model.get("secrets") or []:
        if entry.get("username") == username and entry.get("namespace", model.get("namespace")) == model.get("namespace"):
            return entry["name"]
    return _secrets.secret_name(username, model["name"], _config(model))


def _scope_suffix(uid):
    return "/%s" % uid if uid else ""


# --------------------------------------------------------------------------------------------
# SPILO_CONFIGURATION (docs/design/model.md §2)
# --------------------------------------------------------------------------------------------

def split_parameters(params):
    """Split Postgres parameters into ``(local, dynamic)`` dicts (docs/design/model.md §2), values as strings."""
    local = {}
    dynamic = {}
    for name in sorted(params or {}):
        value = params[name]
        value = "" if value is None else str(value)
        if name in LOCAL_PARAMETERS:
            local[name] = value
        else:
            dynamic[name] = value
    return local, dynamic


def _initdb_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _initdb(options):
    entries = [dict([pair]) for pair in INITDB_DEFAULTS]
    for key in sorted(options or {}):
        value = _initdb_value(options[key])
        replaced = False
        for entry in entries:
            if isinstance(entry, dict) and key in entry:
                entry[key] = value
                replaced = True
                break
            if isinstance(entry, str) and entry == key:
                replaced = True
                break
        if replaced:
            continue
        if value == "true" and key in INITDB_FLAGS:
            entries.append(key)
        else:
            entries.append({key: value})
    return entries


def _number(value):
    """An int when the value is whole (Go marshals float32 33554432 as 33554432)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            return value
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value


def _dcs(model, dynamic):
    patroni = _spec(model).get("patroni") or {}
    config = _config(model)
    dcs = {}
    for key in ("ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover"):
        value = _number(patroni.get(key))
        if value:
            dcs[key] = value
    for key in ("synchronous_mode", "synchronous_mode_strict"):
        if patroni.get(key):
            dcs[key] = True
    count = _number(patroni.get("synchronous_node_count"))
    if count:
        dcs["synchronous_node_count"] = count
    if dynamic:
        dcs["postgresql"] = {"parameters": dynamic}
    if patroni.get("slots"):
        dcs["slots"] = copy.deepcopy(patroni["slots"])
    # As Zalando: the manifest's value, true or false, is written as given; without one, the
    # operator's enable_patroni_failsafe_mode turns it on.
    failsafe = patroni.get("failsafe_mode")
    if failsafe is not None:
        dcs["failsafe_mode"] = bool(failsafe)
    elif config.get("enable_patroni_failsafe_mode"):
        dcs["failsafe_mode"] = True
    return dcs


def spilo_configuration(model):
    """The ``SPILO_CONFIGURATION`` dict of a cluster (docs/design/model.md §2). Pure: also used for local Patroni.

    ``postgresql`` holds the local parameters, ``pg_hba`` and (only when the ``PGVERSION`` env is
    disabled) ``bin_dir``; ``bootstrap`` holds the initdb list and the dcs section, where zero,
    false and absent values are left out.
    """
    spec = _spec(model)
    config = _config(model)
    patroni = spec.get("patroni") or {}
    params = (spec.get("postgresql") or {}).get("parameters") or {}
    local, dynamic = split_parameters(params)

    postgresql = {}
    if not config.get("enable_pgversion_env_var", True):
        postgresql["bin_dir"] = "/usr/lib/postgresql/%s/bin" % model.get("pg_version")
    if local:
        postgresql["parameters"] = local
    if patroni.get("pg_hba"):
        postgresql["pg_hba"] = [str(line) for line in patroni["pg_hba"]]

    return {
        "postgresql": postgresql,
        "bootstrap": {
            "initdb": _initdb(patroni.get("initdb")),
            "dcs": _dcs(model, dynamic),
        },
    }


def spilo_configuration_json(model):
    """``SPILO_CONFIGURATION`` as Spilo reads it: compact JSON, keys in the layout order."""
    return json.dumps(spilo_configuration(model), separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# The Spilo env (docs/design/model.md §2)
# --------------------------------------------------------------------------------------------

def _clone_env(model):
    clone = _spec(model).get("clone") or {}
    source = clone.get("cluster")
    if not source:
        return []
    config = _config(model)
    env = [_value("CLONE_SCOPE", source)]
    timestamp = clone.get("timestamp")
    if not timestamp:
        # Basebackup from the live source cluster, through its primary Service in this namespace.
        replication = config.get("replication_username") or "standby"
        env += [
            _value("CLONE_METHOD", "CLONE_WITH_BASEBACKUP"),
            _value("CLONE_HOST", source),
            _value("CLONE_PORT", "5432"),
            _value("CLONE_USER", replication),
            _secret_ref("CLONE_PASSWORD", _secrets.secret_name(replication, source, config), "password"),
        ]
        return env
    if clone.get("s3_wal_path"):
        env.append(_value("CLONE_WALE_S3_PREFIX", clone["s3_wal_path"]))
    else:
        if config.get("wal_s3_bucket"):
            env.append(_value("CLONE_WAL_S3_BUCKET", config["wal_s3_bucket"]))
        elif config.get("wal_gs_bucket"):
            env.append(_value("CLONE_WAL_GS_BUCKET", config["wal_gs_bucket"]))
            if config.get("gcp_credentials"):
                env.append(_value("CLONE_GOOGLE_APPLICATION_CREDENTIALS", config["gcp_credentials"]))
        elif config.get("wal_az_storage_account"):
            env.append(_value("CLONE_AZURE_STORAGE_ACCOUNT", config["wal_az_storage_account"]))
        env.append(_value("CLONE_WAL_BUCKET_SCOPE_SUFFIX", _scope_suffix(clone.get("uid"))))
    env += [
        _value("CLONE_METHOD", "CLONE_WITH_WALE"),
        _value("CLONE_TARGET_TIME", timestamp),
        _value("CLONE_WAL_BUCKET_SCOPE_PREFIX", ""),
    ]
    if clone.get("s3_endpoint"):
        env += [_value("CLONE_AWS_ENDPOINT", clone["s3_endpoint"]),
                _value("CLONE_WALE_S3_ENDPOINT", clone["s3_endpoint"])]
    if clone.get("s3_access_key_id"):
        env.append(_value("CLONE_AWS_ACCESS_KEY_ID", clone["s3_access_key_id"]))
    if clone.get("s3_secret_access_key"):
        env.append(_value("CLONE_AWS_SECRET_ACCESS_KEY", clone["s3_secret_access_key"]))
    if clone.get("s3_force_path_style") is not None:
        env.append(_value("CLONE_AWS_S3_FORCE_PATH_STYLE", "1" if clone["s3_force_path_style"] else "0"))
    if config.get("irsa_role_arn"):
        env += [_value("CLONE_AWS_ROLE_ARN", config["irsa_role_arn"]),
                _value("CLONE_AWS_WEB_IDENTITY_TOKEN_FILE", IRSA_TOKEN_FILE)]
    return env


def _standby_env(model):
    standby = _spec(model).get("standby") or {}
    if not standby:
        return []
    config = _config(model)
    env = []
    if standby.get("standby_host"):
        env.append(_value("STANDBY_HOST", standby["standby_host"]))
        if standby.get("standby_port"):
            env.append(_value("STANDBY_PORT", standby["standby_port"]))
        if standby.get("standby_primary_slot_name"):
            env.append(_value("STANDBY_PRIMARY_SLOT_NAME", standby["standby_primary_slot_name"]))
    wal = False
    if standby.get("s3_wal_path"):
        env.append(_value("STANDBY_WALE_S3_PREFIX", standby["s3_wal_path"]))
        wal = True
        if config.get("irsa_role_arn"):
            env += [_value("STANDBY_AWS_ROLE_ARN", config["irsa_role_arn"]),
                    _value("STANDBY_AWS_WEB_IDENTITY_TOKEN_FILE", IRSA_TOKEN_FILE)]
    elif standby.get("gs_wal_path"):
        env.append(_value("STANDBY_WALE_GS_PREFIX", standby["gs_wal_path"]))
        wal = True
    if wal:
        env += [_value("STANDBY_METHOD", "STANDBY_WITH_WALE"), _value("STANDBY_WAL_BUCKET_SCOPE_PREFIX", "")]
    return env


def _source_data(source):
    """ConfigMap/Secret object, its ``data`` dict, or (secret) a list of keys -> dict or list."""
    if isinstance(source, dict) and ("data" in source or "stringData" in source or source.get("kind") in ("ConfigMap", "Secret")):
        merged = dict(source.get("data") or {})
        merged.update(source.get("stringData") or {})
        return merged
    return source


def _pod_environment(model, pod_environment):
    """Groups 10 and 11: the pod-environment Secret (as secretKeyRefs) and ConfigMap (as values)."""
    config = _config(model)
    sources = dict(model.get("pod_environment") or {})
    sources.update(dict((k, v) for k, v in (pod_environment or {}).items() if v is not None))
    env = []
    secret = config.get("pod_environment_secret")
    if secret:
        data = _source_data(sources.get("secret"))
        if data is None:
            raise KubernetesError(
                "config.pod_environment_secret names Secret %r (namespace %s), but its data was not read; "
                "pass the Secret (or its keys) in, or fix the name: an env rendered without it would roll every pod"
                % (secret, model.get("namespace")), field="config.pod_environment_secret", secret=secret)
        for key in sorted(data):
            env.append(_secret_ref(key, secret, key))
    configmap = config.get("pod_environment_configmap")
    if configmap:
        data = _source_data(sources.get("configmap"))
        if data is None or not isinstance(data, dict):
            raise KubernetesError(
                "config.pod_environment_configmap names ConfigMap %r, but its data was not read; pass the "
                "ConfigMap data in, or fix the name: an env rendered without it would roll every pod" % configmap,
                field="config.pod_environment_configmap", configmap=configmap)
        for key in sorted(data):
            env.append(_value(key, data[key]))
    return env


def _global_env(model):
    config = _config(model)
    suffix = _scope_suffix(model.get("uid"))
    env = []
    if config.get("wal_s3_bucket"):
        env += [_value("WAL_S3_BUCKET", config["wal_s3_bucket"]), _value("WAL_BUCKET_SCOPE_SUFFIX", suffix),
                _value("WAL_BUCKET_SCOPE_PREFIX", "")]
    if config.get("wal_gs_bucket"):
        env += [_value("WAL_GS_BUCKET", config["wal_gs_bucket"]), _value("WAL_BUCKET_SCOPE_SUFFIX", suffix),
                _value("WAL_BUCKET_SCOPE_PREFIX", "")]
    if config.get("wal_az_storage_account"):
        env += [_value("AZURE_STORAGE_ACCOUNT", config["wal_az_storage_account"]),
                _value("WAL_BUCKET_SCOPE_SUFFIX", suffix), _value("WAL_BUCKET_SCOPE_PREFIX", "")]
    if config.get("gcp_credentials"):
        env.append(_value("GOOGLE_APPLICATION_CREDENTIALS", config["gcp_credentials"]))
    if config.get("log_s3_bucket"):
        env += [_value("LOG_S3_BUCKET", config["log_s3_bucket"]), _value("LOG_BUCKET_SCOPE_SUFFIX", suffix),
                _value("LOG_BUCKET_SCOPE_PREFIX", "")]
    return env


def tls_paths(model):
    """``{"cert", "key", "ca"}`` file paths of ``spec.tls`` (docs/design/model.md §6), or None without TLS."""
    tls = _spec(model).get("tls") or {}
    if not tls.get("secretName"):
        return None

    def place(name, base):
        return name if name.startswith("/") else "%s/%s" % (base, name)

    paths = {"cert": place(tls.get("certificateFile") or "tls.crt", TLS_MOUNT),
             "key": place(tls.get("privateKeyFile") or "tls.key", TLS_MOUNT), "ca": None}
    if tls.get("caFile"):
        paths["ca"] = place(tls["caFile"], TLSCA_MOUNT if tls.get("caSecretName") else TLS_MOUNT)
    return paths


def wal_archiving_disabled(model):
    """True when the postgresql object carries ``acid.zalan.do/disable-wal-archiving: "true"``."""
    annotations = model.get("cr_annotations") or {}
    return str(annotations.get(DISABLE_WAL_ARCHIVING_ANNOTATION, "")).lower() == "true"


def spilo_env(model, pod_environment=None):
    """The env of the ``postgres`` container, in order (docs/design/model.md §2); the first of a name wins.

    With the annotation ``acid.zalan.do/disable-wal-archiving: "true"`` the WAL and base backup
    variables (:data:`WAL_ARCHIVE_VARIABLES`) are set empty and ``USE_WALG_BACKUP=false`` right
    after the DCS group, so neither ``spec.env``, the pod-environment sources nor the bucket globals
    can switch archiving back on. Restores (``CLONE_*``, ``STANDBY_*``) are not touched.

    ``pod_environment`` is ``{"configmap": <data dict or ConfigMap>, "secret": <data dict, Secret
    or list of keys>}`` for the sources named by ``pod_environment_configmap`` and
    ``pod_environment_secret`` (``model["pod_environment"]`` is read too). ``None`` means "not read":
    if the config names that source, :class:`KubernetesError` is raised.
    """
    config = _config(model)
    name = model["name"]
    superuser = config.get("super_username") or "postgres"
    replication = config.get("replication_username") or "standby"

    env = [
        _value("SCOPE", name),
        _value("PGROOT", PGROOT),
        _field_ref("POD_IP", "status.podIP"),
        _field_ref("POD_NAMESPACE", "metadata.namespace"),
        _value("PGUSER_SUPERUSER", superuser),
        _value("KUBERNETES_SCOPE_LABEL", config.get("cluster_name_label") or "cluster-name"),
        _value("KUBERNETES_ROLE_LABEL", config.get("pod_role_label") or "spilo-role"),
        _secret_ref("PGPASSWORD_SUPERUSER", _credential_secret(model, superuser), "password"),
        _value("PGUSER_STANDBY", replication),
        _secret_ref("PGPASSWORD_STANDBY", _credential_secret(model, replication), "password"),
        _value("PAM_OAUTH2", config.get("pam_configuration", "")),
        _value("HUMAN_ROLE", config.get("pam_role_name", "")),
    ]
    if config.get("enable_spilo_wal_path_compat"):
        env.append(_value("ENABLE_WAL_PATH_COMPAT", "true"))
    if config.get("enable_pgversion_env_var", True):
        env.append(_value("PGVERSION", model.get("pg_version")))
    labels = config.get("cluster_labels") or {}
    env.append(_value("KUBERNETES_LABELS", json.dumps(labels, sort_keys=True, separators=(",", ":"))))
    env.append(_value("SPILO_CONFIGURATION", spilo_configuration_json(model)))

    dcs = model.get("dcs") or ("etcd" if config.get("etcd_host") else
                               ("configmaps" if config.get("kubernetes_use_configmaps") else "endpoints"))
    if dcs == "etcd":
        env.append(_value("ETCD_HOST", config.get("etcd_host", "")))
    else:
        env.append(_value("DCS_ENABLE_KUBERNETES_API", "true"))
        if config.get("enable_pod_disruption_budget", True):
            env.append(_value("KUBERNETES_BOOTSTRAP_LABELS", '{"critical-operation":"true"}'))
        if dcs == "configmaps":
            env.append(_value("KUBERNETES_USE_CONFIGMAPS", "true"))

    if wal_archiving_disabled(model):
        env += [_value(name, "") for name in WAL_ARCHIVE_VARIABLES]
        env.append(_value("USE_WALG_BACKUP", "false"))

    env += [copy.deepcopy(var) for var in _spec(model).get("env") or []]
    env += _clone_env(model)
    env += _standby_env(model)
    env += _pod_environment(model, pod_environment)
    env += _global_env(model)
    paths = tls_paths(model)
    if paths:
        env += [_value("SSL_CERTIFICATE_FILE", paths["cert"]), _value("SSL_PRIVATE_KEY_FILE", paths["key"])]
        if paths["ca"]:
            env.append(_value("SSL_CA_FILE", paths["ca"]))
    return dedupe_env(env)


# --------------------------------------------------------------------------------------------
# Volumes, containers, scheduling (docs/design/model.md §2)
# --------------------------------------------------------------------------------------------

def _pgdata_mount(model):
    volume = _spec(model).get("volume") or {}
    mount = {"name": PGDATA_VOLUME, "mountPath": PGDATA_MOUNT}
    if volume.get("subPath"):
        mount["subPathExpr" if volume.get("isSubPathExpr") else "subPath"] = volume["subPath"]
    return mount


def shm_volume_needed(model):
    """``spec.enableShmVolume`` when set, else ``enable_shm_volume`` (the documented semantics)."""
    value = _spec(model).get("enableShmVolume")
    if value is None:
        return bool(_config(model).get("enable_shm_volume", True))
    return bool(value)


def _sidecars(model, warnings):
    spec = _spec(model)
    config = _config(model)
    merged = []
    names = set()

    def add(container, origin):
        if container.get("name") in names:
            warnings.append("sidecar %r from %s is overridden by an earlier definition" % (container["name"], origin))
            return
        names.add(container["name"])
        merged.append(container)

    for index, sidecar in enumerate(spec.get("sidecars") or []):
        field = "spec.sidecars[%d]" % index
        image = sidecar.get("image") or sidecar.get("dockerImage")
        if not image:
            raise ManifestError("%s.image" % field, "a sidecar needs an image", "add image: <registry/name:tag>")
        container = {"name": sidecar.get("name") or "sidecar-%d" % index, "image": image,
                     "imagePullPolicy": "IfNotPresent",
                     "resources": container_resources(sidecar.get("resources"), config, "sidecar", field=field + ".resources")}
        for key in ("env", "ports", "command", "args"):
            if sidecar.get(key):
                container[key] = copy.deepcopy(sidecar[key])
        add(container, "the manifest")
    for index, sidecar in enumerate(config.get("sidecars") or []):
        if not isinstance(sidecar, dict) or not sidecar.get("name") or not sidecar.get("image"):
            raise ManifestError("config.sidecars[%d]" % index, "every sidecar needs a name and an image",
                                "give each entry name: and image: (a full container spec)")
        add(copy.deepcopy(sidecar), "config.sidecars")
    images = config.get("sidecar_docker_images") or {}
    for name in sorted(images):
        add({"name": name, "image": images[name], "imagePullPolicy": "IfNotPresent",
             "resources": container_resources({}, config, "sidecar")},
            "config.sidecar_docker_images")
    if config.get("scalyr_api_key") and config.get("scalyr_image"):
        add({"name": "scalyr-sidecar", "image": config["scalyr_image"], "imagePullPolicy": "IfNotPresent",
             "env": [_value("SCALYR_API_KEY", config["scalyr_api_key"]), _value("SCALYR_SERVER_HOST", model["name"]),
                     _value("SCALYR_SERVER_URL", config.get("scalyr_server_url", ""))],
             "resources": {"requests": {"cpu": config.get("scalyr_cpu_request"), "memory": config.get("scalyr_memory_request")},
                           "limits": {"cpu": config.get("scalyr_cpu_limit"), "memory": config.get("scalyr_memory_limit")}}},
            "config.scalyr_*")
    if merged and not config.get("enable_sidecars", True) and spec.get("sidecars"):
        raise ManifestError("spec.sidecars", "sidecars are disabled by the operator (config.enable_sidecars=false)",
                            "remove spec.sidecars or set enable_sidecars: true")

    superuser = config.get("super_username") or "postgres"
    injected = [
        _field_ref("POD_NAME", "metadata.name"),
        _field_ref("POD_NAMESPACE", "metadata.namespace"),
        _value("POSTGRES_USER", superuser),
        _secret_ref("POSTGRES_PASSWORD", _credential_secret(model, superuser), "password"),
    ]
    # As Zalando: these four come first and win; a sidecar's own variable of the same name is dropped.
    ours = set(v["name"] for v in injected)
    for container in merged:
        own = list(container.get("env") or [])
        for var in own:
            if isinstance(var, dict) and var.get("name") in ours:
                warnings.append("sidecar %r: its env %s is replaced by the operator's (POD_NAME, POD_NAMESPACE, "
                                "POSTGRES_USER and POSTGRES_PASSWORD are always set for sidecars)"
                                % (container.get("name"), var["name"]))
        container["env"] = [copy.deepcopy(v) for v in injected] + [
            v for v in own if not (isinstance(v, dict) and v.get("name") in ours)]
        container["volumeMounts"] = list(container.get("volumeMounts") or []) + [_pgdata_mount(model)]
    return merged


def _init_containers(model):
    spec = _spec(model)
    containers = [copy.deepcopy(c) for c in spec.get("initContainers") or []]
    if containers and not _config(model).get("enable_init_containers", True):
        raise ManifestError("spec.initContainers", "init containers are disabled by the operator "
                            "(config.enable_init_containers=false)", "remove spec.initContainers or set enable_init_containers: true")
    for index, container in enumerate(containers):
        if not container.get("name") or not container.get("image"):
            raise ManifestError("spec.initContainers[%d]" % index, "every init container needs a name and an image",
                                "give it name: and image:")
    return containers


def _additional_volumes(model, containers, init_containers, warnings):
    """Volumes of ``spec.additionalVolumes`` (+ TLS) and their mounts, per target (docs/design/model.md §8).

    ``targetContainers`` may name the postgres container, sidecars and init containers; empty means
    ``postgres`` only; ``["all"]`` means every container, init containers included.
    """
    spec = _spec(model)
    volumes = []
    entries = [(v, "spec.additionalVolumes[%d]" % i) for i, v in enumerate(spec.get("additionalVolumes") or [])]
    tls = spec.get("tls") or {}
    tls_entries = []
    if tls.get("secretName"):
        tls_entries.append(({"name": tls["secretName"], "mountPath": TLS_MOUNT,
                             "volumeSource": {"secret": {"secretName": tls["secretName"], "defaultMode": 0o640}}}, "spec.tls"))
        if tls.get("caFile") and tls.get("caSecretName"):
            tls_entries.append(({"name": tls["caSecretName"], "mountPath": TLSCA_MOUNT,
                                 "volumeSource": {"secret": {"secretName": tls["caSecretName"], "defaultMode": 0o640}}}, "spec.tls"))
    seen_paths = set()
    seen_names = set()
    for volume, field in tls_entries + entries:
        targets = list(volume.get("targetContainers") or [])
        path = volume.get("mountPath")
        if path in seen_paths or path == PGDATA_MOUNT or ("all" in targets and len(targets) > 1):
            warnings.append("%s (%s) skipped: a repeated mountPath, the data directory, or \"all\" mixed with names"
                            % (field, volume.get("name")))
            continue
        if volume.get("name") in seen_names:
            warnings.append("%s skipped: volume name %r is used twice" % (field, volume.get("name")))
            continue
        seen_paths.add(path)
        seen_names.add(volume.get("name"))
        source = copy.deepcopy(volume.get("volumeSource") or {})
        for kind in ("secret", "configMap"):
            if isinstance(source.get(kind), dict):
                source[kind].setdefault("defaultMode", 0o644)
        item = {"name": volume["name"]}
        item.update(source)
        volumes.append(item)
        mount = {"name": volume["name"], "mountPath": path}
        if volume.get("subPath"):
            mount["subPathExpr" if volume.get("isSubPathExpr") else "subPath"] = volume["subPath"]
        known = set(c["name"] for c in containers) | set(c["name"] for c in init_containers)
        for name in targets:
            if name != "all" and name not in known:
                warnings.append("%s targets container %r, which does not exist" % (field, name))
        for container in containers + init_containers:
            if ("all" in targets or container["name"] in targets
                    or (not targets and container["name"] == POSTGRES_CONTAINER)):
                container.setdefault("volumeMounts", []).append(copy.deepcopy(mount))
    return volumes


def _node_affinity(model):
    spec = _spec(model)
    config = _config(model)
    affinity = copy.deepcopy(spec.get("nodeAffinity") or {})
    readiness = config.get("node_readiness_label") or {}
    if readiness:
        expressions = [{"key": k, "operator": "In", "values": [readiness[k]]} for k in sorted(readiness)]
        required = affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.setdefault("nodeSelectorTerms", [])
        if (config.get("node_readiness_label_merge") or "OR").upper() == "AND" and terms:
            for term in terms:
                term.setdefault("matchExpressions", []).extend(copy.deepcopy(expressions))
        else:
            terms.append({"matchExpressions": expressions})
    return affinity


def _affinity(model):
    config = _config(model)
    affinity = {}
    node = _node_affinity(model)
    if node:
        affinity["nodeAffinity"] = node
    if config.get("enable_pod_antiaffinity"):
        term = {"labelSelector": {"matchLabels": dict(model["labels"]["object"])},
                "topologyKey": config.get("pod_antiaffinity_topology_key") or "kubernetes.io/hostname"}
        if config.get("pod_antiaffinity_preferred_during_scheduling"):
            affinity["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "podAffinityTerm": term}]}
        else:
            affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    return affinity


def _tolerations(model):
    given = _spec(model).get("tolerations") or []
    if given:
        return copy.deepcopy(given)
    toleration = _config(model).get("toleration") or {}
    item = dict((k, toleration[k]) for k in ("key", "operator", "value", "effect") if toleration.get(k))
    return [item] if item else []


def _image_pull_secrets(model):
    names = []
    for item in list(_config(model).get("image_pull_secrets") or []) + list(_spec(model).get("imagePullSecrets") or []):
        name = item.get("name") if isinstance(item, dict) else item
        if name and name not in names:
            names.append(str(name))
    return [{"name": n} for n in names]


def _probe(probe):
    """A probe with every field the API server would default written out (docs/design/model.md §5)."""
    if not probe:
        return None
    probe = copy.deepcopy(probe)
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")
    return probe


def readiness_probe(model):
    if not _config(model).get("enable_readiness_probe"):
        return None
    return {"httpGet": {"path": "/readiness", "port": 8008, "scheme": "HTTP"}, "initialDelaySeconds": 6,
            "periodSeconds": 10, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 3}


def liveness_probe(model):
    return _probe(_spec(model).get("livenessProbe") or _config(model).get("liveness_probe"))


def pod_parts(model, pod_environment=None):
    """Everything of the Spilo pod spec that needs list logic, for ``statefulset/spilo.yaml.j2``.

    Returns ``{"env", "postgres_mounts", "sidecars", "init_containers", "volumes", "tolerations",
    "affinity", "topology_spread_constraints", "image_pull_secrets", "readiness_probe",
    "liveness_probe", "warnings"}``.
    """
    config = _config(model)
    warnings = []
    env = spilo_env(model, pod_environment)
    postgres = {"name": POSTGRES_CONTAINER, "volumeMounts": [_pgdata_mount(model)]}
    sidecars = _sidecars(model, warnings)
    init_containers = _init_containers(model)
    containers = [postgres] + sidecars
    volumes = []
    if shm_volume_needed(model):
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
        postgres["volumeMounts"].append({"name": "dshm", "mountPath": "/dev/shm"})
    if config.get("share_pgsocket_with_sidecars"):
        volumes.append({"name": "postgresql-run", "emptyDir": {"medium": "Memory"}})
        for container in containers:
            container["volumeMounts"].append({"name": "postgresql-run", "mountPath": "/var/run/postgresql"})
    if config.get("additional_secret_mount"):
        name = config["additional_secret_mount"]
        volumes.append({"name": name, "secret": {"secretName": name, "defaultMode": 0o644}})
        for container in containers:
            container["volumeMounts"].append({"name": name, "mountPath": config.get("additional_secret_mount_path")})
    volumes += _additional_volumes(model, containers, init_containers, warnings)
    return {
        "env": env,
        "postgres_mounts": postgres["volumeMounts"],
        "sidecars": sidecars,
        "init_containers": init_containers,
        "volumes": volumes,
        "tolerations": _tolerations(model),
        "affinity": _affinity(model),
        "topology_spread_constraints": pods.topology_spread_constraints(_spec(model), model["labels"]["selector"]),
        "image_pull_secrets": _image_pull_secrets(model),
        "readiness_probe": readiness_probe(model),
        "liveness_probe": liveness_probe(model),
        "warnings": warnings,
    }
