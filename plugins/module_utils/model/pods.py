# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Pod-level values of the Spilo, pooler and logical backup pods, decided here once
(docs/design/model.md §2, §5, §6).

* :func:`spilo_pod` -> ``model["pod"]``: the image (``dockerImage`` else ``docker_image``), the pod
  security context (``spiloRunAsUser``/``spiloRunAsGroup``/``spiloFSGroup`` else the operator's
  ``spilo_runasuser``/``spilo_runasgroup``/``spilo_fsgroup``), the priority class, the scheduler, the
  pod management and claim retention policies, the postgres container's security context and the
  data volume claim's spec.
* :func:`pooler_security_context` -> ``model["pooler"]["security_context"]``: pgbouncer runs as
  100:101, with the Spilo pod's fsGroup.
* :func:`logical_backup_pod` -> ``model["logical_backup_pod"]``: image, image pull secrets,
  tolerations, affinity, topology spread, the additional secret mount, and the Spilo pod's security
  contexts and container ports.
* :func:`topology_spread_constraints`: ``spec.topologySpreadConstraints`` for a pod with the given
  labels (the Spilo pod's and the logical backup pod's, docs/render.md).

The templates print these values; they decide nothing. Fields the API server would default are
written out (docs/design/model.md §5). List-shaped parts of the Spilo pod (env, volumes, sidecars,
scheduling) are in ``spilo.pod_parts``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.pgfleet.postgres.plugins.module_utils.model.secrets import secret_name

DEFAULT_SCHEDULER = "default-scheduler"
#: pgbouncer's user and group in the pooler image.
POOLER_RUN_AS_USER = 100
POOLER_RUN_AS_GROUP = 101
BACKUP_APPLICATION = "spilo-logical-backup"
#: the Spilo image's ports (Patroni's REST API, Postgres, the operator API), declared by the containers that run it
#: (the Spilo container; the logical backup container, which Zalando builds the same way).
SPILO_PORTS = (8008, 5432, 8080)


def _manifest_else_config(spec, key, cfg, cfg_key):
    """The manifest's value unless it is absent (None), else the operator option (0 in the manifest wins)."""
    value = spec.get(key)
    return value if value is not None else cfg.get(cfg_key)


def fs_group(spec, cfg):
    """``spiloFSGroup`` else ``spilo_fsgroup``; None: no fsGroup."""
    return _manifest_else_config(spec, "spiloFSGroup", cfg, "spilo_fsgroup")


def spilo_security_context(spec, cfg):
    """The Spilo pod's ``securityContext``: runAsUser, runAsGroup, fsGroup, each only when set ({} when none is)."""
    context = {}
    for field, key, cfg_key in (("runAsUser", "spiloRunAsUser", "spilo_runasuser"),
                                ("runAsGroup", "spiloRunAsGroup", "spilo_runasgroup"),
                                ("fsGroup", "spiloFSGroup", "spilo_fsgroup")):
        value = _manifest_else_config(spec, key, cfg, cfg_key)
        if value is not None:
            context[field] = int(value)
    return context


def container_security_context(cfg):
    """The ``securityContext`` of a container running the Spilo image's way (the postgres container, the logical
    backup container): ``spilo_privileged``, ``spilo_allow_privilege_escalation``, never a read-only root."""
    return {"allowPrivilegeEscalation": bool(cfg.get("spilo_allow_privilege_escalation")),
            "privileged": bool(cfg.get("spilo_privileged")),
            "readOnlyRootFilesystem": False}


def container_ports():
    """:data:`SPILO_PORTS` as a container's ``ports`` (TCP written out)."""
    return [{"containerPort": port, "protocol": "TCP"} for port in SPILO_PORTS]


def topology_spread_constraints(spec, match_labels):
    """``spec.topologySpreadConstraints``, copied, each without a ``labelSelector`` given ``match_labels``
    (docs/render.md: Zalando means to do this, a bug prevents it). The manifest's objects are never changed."""
    result = []
    for constraint in spec.get("topologySpreadConstraints") or []:
        constraint = copy.deepcopy(constraint)
        if not constraint.get("labelSelector"):
            constraint["labelSelector"] = {"matchLabels": dict(match_labels)}
        result.append(constraint)
    return result


def _retention(value):
    return "Delete" if str(value or "retain").lower() == "delete" else "Retain"


def _volume_claim_spec(spec):
    volume = spec.get("volume") or {}
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": str(volume.get("size"))}}}
    if volume.get("storageClass"):
        claim["storageClassName"] = volume["storageClass"]
    claim["volumeMode"] = "Filesystem"
    if volume.get("selector"):
        claim["selector"] = volume["selector"]
    return claim


def spilo_pod(spec, cfg):
    """``{"image", "security_context", "priority_class_name" (None: none), "scheduler_name", "pod_management_policy",
    "pvc_retention_policy", "postgres_security_context", "volume_claim_spec"}``."""
    retention = cfg.get("persistent_volume_claim_retention_policy") or {}
    container = container_security_context(cfg)
    if cfg.get("additional_pod_capabilities"):
        container["capabilities"] = {"add": [str(c).upper() for c in cfg["additional_pod_capabilities"]]}
    return {
        "image": spec.get("dockerImage") or cfg["docker_image"],
        "security_context": spilo_security_context(spec, cfg),
        "priority_class_name": spec.get("podPriorityClassName") or cfg.get("pod_priority_class_name") or None,
        "scheduler_name": spec.get("schedulerName") or DEFAULT_SCHEDULER,
        "pod_management_policy": "Parallel" if cfg.get("pod_management_policy") == "parallel" else "OrderedReady",
        "pvc_retention_policy": {"whenDeleted": _retention(retention.get("when_deleted")),
                                 "whenScaled": _retention(retention.get("when_scaled"))},
        "postgres_security_context": container,
        "volume_claim_spec": _volume_claim_spec(spec),
    }


def pooler_security_context(spec, cfg):
    """The pooler pod's ``securityContext``: 100:101 and the Spilo pod's fsGroup when one is set."""
    context = {"runAsUser": POOLER_RUN_AS_USER, "runAsGroup": POOLER_RUN_AS_GROUP}
    group = fs_group(spec, cfg)
    if group is not None:
        context["fsGroup"] = int(group)
    return context


def _config_toleration(cfg):
    """The operator's single ``toleration`` (its key, operator, value, effect that are set, in its own order)."""
    toleration = cfg.get("toleration") or {}
    return dict((k, v) for k, v in toleration.items() if k in ("key", "operator", "value", "effect") and v)


def pod_tolerations(spec, cfg):
    """``spec.tolerations``, else the operator's toleration (pooler and logical backup pods)."""
    if spec.get("tolerations"):
        return spec["tolerations"]
    item = _config_toleration(cfg)
    return [item] if item else []


def pod_image_pull_secrets(spec, cfg):
    """``image_pull_secrets`` then ``spec.imagePullSecrets``, each name once (pooler and logical backup pods)."""
    result = []
    for item in list(cfg.get("image_pull_secrets") or []) + list(spec.get("imagePullSecrets") or []):
        name = str(item["name"] if isinstance(item, dict) else item)
        if item and name not in [s["name"] for s in result]:
            result.append({"name": name})
    return result


def _readiness_expressions(cfg):
    readiness = cfg.get("node_readiness_label") or {}
    return [{"key": k, "operator": "In", "values": [readiness[k]]} for k in sorted(readiness)]


def _value(name, value):
    return {"name": name, "value": str(value)}


def _logical_backup_env(name, cfg, spec, uid, pg_version, secrets):
    """``(provider, env_head, env_tail, credentials_env)``: the backup container's env is env_head, the bucket (the
    cluster's bucket annotation, else ``logical_backup_s3_bucket``: the role knows the annotation's name), env_tail,
    then credentials_env unless the cluster names its own credentials Secret, then the keys of
    ``logical_backup_cronjob_environment_secret`` (also the role's)."""
    provider = str(cfg.get("logical_backup_provider") or "s3").lower()
    superuser = [s["name"] for s in secrets if s["role"] == cfg["super_username"]]
    superuser_secret = superuser[0] if superuser else secret_name(cfg["super_username"], name, cfg)
    head = [{"name": "SCOPE", "value": name},
            {"name": "CLUSTER_NAME_LABEL", "value": cfg["cluster_name_label"]},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            {"name": "LOGICAL_BACKUP_PROVIDER", "value": provider}]
    tail = [_value("LOGICAL_BACKUP_S3_BUCKET_PREFIX", cfg.get("logical_backup_s3_bucket_prefix")),
            {"name": "LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX", "value": ("/%s" % uid) if uid else ""},
            _value("PG_VERSION", pg_version),
            {"name": "PGPORT", "value": "5432"},
            {"name": "PGUSER", "value": cfg["super_username"]},
            {"name": "PGDATABASE", "value": "postgres"},
            {"name": "PGSSLMODE", "value": "require"},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": superuser_secret, "key": "password"}}}]
    credentials = []
    if provider == "s3":
        tail += [_value("LOGICAL_BACKUP_S3_REGION", cfg.get("logical_backup_s3_region")),
                 _value("LOGICAL_BACKUP_S3_ENDPOINT", cfg.get("logical_backup_s3_endpoint")),
                 _value("LOGICAL_BACKUP_S3_SSE", cfg.get("logical_backup_s3_sse")),
                 _value("LOGICAL_BACKUP_S3_RETENTION_TIME",
                        spec.get("logicalBackupRetention") or cfg.get("logical_backup_s3_retention_time"))]
        if cfg.get("logical_backup_s3_access_key_id"):
            credentials.append(_value("AWS_ACCESS_KEY_ID", cfg["logical_backup_s3_access_key_id"]))
        if cfg.get("logical_backup_s3_secret_access_key"):
            credentials.append(_value("AWS_SECRET_ACCESS_KEY", cfg["logical_backup_s3_secret_access_key"]))
    elif provider == "gcs":
        tail.append(_value("LOGICAL_BACKUP_GOOGLE_APPLICATION_CREDENTIALS", cfg.get("logical_backup_google_application_credentials")))
    elif provider == "az":
        tail += [_value("LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_NAME", cfg.get("logical_backup_azure_storage_account_name")),
                 _value("LOGICAL_BACKUP_AZURE_STORAGE_CONTAINER", cfg.get("logical_backup_azure_storage_container"))]
        credentials.append(_value("LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY", cfg.get("logical_backup_azure_storage_account_key")))
    return provider, head, tail, credentials


def logical_backup_pod(name, cfg, spec, labels, uid, pg_version, secrets):
    """``{"labels", "image", "provider", "env_head", "env_tail", "credentials_env", "image_pull_secrets", "tolerations",
    "affinity", "topology_spread_constraints", "security_context", "container_security_context", "ports", "volumes",
    "volume_mounts"}`` of the backup job's pod (see :func:`_logical_backup_env` for the env): a preferred affinity to
    earlier backup pods of the cluster (selected by all the backup pod's labels, as Zalando does), the node readiness
    label as the only node affinity, the manifest's topology spread over the backup pod's labels; the pod and container
    security contexts and the ports are the Spilo pod's (Zalando builds the backup pod with the Spilo pod's code)."""
    pod_labels = dict(labels["object"])
    pod_labels["application"] = BACKUP_APPLICATION
    affinity = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": dict(pod_labels)},
                                          "topologyKey": "kubernetes.io/hostname"}}]}}
    expressions = _readiness_expressions(cfg)
    if expressions:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}
    volumes, mounts = [], []
    if cfg.get("additional_secret_mount"):
        secret = cfg["additional_secret_mount"]
        volumes.append({"name": secret, "secret": {"secretName": secret, "defaultMode": 420}})
        mounts.append({"name": secret, "mountPath": cfg.get("additional_secret_mount_path")})
    provider, head, tail, credentials = _logical_backup_env(name, cfg, spec, uid, pg_version, secrets)
    return {
        "labels": pod_labels,
        "image": cfg["logical_backup_docker_image"],
        "provider": provider,
        "env_head": head,
        "env_tail": tail,
        "credentials_env": credentials,
        "image_pull_secrets": pod_image_pull_secrets(spec, cfg),
        "tolerations": pod_tolerations(spec, cfg),
        "affinity": affinity,
        "topology_spread_constraints": topology_spread_constraints(spec, pod_labels),
        "security_context": spilo_security_context(spec, cfg),
        "container_security_context": container_security_context(cfg),
        "ports": container_ports(),
        "volumes": volumes,
        "volume_mounts": mounts,
    }


POOLER_APPLICATION = "db-connection-pooler"


def _pooler_node_affinity(spec, cfg):
    """``spec.nodeAffinity`` with the node readiness label: added to every term (``node_readiness_label_merge`` AND),
    or as a term of its own (OR). The manifest's objects are copied, never changed."""
    node_affinity = spec.get("nodeAffinity") or {}
    expressions = _readiness_expressions(cfg)
    if not expressions:
        return node_affinity
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if (cfg.get("node_readiness_label_merge") or "OR").upper() == "AND" and terms:
        merged = []
        for term in terms:
            term = dict(term)
            term["matchExpressions"] = list(term.get("matchExpressions") or []) + expressions
            merged.append(term)
        terms = merged
    else:
        terms = list(terms) + [{"matchExpressions": expressions}]
    required = dict(required)
    required["nodeSelectorTerms"] = terms
    node_affinity = dict(node_affinity)
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    return node_affinity


def _pooler_affinity(spec, cfg, selector):
    affinity = {}
    node_affinity = _pooler_node_affinity(spec, cfg)
    if node_affinity:
        affinity["nodeAffinity"] = node_affinity
    if cfg.get("enable_pod_antiaffinity"):
        term = {"labelSelector": {"matchLabels": selector},
                "topologyKey": cfg.get("pod_antiaffinity_topology_key") or "kubernetes.io/hostname"}
        if cfg.get("pod_antiaffinity_preferred_during_scheduling"):
            affinity["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term}]}
        else:
            affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    return affinity


def _pooler_tls(tls, auth_secret):
    """The userlist volume and mount, plus the cluster's TLS secret mounted like in the Spilo pod (docs/design/model.md §6)."""
    env = []
    volumes = [{"name": "userlist", "secret": {"secretName": auth_secret, "defaultMode": 420}}]
    mounts = [{"name": "userlist", "mountPath": "/etc/pgbouncer/userlist.txt", "subPath": "userlist.txt", "readOnly": True}]
    if tls:
        cert = tls.get("certificateFile") or "tls.crt"
        key = tls.get("privateKeyFile") or "tls.key"
        env.append({"name": "CONNECTION_POOLER_CLIENT_TLS_CRT", "value": cert if cert.startswith("/") else "/tls/" + cert})
        env.append({"name": "CONNECTION_POOLER_CLIENT_TLS_KEY", "value": key if key.startswith("/") else "/tls/" + key})
        volumes.append({"name": tls["secretName"], "secret": {"secretName": tls["secretName"], "defaultMode": 416}})
        mounts.append({"name": tls["secretName"], "mountPath": "/tls"})
        if tls.get("caFile"):
            ca_base = "/tlsca/" if tls.get("caSecretName") else "/tls/"
            ca_file = tls["caFile"]
            env.append({"name": "CONNECTION_POOLER_CLIENT_CA_FILE", "value": ca_file if ca_file.startswith("/") else ca_base + ca_file})
            if tls.get("caSecretName"):
                volumes.append({"name": tls["caSecretName"], "secret": {"secretName": tls["caSecretName"], "defaultMode": 416}})
                mounts.append({"name": tls["caSecretName"], "mountPath": "/tlsca"})
    return env, volumes, mounts


def pooler_pods(names, spec, cfg, labels, pooler, secrets, roles, tls):
    """``{role: {...}}`` for each enabled pooler role (master, replica): the Deployment's ``name``, ``labels``,
    ``selector``, ``replicas``, pgbouncer's pool sizes (``max_db_connections`` divided by the instances, half of it
    the default pool, a quarter the minimum and reserve pools), ``pghost`` (the Service it connects to), ``user_secret``
    (the pooler user's credential Secret; absent when there is none, so rendering fails), ``infrastructure_roles``,
    ``tls_env``, ``volumes``, ``volume_mounts``, ``tolerations``, ``affinity``, ``image_pull_secrets``."""
    result = {}
    instances = max(int(pooler["instances"]), 1)
    max_db_conn = int(pooler["max_db_connections"]) // instances
    default_size = max_db_conn // 2
    min_size = default_size // 2
    user_secret = [s["name"] for s in secrets if s["role"] == pooler["user"]]
    infrastructure = ",".join(r["name"] for r in roles if r["origin"] == "infrastructure")
    for role in ("master", "replica"):
        if not pooler[role]:
            continue
        name = pooler["names"][role]
        selector = dict(labels["selector"])
        selector.update({"application": POOLER_APPLICATION, "connection-pooler": name})
        pod_labels = dict(labels["object"])
        pod_labels.update({"application": POOLER_APPLICATION, "connection-pooler": name, cfg["pod_role_label"]: role})
        tls_env, volumes, mounts = _pooler_tls(tls, names["pooler_auth_secret"][role])
        pod = {
            "name": name,
            "labels": pod_labels,
            "selector": selector,
            "replicas": instances,
            "max_db_connections": str(max_db_conn),
            "default_size": str(default_size),
            "min_size": str(min_size),
            "pghost": names["service_primary"] if role == "master" else names["service_replica"],
            "infrastructure_roles": infrastructure,
            "tls_env": tls_env,
            "volumes": volumes,
            "volume_mounts": mounts,
            "tolerations": pod_tolerations(spec, cfg),
            "affinity": _pooler_affinity(spec, cfg, selector),
            "image_pull_secrets": pod_image_pull_secrets(spec, cfg),
        }
        if user_secret:
            pod["user_secret"] = user_secret[0]
        result[role] = pod
    return result
