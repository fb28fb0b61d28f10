"""What the real API server adds to and refuses in the built-in objects pgfleet writes.

Defaults matter because they are why a naive live-vs-desired comparison flaps (docs/design/reconcile.md section 3,
Zalando #3039): the double fills in the same defaulted fields, canonicalises quantities and
allocates cluster IPs, so a no-op test against it proves our comparison ignores them.
Immutability matters because it decides between patch and replace (docs/design/reconcile.md section 3): the double refuses
the same in-place StatefulSet/PVC/Service/Pod changes the real server refuses.
"""

import base64
import binascii
import copy
import itertools
import re

from . import quantity

_IP_COUNTER = itertools.count(10)
_NODEPORT = itertools.count(30000)
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _probe(p):
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    if isinstance(p.get("httpGet"), dict):
        p["httpGet"].setdefault("scheme", "HTTP")
        p["httpGet"].setdefault("path", "/")


def _resources(res, requests_from_limits=False):
    if not isinstance(res, dict):
        return
    for section in ("requests", "limits"):
        vals = res.get(section)
        if isinstance(vals, dict):
            for k, v in list(vals.items()):
                try:
                    vals[k] = quantity.canonical(v)
                except quantity.QuantityError:
                    pass
    # a Pod's requests default to its limits (SetDefaults_Pod; templates are left alone)
    if requests_from_limits and isinstance(res.get("limits"), dict):
        req = res.setdefault("requests", {})
        for k, v in res["limits"].items():
            req.setdefault(k, v)


def _container(c, is_pod=False):
    if not isinstance(c, dict):
        return
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    # EnvVar.value is `omitempty` in the API types: the real server stores and returns `value: ""`
    # as no value at all (a client comparing its rendering with the stored object must allow for it)
    for env in c.get("env") or []:
        if isinstance(env, dict) and env.get("value") == "":
            del env["value"]
    image = c.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in c:
        c["imagePullPolicy"] = "Always" if ("@" not in tag and (":" not in tag or tag.endswith(":latest"))) else "IfNotPresent"
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            ref = env["valueFrom"].get("fieldRef")
            if isinstance(ref, dict):
                ref.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    if "resources" in c:
        _resources(c["resources"], is_pod)
    else:
        c["resources"] = {}


def pod_spec(spec, is_pod=False):
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccountName"):
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        _container(c, is_pod)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for src in ("secret", "configMap", "downwardAPI", "projected"):
            if isinstance(vol.get(src), dict):
                vol[src].setdefault("defaultMode", 420)
        if isinstance(vol.get("emptyDir"), dict) and "sizeLimit" in vol["emptyDir"]:
            try:
                vol["emptyDir"]["sizeLimit"] = quantity.canonical(vol["emptyDir"]["sizeLimit"])
            except quantity.QuantityError:
                pass


def _template(tmpl):
    if isinstance(tmpl, dict):
        tmpl.setdefault("metadata", {})
        pod_spec(tmpl.get("spec"))


def _pvc_spec(spec):
    if not isinstance(spec, dict):
        return
    spec.setdefault("volumeMode", "Filesystem")
    _resources(spec.get("resources"))
    if isinstance(spec.get("resources"), dict) and spec["resources"].get("requests") == {}:
        pass


def apply_defaults(kind, obj, old=None):
    """Fill in defaults in place (``old`` is the stored object on update, for allocated fields)."""
    spec = obj.get("spec")
    if kind == "Pod":
        pod_spec(spec, is_pod=True)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        if isinstance(spec, dict):
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
            spec.setdefault("priority", 0)
            spec.setdefault("tolerations", [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ])
    elif kind == "StatefulSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        spec["persistentVolumeClaimRetentionPolicy"].setdefault("whenDeleted", "Retain")
        spec["persistentVolumeClaimRetentionPolicy"].setdefault("whenScaled", "Retain")
        _template(spec.get("template"))
        for vct in spec.get("volumeClaimTemplates") or []:
            if isinstance(vct, dict):
                vct.setdefault("apiVersion", "v1")
                vct.setdefault("kind", "PersistentVolumeClaim")
                vct.setdefault("metadata", {})
                _pvc_spec(vct.get("spec"))
                vct.setdefault("status", {"phase": "Pending"})
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
        _template(spec.get("template"))
    elif kind == "CronJob" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job = (spec.get("jobTemplate") or {}).get("spec")
        if isinstance(job, dict):
            _template(job.get("template"))
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            old_spec = (old or {}).get("spec") or {}
            if "clusterIP" not in spec:
                spec["clusterIP"] = old_spec.get("clusterIP") or "10.96.0.%d" % next(_IP_COUNTER)
            spec.setdefault("clusterIPs", [spec["clusterIP"]] if spec["clusterIP"] else [])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {p.get("port"): p for p in (((old or {}).get("spec") or {}).get("ports") or []) if isinstance(p, dict)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
                if spec["type"] in ("NodePort", "LoadBalancer") and "nodePort" not in port:
                    port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or next(_NODEPORT)
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode("utf-8")).decode("ascii")
    elif kind == "PersistentVolumeClaim":
        _pvc_spec(spec)
        obj.setdefault("status", {"phase": "Pending"})
    elif kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif kind == "PodDisruptionBudget":
        obj.setdefault("status", {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                                  "expectedPods": 0, "observedGeneration": 0})
    return obj


# --- validation -----------------------------------------------------------------------------
_STS_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}


def _meta_errors(kind, obj, cluster_scoped_custom=False):
    errs = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    pattern = _DNS1035_LABEL if kind in ("Service", "Namespace") else _DNS1123_SUBDOMAIN
    limit = 63 if kind in ("Service", "Namespace") else 253
    if not name or not pattern.match(name) or len(name) > limit:
        errs.append("metadata.name: Invalid value: %r: a lowercase RFC 1123 %s must consist of lower case "
                    "alphanumeric characters or '-'" % (name, "label" if limit == 63 else "subdomain"))
    for section in ("labels", "annotations"):
        vals = meta.get(section)
        if vals is None:
            continue
        if not isinstance(vals, dict):
            errs.append("metadata.%s: Invalid value: must be a map of strings" % section)
            continue
        for k, v in vals.items():
            if not isinstance(v, str):
                errs.append("metadata.%s.%s: Invalid value: %r: must be a string" % (section, k, v))
                continue
            key_name = k.rsplit("/", 1)[-1]
            if not _QUALIFIED_NAME.match(key_name) or len(key_name) > 63:
                errs.append("metadata.%s: Invalid value: %r: name part must consist of alphanumeric "
                            "characters, '-', '_' or '.'" % (section, k))
            if section == "labels" and (len(v) > 63 or not _LABEL_VALUE.match(v)):
                errs.append("metadata.labels: Invalid value: %r: a valid label must be an empty string or "
                            "consist of alphanumeric characters, '-', '_' or '.', at most 63" % v)
    return errs


def _pod_spec_without_images(spec):
    spec = copy.deepcopy(spec or {})
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        c.pop("image", None)
    spec.pop("activeDeadlineSeconds", None)
    spec.pop("tolerations", None)
    spec.pop("terminationGracePeriodSeconds", None)
    return spec


def validate(kind, obj, old=None):
    """Return a list of 422 messages for a create (old is None) or an update."""
    errs = _meta_errors(kind, obj)
    spec = obj.get("spec") or {}
    if kind == "Secret":
        for k, v in (obj.get("data") or {}).items():
            try:
                base64.b64decode(v or "", validate=True)
            except (binascii.Error, TypeError, ValueError):
                errs.append("data[%s]: Invalid value: illegal base64 data" % k)
    if kind == "StatefulSet":
        if not isinstance(spec.get("selector"), dict):
            errs.append("spec.selector: Required value")
        else:
            from .selectors import selector_matches

            tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not selector_matches(spec["selector"], tmpl_labels):
                errs.append("spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "OnDelete" and "rollingUpdate" in (spec.get("updateStrategy") or {}):
            errs.append("spec.updateStrategy.rollingUpdate: Invalid value: only allowed for updateStrategy 'RollingUpdate'")
    if kind == "PodDisruptionBudget" and "minAvailable" in spec and "maxUnavailable" in spec:
        # as the real server refuses it (also when the two come from different field managers)
        errs.append("spec: Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable "
                    "cannot be both set")
    if old is None:
        return errs
    old_spec = old.get("spec") or {}
    if kind == "StatefulSet":
        changed = sorted(k for k in set(spec) | set(old_spec) if k not in _STS_MUTABLE and spec.get(k) != old_spec.get(k))
        if changed:
            errs.append("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                        "'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' "
                        "and 'minReadySeconds' are forbidden (changed: %s)" % ", ".join(changed))
    elif kind == "Deployment":
        if spec.get("selector") != old_spec.get("selector"):
            errs.append("spec.selector: Invalid value: field is immutable")
    elif kind == "Service":
        if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP") and spec.get("type") != "ExternalName":
            errs.append("spec.clusterIPs[0]: Invalid value: %r: may not change once set" % spec.get("clusterIP"))
    elif kind == "PersistentVolumeClaim":
        a, b = copy.deepcopy(spec), copy.deepcopy(old_spec)
        for s in (a, b):
            s.get("resources", {}).pop("requests", None)
            s.pop("volumeAttributesClassName", None)
            s.pop("volumeName", None)
        if a != b:
            errs.append("spec: Forbidden: spec is immutable after creation except resources.requests and "
                        "volumeAttributesClassName for bound claims")
        new_req = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        old_req = ((old_spec.get("resources") or {}).get("requests") or {}).get("storage")
        if new_req and old_req and quantity.value(new_req) < quantity.value(old_req):
            errs.append("spec.resources.requests.storage: Forbidden: field can not be less than status.capacity")
    elif kind == "Pod":
        if _pod_spec_without_images(spec) != _pod_spec_without_images(old_spec):
            errs.append("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                        "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only "
                        "additions to existing tolerations) or `spec.terminationGracePeriodSeconds`")
    elif kind in ("Secret", "ConfigMap"):
        if old.get("immutable") and (obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData")):
            errs.append("data: Forbidden: field is immutable when `immutable` is set")
    return errs
