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
  tolerations, affinity, the additional secret mount.

The templates print these values; they decide nothing. Fields the API server would default are
written out (docs/design/model.md §5). List-shaped parts of the Spilo pod (env, volumes, sidecars,
scheduling) are in ``spilo.pod_parts``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DEFAULT_SCHEDULER = "default-scheduler"
#: pgbouncer's user and group in the pooler image.
POOLER_RUN_AS_USER = 100
POOLER_RUN_AS_GROUP = 101
BACKUP_APPLICATION = "spilo-logical-backup"


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
    container = {"allowPrivilegeEscalation": bool(cfg.get("spilo_allow_privilege_escalation")),
                 "privileged": bool(cfg.get("spilo_privileged")),
                 "readOnlyRootFilesystem": False}
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


def logical_backup_pod(name, cfg, spec):
    """``{"image", "image_pull_secrets", "tolerations", "affinity", "volumes", "volume_mounts"}`` of the backup job's pod:
    a preferred affinity to earlier backup pods of the cluster, the node readiness label as the only node affinity."""
    own_labels = {cfg["cluster_name_label"]: name, "application": BACKUP_APPLICATION}
    affinity = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": own_labels}, "topologyKey": "kubernetes.io/hostname"}}]}}
    expressions = _readiness_expressions(cfg)
    if expressions:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}
    volumes, mounts = [], []
    if cfg.get("additional_secret_mount"):
        secret = cfg["additional_secret_mount"]
        volumes.append({"name": secret, "secret": {"secretName": secret, "defaultMode": 420}})
        mounts.append({"name": secret, "mountPath": cfg.get("additional_secret_mount_path")})
    return {
        "image": cfg["logical_backup_docker_image"],
        "image_pull_secrets": pod_image_pull_secrets(spec, cfg),
        "tolerations": pod_tolerations(spec, cfg),
        "affinity": affinity,
        "volumes": volumes,
        "volume_mounts": mounts,
    }
