# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""One read of everything a reconcile needs (docs/design/reconcile.md, section 2): config, manifest check, live objects.

Order: the operator configuration (ConfigMap, or given) -> the manifest (given, or read) -> the
manifest model is built once to validate it (an invalid manifest stops here, before any other
read) -> every object of the cluster, listed by the cluster-name label, plus the few objects
read by name (pod ServiceAccount/RoleBinding, ClusterRole, pod-environment sources).

A failed read raises :class:`KubernetesError`: the caller stops, it never renders from an
"empty" answer that was really an error. Only a 404 of a named object means absent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import datetime
import json
import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    KubernetesError,
    ManifestErrors,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import steady
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import strip_server_fields
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig, spilo
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model_without_credentials
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.dynconfig import config_diff
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation

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


def read_config(api, configmap=None, operator_namespace=None, given=None, required=False, configuration_object=None):
    """(raw configuration, source description).

    As the reference operator: the ``OperatorConfiguration`` object named by
    ``configuration_object`` (env ``POSTGRES_OPERATOR_CONFIGURATION_OBJECT``) when set, else the
    ConfigMap named by ``configmap`` (env ``CONFIG_MAP_NAME``), else the built-in defaults. A
    configuration given as a parameter wins over both. Both objects are returned whole:
    ``opconfig.load`` reads either form and gives the same typed configuration.
    """
    if given:
        return given, "parameter operator_config"
    if configuration_object:
        kind, ref, api_version, env = "OperatorConfiguration", configuration_object, "acid.zalan.do/v1", \
            "POSTGRES_OPERATOR_CONFIGURATION_OBJECT"
    elif configmap:
        kind, ref, api_version, env = "ConfigMap", configmap, "v1", "CONFIG_MAP_NAME"
    else:
        return {}, "built-in defaults"
    ns, name = split_ref(ref, operator_namespace)
    if not ns:
        raise KubernetesError("operator %s %r has no namespace: set operator_namespace (env "
                              "OPERATOR_NAMESPACE) or write namespace/name" % (kind, ref))
    obj = api.get(api_version, kind, name, ns)
    if obj is None:
        if required:
            raise KubernetesError("the operator %s %s/%s does not exist; create it (a Zalando %s works "
                                  "unchanged) or unset %s" % (kind, ns, name, kind, env), status=404)
        return {}, "built-in defaults (%s %s/%s not found)" % (kind, ns, name)
    if kind == "ConfigMap":
        return obj.get("data") or {}, "ConfigMap %s/%s" % (ns, name)
    if not isinstance(obj.get("configuration"), dict):
        raise KubernetesError("the OperatorConfiguration %s/%s has no `configuration` mapping: write the settings "
                              "under configuration (grouped as in the Zalando operator's CRD)" % (ns, name))
    return {"kind": "OperatorConfiguration", "configuration": obj["configuration"]}, \
        "OperatorConfiguration %s/%s" % (ns, name)


def read_manifest(api, name, namespace):
    cr = api.get("acid.zalan.do/v1", "postgresql", name, namespace)
    if cr is None:
        raise KubernetesError("postgresql %s/%s does not exist" % (namespace, name), status=404)
    return strip_server_fields(cr)


def validate(cr, config_raw):
    """(secret-free model or None, invalid dict or None): the model is built here, once per reconcile."""
    try:
        model = build_model_without_credentials(cr, config_raw)
        # the rotation policy too, so a bad grace period or switch stops the reconcile before it
        # writes anything (not at the role sync after the objects are applied)
        rotation.policy_from(model.get("config"), model.get("spec"), model.get("cr_annotations"))
        return model, None
    except ManifestErrors as exc:
        return None, {"msg": exc.msg, "fields": [e.field for e in exc.errors],
                      "problems": [e.msg for e in exc.errors]}
    except rotation.RotationError as exc:
        return None, {"msg": str(exc), "fields": [exc.field], "problems": [str(exc)]}


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
    """The pod-environment ConfigMap/Secret the config names; missing ones are errors."""
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


#: The key of the OAuth token in the Secret named by oauth_token_secret_name (as the reference).
OAUTH_TOKEN_KEY = "read-only-token-secret"


def read_role_sources(api, config, namespace, operator_namespace=None):
    """The Secrets and ConfigMaps of the infrastructure roles, and the Teams API token Secret.

    ``{"infrastructure": {"secrets", "configmaps", "namespace"}, "teams_token_secret"}``. A name
    without a namespace is read in the operator's namespace (the cluster's when that is unknown). A
    Secret that does not exist is left out (the role sync warns and keeps its roles); any other API
    failure fails the read, never "no roles".
    """
    default_ns = operator_namespace or namespace
    refs = []
    if config.get("infrastructure_roles_secret_name"):
        refs.append(config["infrastructure_roles_secret_name"])
    for item in config.get("infrastructure_roles_secrets") or []:
        if isinstance(item, dict) and isinstance(item.get("secretname"), str) and item["secretname"]:
            refs.append(item["secretname"])
    secrets, configmaps = [], []
    for ref in sorted(set(refs)):
        ns, name = split_ref(ref, default_ns)
        for kind, out in (("Secret", secrets), ("ConfigMap", configmaps)):
            obj = api.get("v1", kind, name, ns)
            if obj is not None:
                out.append(strip_server_fields(obj))
    token_secret = None
    if config.get("enable_teams_api") and config.get("oauth_token_secret_name"):
        ns, name = split_ref(config["oauth_token_secret_name"], default_ns)
        obj = api.get("v1", "Secret", name, ns)
        token_secret = strip_server_fields(obj) if obj is not None else None
    return {"infrastructure": {"secrets": secrets, "configmaps": configmaps, "namespace": default_ns},
            "teams_token_secret": token_secret}


def teams_token(token_secret):
    """The OAuth token from the Secret :func:`read_role_sources` read, or None."""
    data = ((token_secret or {}).get("data") or {}).get(OAUTH_TOKEN_KEY)
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True).decode("utf-8").strip() or None
    except (ValueError, UnicodeDecodeError):
        return None


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
    """(ready, reasons, leader, masters) of a pods summary."""
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


def patroni_api_url(namespace, pod, access=None):
    """The Patroni REST API of ``pod`` (a pods-summary entry), as the reconcile reaches it.

    ``access``: ``{"mode": "pod_ip"|"proxy"|"url", "url", "proxy_url", "port"}``. ``pod_ip`` is
    ``http://<pod IP>:<port>`` (inside the cluster), ``proxy`` the API server's pod proxy (for example
    through ``kubectl proxy``), ``url`` a fixed address (a port-forward). The one place this URL is built.
    """
    access = access or {}
    mode = access.get("mode") or "pod_ip"
    port = access.get("port") or 8008
    if not pod:
        return ""
    if mode == "url":
        return access.get("url") or ""
    if mode == "proxy":
        base = (access.get("proxy_url") or "http://127.0.0.1:8001").rstrip("/")
        return "%s/api/v1/namespaces/%s/pods/%s:%s/proxy" % (base, namespace, pod["name"], port)
    if not pod.get("ip"):
        return ""
    return "http://%s:%s" % (pod["ip"], port)


def patroni_access_argument_spec():
    """The module options of :func:`patroni_access` (doc fragment ``pgfleet.postgres.k8s_patroni_access``)."""
    return dict(
        patroni_access=dict(type="str", default="pod_ip", choices=["pod_ip", "proxy", "url"]),
        patroni_url=dict(type="str", default=""),
        api_proxy_url=dict(type="str", default="http://127.0.0.1:8001"),
        patroni_port=dict(type="int", default=8008),
    )


def patroni_access(params):
    """The ``patroni_access`` dict from the module options of the same names."""
    return {"mode": params.get("patroni_access") or "pod_ip", "url": params.get("patroni_url") or "",
            "proxy_url": params.get("api_proxy_url") or "", "port": params.get("patroni_port") or 8008}


def with_api_url(leader, namespace, access):
    """The leader summary with its Patroni ``api_url``, or None."""
    if not leader:
        return None
    leader = dict(leader)
    leader["api_url"] = patroni_api_url(namespace, leader, access)
    return leader


def current_status(manifest):
    """The ``status`` of a postgresql object as a dict (a bare string is an old object's phase)."""
    status = (manifest or {}).get("status")
    if isinstance(status, dict):
        return status
    return {"PostgresClusterStatus": status} if isinstance(status, str) and status else {}


def reconcile_phase(manifest, exists):
    """Creating (no StatefulSet yet), Updating (a generation not acted on yet) or Sync."""
    if not exists:
        return "Creating"
    status = current_status(manifest)
    generation = int(((manifest or {}).get("metadata") or {}).get("generation") or 0)
    if status.get("observedGeneration") is not None and int(status["observedGeneration"]) != generation:
        return "Updating"
    return "Sync"


def owner_of(manifest):
    """The ``acid.zalan.do/controller`` annotation: the operator instance the manifest belongs to."""
    return (((manifest or {}).get("metadata") or {}).get("annotations") or {}).get("acid.zalan.do/controller") or ""


def stop_decision(manifest, invalid, controller_id=""):
    """(stop, reason): why a reconcile writes nothing but the status ('' = it goes on).

    ``foreign``: another operator instance owns the manifest; ``deleting``: it is being deleted
    (the finalizer playbook handles it); ``invalid``: it cannot be rendered.
    """
    meta = (manifest or {}).get("metadata") or {}
    owner = owner_of(manifest)
    if owner != (controller_id or ""):
        why = ("%s belongs to controller '%s', this is '%s': nothing to do (run with -e reconcile_controller_id=%s "
               "to take it over)" % (meta.get("name"), owner, controller_id or "", owner))
        return "foreign", why
    if meta.get("deletionTimestamp"):
        return "deleting", "%s is being deleted; playbooks/delete.yml handles it" % meta.get("name")
    if invalid:
        return "invalid", invalid["msg"]
    return "", ""


def keep_reason(manifest, config, invalid, controller_id="", today=None):
    """Why the finalizer keeps every object of the cluster ('' = tear it down).

    Data is never deleted on a doubt: not for another operator's manifest, not for one that is
    invalid (what it owns is not certain), and not while the delete annotations are missing
    (``delete_annotation_date_key`` must carry today's UTC date, ``delete_annotation_name_key``
    the cluster name; checked only without owner references, as the reference operator does).
    """
    meta = (manifest or {}).get("metadata") or {}
    ann = meta.get("annotations") or {}
    owner = owner_of(manifest)
    today = today or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    if owner != (controller_id or ""):
        return "the cluster belongs to controller '%s'" % owner
    if invalid:
        return "the manifest is invalid, so what it owns is not certain"
    if config.get("enable_owner_references"):
        return ""
    date_key = config.get("delete_annotation_date_key")
    if date_key and ann.get(date_key) != today:
        return "delete protection: annotation %s must be %s" % (date_key, today)
    name_key = config.get("delete_annotation_name_key")
    if name_key and ann.get(name_key) != meta.get("name"):
        return "delete protection: annotation %s must be %s" % (name_key, meta.get("name"))
    return ""


def desired_dynamic_config(model):
    """Patroni's dynamic configuration the manifest asks for (docs/patroni.md).

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
        diff = config_diff(current, desired, managed)
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
               operator_namespace=None, configmap_required=False, read_objects=True, controller_id="",
               patroni_access=None, configuration_object=None, fast_path=None):
    """Everything a reconcile needs, read once, and the decisions taken from it alone.

    See the module documentation for the keys. ``controller_id`` is this operator instance's
    ``acid.zalan.do/controller`` value; ``patroni_access`` how Patroni's API is reached
    (:func:`patroni_api_url`). ``fast_path`` (``{"enabled", "period", "now", "code"}``) asks for the
    steady-state fingerprint (:mod:`steady`): ``fingerprint``, ``fast`` and ``fast_reason`` in the result.
    """
    config_raw, config_source = read_config(api, configmap, operator_namespace, config_given, configmap_required,
                                            configuration_object)
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
              "backup_environment_secret": None, "patroni": {}, "postgres_teams": [], "model": None,
              "infrastructure": {"secrets": [], "configmaps": [], "namespace": namespace}, "teams_api_token": None,
              "fingerprint": "", "fast": False, "fast_reason": "not asked"}
    model, invalid = validate(manifest, config_raw)
    status = current_status(manifest)
    result["status_before"] = status.get("PostgresClusterStatus") or ""
    result["owner"] = owner_of(manifest)
    result["stop"], result["stop_reason"] = stop_decision(manifest, invalid, controller_id)
    result["phase"] = "Creating"
    result["scale_down_switchover"] = False
    result["leftovers"] = {"pooler": False, "logical_backup": False}
    if invalid:
        result["invalid"] = invalid
        try:
            result["config"] = opconfig.load(config_raw)
        except ManifestErrors:
            result["config"] = opconfig.load(None)
        result["keep_reason"] = keep_reason(manifest, result["config"], invalid, controller_id)
        return result
    config = model["config"]
    result["keep_reason"] = keep_reason(manifest, config, None, controller_id)
    result["config"] = config
    result["model_warnings"] = list(model.get("warnings") or [])
    if not read_objects:
        return result
    objects = read_children(api, name, namespace, config)
    result["objects"] = objects
    result["pod_environment"] = read_pod_environment(api, config, namespace, objects)
    result["existing_secrets"] = credential_secrets(api, model, namespace, objects, config)
    result["backup_environment_secret"] = read_backup_environment(api, config, model, namespace)
    # PostgresTeam objects of the namespace (enable_postgres_team_crd): a failed list fails the read
    # (never "no teams", which would retire their members' roles)
    result["postgres_teams"] = [strip_server_fields(t) for t in api.list("acid.zalan.do/v1", "PostgresTeam", namespace)] \
        if config.get("enable_postgres_team_crd") else []
    sources = read_role_sources(api, config, namespace, operator_namespace)
    result["infrastructure"] = sources["infrastructure"]
    result["teams_api_token"] = teams_token(sources["teams_token_secret"])
    if sources["teams_token_secret"]:
        result["teams_token_secret_version"] = steady.version_of(sources["teams_token_secret"])
    if config.get("enable_teams_api") and not result["teams_api_token"]:
        result["model_warnings"].append(
            "config.oauth_token_secret_name: Secret %s has no key %s; the Teams API is asked without a token"
            % (config.get("oauth_token_secret_name"), OAUTH_TOKEN_KEY))
    sts = [s for s in objects["StatefulSet"] if s["metadata"]["name"] == name]
    result["statefulset"] = sts[0] if sts else None
    result["exists"] = bool(sts)
    pods = [p for p in objects["Pod"] if p["metadata"]["name"].rpartition("-")[0] == name
            and p["metadata"]["name"].rpartition("-")[2].isdigit()]
    result["pods"] = pods_summary(pods, config["pod_role_label"])
    result["patroni"] = patroni_view(model, manifest, objects, pods)
    result["instances"] = model["instances"]
    # the secret-free model (no password in it): rendering attaches the credentials from existing_secrets
    result["model"] = model
    names = model["names"]
    result["teardown_names"] = {
        "secrets": sorted(s["name"] for s in model.get("secrets") or [] if (s.get("namespace") or namespace) == namespace),
        "pooler": sorted(names["pooler"].values()),
        "backup_job": names["logical_backup_job"],
        "pdbs": [names["pdb_primary"], names["pdb_critical_op"]],
        "names": names,
    }
    ready, reasons, leader, _masters = readiness(result["pods"], model["instances"], config["pod_role_label"])
    leader = with_api_url(leader, namespace, patroni_access)
    result["ready"], result["ready_reasons"], result["leader"] = ready, reasons, leader
    result["patroni"]["api_url"] = leader["api_url"] if leader else ""
    result["phase"] = reconcile_phase(manifest, result["exists"])
    # a scale-down that removes the leader's pod hands the leadership to pod 0 first
    result["scale_down_switchover"] = bool(
        leader and model["instances"] > 0 and int(leader["name"].rpartition("-")[2]) >= model["instances"])
    result["leftovers"] = {
        "pooler": any((o["metadata"].get("labels") or {}).get("application") == "db-connection-pooler"
                      for items in objects.values() for o in items),
        "logical_backup": bool(objects.get("CronJob")),
    }
    if fast_path and fast_path.get("enabled"):
        decide_fast_path(result, manifest, fast_path)
    return result


#: Result keys a fast-path reconcile does not need, and what they become (a 1,000-user model is ~1 MB of JSON).
FAST_PATH_DROPS = (("objects", {}), ("model", None), ("existing_secrets", []), ("pod_environment", {}),
                   ("backup_environment_secret", None), ("postgres_teams", []), ("statefulset", None),
                   ("teams_api_token", None), ("infrastructure", {"secrets": [], "configmaps": []}))


def decide_fast_path(result, manifest, fast_path):
    """Set ``fingerprint``, ``fast`` and ``fast_reason`` (docs/design/reconcile.md §8)."""
    model = result["model"]
    try:
        policy = rotation.policy_from(model.get("config"), model.get("spec"), model.get("cr_annotations"))
    except rotation.RotationError:
        policy = {"enabled": True}
    rotating = bool(policy.get("enabled") or policy.get("users") or policy.get("in_place"))
    now = fast_path.get("now")
    if now is None:
        now = time.time()
    digest, why = steady.fingerprint(result, code=fast_path.get("code") or "", now=now,
                                     period=fast_path.get("period") or steady.DEFAULT_PERIOD, rotation_active=rotating)
    result["fingerprint"] = digest
    before = steady.recorded(manifest)
    result["fast"] = bool(digest) and digest == before
    if result["fast"]:
        result["fast_reason"] = "unchanged since the last full reconcile"
        # nothing after the read uses the objects, the model or the credentials: do not hand them to Ansible
        for key, empty in FAST_PATH_DROPS:
            result[key] = copy.deepcopy(empty)
    elif why:
        result["fast_reason"] = why
    elif not before:
        result["fast_reason"] = "no steady state recorded yet"
    else:
        result["fast_reason"] = "the manifest, the configuration, an object, a pod or the full-sync period changed"
