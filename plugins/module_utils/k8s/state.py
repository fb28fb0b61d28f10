# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""One read of everything a reconcile needs (BEYOND #22): config, manifest check, live objects.

Order: the operator configuration (ConfigMap, or given) -> the manifest (given, or read) -> the
manifest model is built once to validate it (an invalid manifest stops here, before any other
read) -> every object of the cluster, listed by the cluster-name label, plus the few objects
read by name (pod ServiceAccount/RoleBinding, ClusterRole, pod-environment sources).

A failed read raises :class:`KubernetesError`: the caller stops, it never renders from an
"empty" answer that was really an error (BEYOND #2). Only a 404 of a named object means absent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    KubernetesError,
    ManifestErrors,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import strip_server_fields
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig, spilo
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni import client as patroni_utils

# Kinds listed by the cluster-name label: (apiVersion, kind)
LISTED = (
    ("apps/v1", "StatefulSet"),
    ("v1", "Pod"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Service"),
    ("v1", "Endpoints"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("policy/v1", "PodDisruptionBudget"),
    ("batch/v1", "CronJob"),
    ("apps/v1", "Deployment"),
)


def split_ref(ref, default_namespace):
    """``"name"`` or ``"namespace/name"`` -> (namespace, name)."""
    ref = (ref or "").strip()
    if "/" in ref:
        ns, name = ref.split("/", 1)
        return ns or default_namespace, name
    return default_namespace, ref


def read_config(api, configmap=None, operator_namespace=None, given=None, required=False):
    """(raw ConfigMap data or given dict, source description). A named ConfigMap must exist."""
    if given:
        return given, "parameter operator_config"
    if not configmap:
        return {}, "built-in defaults"
    ns, name = split_ref(configmap, operator_namespace)
    if not ns:
        raise KubernetesError("operator ConfigMap %r has no namespace: set operator_namespace (env "
                              "OPERATOR_NAMESPACE) or write namespace/name" % configmap)
    cm = api.get("v1", "ConfigMap", name, ns)
    if cm is None:
        if required:
            raise KubernetesError("the operator ConfigMap %s/%s does not exist; create it (a Zalando "
                                  "postgres-operator ConfigMap works unchanged) or unset CONFIG_MAP_NAME"
                                  % (ns, name), status=404)
        return {}, "built-in defaults (ConfigMap %s/%s not found)" % (ns, name)
    return cm.get("data") or {}, "ConfigMap %s/%s" % (ns, name)


def read_manifest(api, name, namespace):
    cr = api.get("acid.zalan.do/v1", "postgresql", name, namespace)
    if cr is None:
        raise KubernetesError("postgresql %s/%s does not exist" % (namespace, name), status=404)
    return strip_server_fields(cr)


def validate(cr, config_raw, secrets):
    """(model or None, invalid dict or None)."""
    try:
        return build_model(cr, config_raw, secrets), None
    except ManifestErrors as exc:
        return None, {"msg": exc.msg, "fields": [e.field for e in exc.errors],
                      "problems": [e.msg for e in exc.errors]}


def read_children(api, name, namespace, config):
    """{kind: [objects]} of everything labelled ``<cluster_name_label>=<name>`` in the namespace."""
    selector = "%s=%s" % (config["cluster_name_label"], name)
    objects = {}
    for api_version, kind in LISTED:
        objects[kind] = [strip_server_fields(o) for o in api.list(api_version, kind, namespace, selector)]
    sa_name = config.get("pod_service_account_name") or "postgres-pod"
    for api_version, kind, ns in (("v1", "ServiceAccount", namespace),
                                  ("rbac.authorization.k8s.io/v1", "RoleBinding", namespace),
                                  ("rbac.authorization.k8s.io/v1", "ClusterRole", None)):
        obj = api.get(api_version, kind, sa_name, ns)
        objects[kind] = [strip_server_fields(obj)] if obj else []
    return objects


def read_pod_environment(api, config, namespace, objects):
    """The pod-environment ConfigMap/Secret the config names (SPEC 2.4); missing ones are errors."""
    env = {}
    for key, kind in (("pod_environment_configmap", "ConfigMap"), ("pod_environment_secret", "Secret")):
        ref = config.get(key)
        if not ref:
            continue
        ns, obj_name = split_ref(ref, namespace)
        obj = api.get("v1", kind, obj_name, ns)
        if obj is None:
            raise KubernetesError("config.%s names %s %s/%s, which does not exist: create it or clear %s "
                                  "(the pods would be rendered without its variables)" % (key, kind, ns, obj_name, key),
                                  status=404)
        env["configmap" if kind == "ConfigMap" else "secret"] = strip_server_fields(obj)
    return env


def read_backup_environment(api, config, model, namespace):
    """The Secret named by logical_backup_cronjob_environment_secret, when this cluster has a backup."""
    name = config.get("logical_backup_cronjob_environment_secret")
    if not name or not model.get("logical_backup"):
        return None
    obj = api.get("v1", "Secret", name, namespace)
    if obj is None:
        raise KubernetesError("config.logical_backup_cronjob_environment_secret names Secret %s/%s, which does not "
                              "exist: create it or clear the option (the CronJob would lose its variables)"
                              % (namespace, name), status=404)
    return strip_server_fields(obj)


def credential_secrets(api, model, namespace, objects, config):
    """Live credential secrets of the model's roles, including other namespaces (cross-namespace users)."""
    wanted = set(((s.get("namespace") or namespace), s["name"]) for s in model.get("secrets") or [])
    found = [s for s in objects.get("Secret") or []
             if (namespace, s["metadata"]["name"]) in wanted]
    other_ns = sorted(set(ref[0] for ref in wanted if ref[0] != namespace))
    selector = "%s=%s" % (config["cluster_name_label"], model["name"])
    for ns in other_ns:
        for s in api.list("v1", "Secret", ns, selector):
            if (ns, s["metadata"]["name"]) in wanted:
                found.append(strip_server_fields(s))
    return found


def pods_summary(pods, role_label):
    out = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        out.append({
            "name": pod["metadata"]["name"],
            "role": (pod["metadata"].get("labels") or {}).get(role_label),
            "phase": status.get("phase"),
            "ready": ready and not pod["metadata"].get("deletionTimestamp"),
            "ip": status.get("podIP"),
            "uid": pod["metadata"].get("uid"),
            "terminating": bool(pod["metadata"].get("deletionTimestamp")),
        })
    return out


def readiness(pods, instances, role_label="spilo-role"):
    """(ready, reasons, leader, masters) of a pods summary (SPEC 6.2 step 4)."""
    reasons = []
    live = [p for p in pods if not p["terminating"]]
    if len(live) != instances:
        reasons.append("%d of %d pods exist" % (len(live), instances))
    not_ready = [p["name"] for p in live if not p["ready"]]
    if not_ready:
        reasons.append("not ready: %s" % ", ".join(not_ready))
    unlabelled = [p["name"] for p in live if p["ready"] and p["role"] not in ("master", "replica")]
    if unlabelled:
        reasons.append("no %s label yet: %s" % (role_label, ", ".join(unlabelled)))
    masters = [p for p in live if p["role"] == "master"]
    if len(masters) > 1:
        reasons.append("more than one pod is labelled %s=master: %s" % (role_label, ", ".join(p["name"] for p in masters)))
    if instances > 0 and not masters:
        reasons.append("no leader (%s=master) yet" % role_label)
    leader = masters[0] if len(masters) == 1 and masters[0]["ready"] else None
    return not reasons, reasons, leader, masters


def desired_dynamic_config(model):
    """Patroni's dynamic configuration the manifest asks for (SPEC 5.9).

    The bootstrap ``dcs`` section of SPILO_CONFIGURATION (ttl, loop_wait, retry_timeout,
    maximum_lag_on_failover when set, the dynamic parameters, slots), plus the switches that are
    always converged: ``synchronous_mode``, ``synchronous_mode_strict`` and ``failsafe_mode``
    (the manifest's, else the operator option).
    """
    dcs = copy.deepcopy(spilo.spilo_configuration(model)["bootstrap"]["dcs"])
    patroni_spec = (model.get("spec") or {}).get("patroni") or {}
    failsafe = patroni_spec.get("failsafe_mode")
    if failsafe is None:
        failsafe = model["config"].get("enable_patroni_failsafe_mode")
    dcs["synchronous_mode"] = bool(patroni_spec.get("synchronous_mode"))
    dcs["synchronous_mode_strict"] = bool(patroni_spec.get("synchronous_mode_strict"))
    dcs["failsafe_mode"] = bool(failsafe)
    return dcs


def patroni_view(model, manifest, objects, pods):
    """What the DCS objects already tell about Patroni, so a no-op reconcile need not ask it.

    Patroni on Kubernetes keeps the dynamic configuration in the ``config`` annotation of
    ``<c>-config`` (ConfigMap or Endpoints) and each member's state in its pod's ``status``
    annotation (``pending_restart`` included). ``in_sync`` is True only when that configuration
    is known and needs no change; otherwise the reconcile asks Patroni itself.
    """
    name = model["name"]
    desired = desired_dynamic_config(model)
    status = manifest.get("status") if isinstance(manifest.get("status"), dict) else {}
    managed = status.get("managedSlots") or []
    current = None
    for kind in ("ConfigMap", "Endpoints"):
        for obj in objects.get(kind) or []:
            if obj["metadata"]["name"] == "%s-config" % name:
                raw = (obj["metadata"].get("annotations") or {}).get("config")
                try:
                    current = json.loads(raw) if raw else None
                except ValueError:
                    current = None
    view = {"desired": desired, "managed_slots": managed, "dcs_config_known": current is not None,
            "in_sync": False, "changes": [], "pending_restart": []}
    if current is not None:
        diff = patroni_utils.config_diff(current, desired, managed)
        view["in_sync"] = not diff["patch"]
        view["changes"] = [c["path"] for c in diff["changes"]]
    for pod in pods:
        raw = (pod["metadata"].get("annotations") or {}).get("status")
        try:
            member = json.loads(raw) if raw else {}
        except ValueError:
            member = {}
        if member.get("pending_restart"):
            view["pending_restart"].append(pod["metadata"]["name"])
    return view


def read_state(api, name=None, namespace=None, manifest=None, config_given=None, configmap=None,
               operator_namespace=None, configmap_required=False, read_objects=True):
    """Everything a reconcile needs, read once. See the module documentation for the keys."""
    config_raw, config_source = read_config(api, configmap, operator_namespace, config_given, configmap_required)
    live_cr = None
    if manifest is None:
        if not name or not namespace:
            raise KubernetesError("give either the manifest or the cluster name and namespace")
        manifest = read_manifest(api, name, namespace)
        live_cr = manifest
    else:
        manifest = copy.deepcopy(manifest)
        meta = manifest.setdefault("metadata", {})
        if not meta.get("namespace"):
            meta["namespace"] = namespace or "default"
        if not meta.get("uid") and meta.get("name"):
            # a manifest from a file: the live object (if any) gives uid, generation and status
            live_cr = api.get("acid.zalan.do/v1", "postgresql", meta["name"], meta["namespace"])
            if live_cr is not None:
                strip_server_fields(live_cr)
                for key in ("uid", "generation", "creationTimestamp", "resourceVersion"):
                    if key in live_cr["metadata"]:
                        meta[key] = live_cr["metadata"][key]
                if "status" in live_cr:
                    manifest["status"] = live_cr["status"]
        elif meta.get("uid"):
            live_cr = manifest
    meta = manifest.get("metadata") or {}
    name = meta.get("name") or name
    namespace = meta.get("namespace") or namespace or "default"
    result = {"manifest": manifest, "name": name, "namespace": namespace, "config_source": config_source,
              "cr_exists": live_cr is not None,
              "invalid": None, "model_warnings": [], "objects": {}, "existing_secrets": [], "pod_environment": {},
              "statefulset": None, "pods": [], "leader": None, "exists": False, "instances": None,
              "ready": False, "ready_reasons": [], "teardown_names": {},
              "backup_environment_secret": None, "patroni": {}}
    model, invalid = validate(manifest, config_raw, None)
    if invalid:
        result["invalid"] = invalid
        try:
            result["config"] = opconfig.load(config_raw)
        except ManifestErrors:
            result["config"] = opconfig.load(None)
        return result
    config = model["config"]
    result["config"] = config
    result["model_warnings"] = list(model.get("warnings") or [])
    if not read_objects:
        return result
    objects = read_children(api, name, namespace, config)
    result["objects"] = objects
    result["pod_environment"] = read_pod_environment(api, config, namespace, objects)
    result["existing_secrets"] = credential_secrets(api, model, namespace, objects, config)
    result["backup_environment_secret"] = read_backup_environment(api, config, model, namespace)
    sts = [s for s in objects["StatefulSet"] if s["metadata"]["name"] == name]
    result["statefulset"] = sts[0] if sts else None
    result["exists"] = bool(sts)
    pods = [p for p in objects["Pod"] if p["metadata"]["name"].rpartition("-")[0] == name
            and p["metadata"]["name"].rpartition("-")[2].isdigit()]
    result["pods"] = pods_summary(pods, config["pod_role_label"])
    result["patroni"] = patroni_view(model, manifest, objects, pods)
    result["instances"] = model["instances"]
    prefix = config.get("logical_backup_job_prefix") or "logical-backup-"
    result["teardown_names"] = {
        "secrets": sorted(s["name"] for s in model.get("secrets") or [] if (s.get("namespace") or namespace) == namespace),
        "pooler": sorted(((model.get("pooler") or {}).get("names") or {}).values()) or
        ["%s-pooler" % name, "%s-pooler-repl" % name],
        "backup_job": ("%s%s" % (prefix, name))[:52].rstrip("-"),
    }
    ready, reasons, leader, _masters = readiness(result["pods"], model["instances"], config["pod_role_label"])
    result["ready"], result["ready_reasons"], result["leader"] = ready, reasons, leader
    return result
