"""Resource types the Kubernetes API double serves, and its discovery documents.

A TEST DOUBLE: only the kinds pgfleet's playbooks and kubernetes.core touch are registered. A
``CustomResourceDefinition`` created through the API registers its kinds too, like a real server.
"""

import threading


class ResourceType(object):
    """One REST resource (``group/version`` + plural) with what discovery advertises about it."""

    def __init__(self, group, version, kind, plural, namespaced=True, short_names=(),
                 subresources=("status",), verbs=None, custom=False, singular=None, categories=()):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.subresources = list(subresources)
        self.verbs = verbs or ["create", "delete", "deletecollection", "get", "list", "patch",
                               "update", "watch"]
        self.custom = custom
        self.singular = singular or kind.lower()
        self.categories = list(categories)

    @property
    def group_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def key(self):
        return (self.group, self.plural)

    def discovery_entries(self):
        entries = [{
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(self.verbs), "shortNames": list(self.short_names),
            "storageVersionHash": "double",
        }]
        if self.categories:
            entries[0]["categories"] = list(self.categories)
        for sub in self.subresources:
            if sub == "status":
                entries.append({"name": "%s/status" % self.plural, "singularName": "",
                                "namespaced": self.namespaced, "kind": self.kind,
                                "verbs": ["get", "patch", "update"]})
            elif sub == "proxy":
                entries.append({"name": "%s/proxy" % self.plural, "singularName": "",
                                "namespaced": self.namespaced, "kind": "PodProxyOptions",
                                "verbs": ["create", "delete", "get", "patch", "update"]})
            elif sub == "eviction":
                entries.append({"name": "%s/eviction" % self.plural, "singularName": "",
                                "namespaced": self.namespaced, "group": "policy", "version": "v1",
                                "kind": "Eviction", "verbs": ["create"]})
        return entries


def _builtin():
    rt = ResourceType
    return [
        rt("", "v1", "Namespace", "namespaces", namespaced=False, short_names=["ns"]),
        rt("", "v1", "Pod", "pods", short_names=["po"], subresources=("status", "proxy", "eviction"),
           categories=["all"]),
        rt("", "v1", "Service", "services", short_names=["svc"], categories=["all"]),
        rt("", "v1", "Endpoints", "endpoints", short_names=["ep"], subresources=()),
        rt("", "v1", "ConfigMap", "configmaps", short_names=["cm"], subresources=()),
        rt("", "v1", "Secret", "secrets", subresources=()),
        rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=["pvc"]),
        rt("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=["pv"]),
        rt("", "v1", "ServiceAccount", "serviceaccounts", short_names=["sa"], subresources=()),
        rt("", "v1", "Event", "events", short_names=["ev"], subresources=()),
        rt("", "v1", "Node", "nodes", namespaced=False, short_names=["no"]),
        rt("apps", "v1", "StatefulSet", "statefulsets", short_names=["sts"], categories=["all"]),
        rt("apps", "v1", "Deployment", "deployments", short_names=["deploy"], categories=["all"]),
        rt("apps", "v1", "ControllerRevision", "controllerrevisions", subresources=()),
        rt("batch", "v1", "CronJob", "cronjobs", short_names=["cj"], categories=["all"]),
        rt("batch", "v1", "Job", "jobs", categories=["all"]),
        rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=["pdb"]),
        rt("rbac.authorization.k8s.io", "v1", "Role", "roles", subresources=()),
        rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", subresources=()),
        rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False,
           subresources=()),
        rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
           namespaced=False, subresources=()),
        rt("events.k8s.io", "v1", "Event", "events", short_names=["ev"], subresources=()),
        rt("coordination.k8s.io", "v1", "Lease", "leases", subresources=()),
        rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
           namespaced=False, short_names=["crd", "crds"]),
    ]


def zalando_types():
    """The kinds of the Zalando operator's CRDs, registered up front (the CRD is installed)."""
    return [
        ResourceType("acid.zalan.do", "v1", "postgresql", "postgresqls", short_names=["pg"],
                     custom=True, singular="postgresql", categories=["all"]),
        ResourceType("acid.zalan.do", "v1", "OperatorConfiguration", "operatorconfigurations",
                     short_names=["opconfig"], custom=True, subresources=()),
        ResourceType("acid.zalan.do", "v1", "PostgresTeam", "postgresteams", short_names=["pgteam"],
                     custom=True, subresources=()),
    ]


class Registry(object):
    """All resource types by (group, version, plural); thread-safe (CRDs register at run time)."""

    def __init__(self, with_zalando=True):
        self._lock = threading.RLock()
        self._types = {}
        for t in _builtin() + (zalando_types() if with_zalando else []):
            self.add(t)

    def add(self, rtype):
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_group_plural(self, group, plural):
        with self._lock:
            for key in [k for k in self._types if k[0] == group and k[2] == plural]:
                del self._types[key]

    def lookup(self, group, version, plural):
        with self._lock:
            return self._types.get((group, version, plural))

    def by_kind(self, group_version, kind):
        group, _sep, version = group_version.rpartition("/")
        with self._lock:
            for t in self._types.values():
                if t.group == group and t.version == version and t.kind == kind:
                    return t
        return None

    def groups(self):
        """{group: [versions]} for every non-core group."""
        with self._lock:
            out = {}
            for t in self._types.values():
                if t.group:
                    out.setdefault(t.group, [])
                    if t.version not in out[t.group]:
                        out[t.group].append(t.version)
            return out

    def in_group_version(self, group, version):
        with self._lock:
            return [t for t in self._types.values() if t.group == group and t.version == version]

    def register_crd(self, crd):
        """Register (or re-register) every served version of a CustomResourceDefinition."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        if not group or not names.get("plural") or not names.get("kind"):
            return
        self.remove_group_plural(group, names["plural"])
        for ver in spec.get("versions") or []:
            if not ver.get("served", True):
                continue
            subs = ["status"] if "status" in (ver.get("subresources") or {}) else []
            self.add(ResourceType(
                group, ver["name"], names["kind"], names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=names.get("shortNames") or [], subresources=subs, custom=True,
                singular=names.get("singular"), categories=names.get("categories") or []))

    def unregister_crd(self, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        if spec.get("group") and names.get("plural"):
            self.remove_group_plural(spec["group"], names["plural"])
