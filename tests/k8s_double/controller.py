"""Fake controllers behind the Kubernetes API double (optional; all of it is a test double).

- ``StatefulSetController``: what kube-controller-manager and the kubelet do for a StatefulSet
  with ``updateStrategy: OnDelete``: PVCs from ``volumeClaimTemplates``, pods ``<sts>-<i>``
  (OrderedReady or Parallel), adoption of orphaned pods that match the selector, scale-down, PVC
  retention policy, a deleted pod comes back from the *current* template, pods become Running and
  ready after ``pod_start_seconds`` (or, with ``pod_start_seconds=None``, only when a test calls
  ``start_pods()``: no wall clock involved), graceful pod deletion after ``pod_grace_seconds``, PVC
  resize reflected in ``status.capacity``, and the StatefulSet status.
- ``FakePatroni`` (``patroni=True``): what Spilo/Patroni does to Kubernetes objects and what its
  REST API answers, enough for pgfleet's reconcile: the role label (``spilo-role``) on each pod
  (first running pod is the leader; a deleted leader fails over to the lowest ready replica), the
  DCS objects (ConfigMaps ``<c>-leader``/``<c>-config`` or Endpoints, recreated while members
  run), and ``GET /patroni``, ``/cluster``, ``/config``, ``PATCH /config``, ``POST /switchover``
  and ``POST /restart`` reachable through the API server's pod proxy
  (``/api/v1/namespaces/<ns>/pods/<pod>:8008/proxy/<path>``). No Postgres runs anywhere.
"""

import copy
import hashlib
import heapq
import itertools
import json
import re
import threading
import time

from . import quantity
from .store import ApiError, now

_IPS = itertools.count(2)
PVC_PROTECTION = "kubernetes.io/pvc-protection"
_RESTART_ONLY = {
    "max_connections", "max_prepared_transactions", "max_locks_per_transaction", "max_worker_processes",
    "max_wal_senders", "shared_buffers", "wal_level", "max_replication_slots", "track_commit_timestamp",
    "shared_preload_libraries", "wal_log_hints", "hot_standby", "max_wal_size_restart_only_placeholder",
}


def _template_hash(tmpl):
    return hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()[:10]


class Controllers(object):
    MANAGER = "double-controllers"

    def __init__(self, store, pod_start_seconds=0.2, pod_grace_seconds=0.0, patroni=True,
                 role_label="spilo-role", failover_seconds=0.5):
        self.store = store
        self.reg = store.registry
        self.pod_start_seconds = pod_start_seconds
        self.pod_grace_seconds = pod_grace_seconds
        self.role_label = role_label
        self.failover_seconds = failover_seconds
        self.patroni = FakePatroni(self) if patroni else None
        self._queue = []
        self._held = []   # (ns, name, uid) of pods created while pod_start_seconds is None
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="k8s-double-controllers", daemon=True)
        store.pod_grace_seconds = pod_grace_seconds
        store.listeners.append(self._on_event)
        self._thread.start()

    # --- plumbing -----------------------------------------------------------------------------
    def t(self, plural, group=""):
        version = "v1"
        return self.reg.lookup(group, version, plural)

    def schedule(self, delay, action, *args):
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), action, args))
            self._cond.notify_all()

    def start_pods(self, hold_new=False):
        """Start every pod held back by ``pod_start_seconds=None``; later pods start at once unless
        ``hold_new``. How a test makes "the pods are slow" explicit instead of racing a timer."""
        with self._cond:
            held, self._held = self._held, []
            if not hold_new:
                self.pod_start_seconds = 0.0
        for args in held:
            self.schedule(0.0, "start_pod", *args)
        return [name for _ns, name, _uid in held]

    def held_pods(self):
        with self._cond:
            return [name for _ns, name, _uid in self._held]

    def stop(self):
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def settle(self, timeout=10.0, quiet=0.3):
        """Block until no action is due within ``quiet`` seconds (or timeout); for tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                idle = not self._busy and (not self._queue or self._queue[0][0] > time.monotonic() + quiet)
            if idle:
                time.sleep(0.05)
                with self._cond:
                    if not self._busy and (not self._queue or self._queue[0][0] > time.monotonic() + quiet):
                        return True
            time.sleep(0.02)
        return False

    def _run(self):
        while True:
            with self._cond:
                while not self._stop and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = None if not self._queue else max(0.0, self._queue[0][0] - time.monotonic())
                    self._cond.wait(timeout=wait)
                if self._stop:
                    return
                _due, _seq, action, args = heapq.heappop(self._queue)
                self._busy = True
            try:
                getattr(self, action)(*args)
            except ApiError:
                pass
            except Exception:  # pragma: no cover - a bug in the double must not kill the thread
                import traceback

                traceback.print_exc()
            finally:
                with self._cond:
                    self._busy = False

    def _on_event(self, event, rtype, obj):
        # called under the store lock: only enqueue work here
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        if rtype.kind == "StatefulSet" and rtype.group == "apps":
            self.schedule(0.01, "sync_statefulset", ns, name)
        elif rtype.kind == "Pod":
            if event == "DELETED":
                for vol in (obj.get("spec") or {}).get("volumes") or []:
                    claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
                    if claim:
                        self.schedule(0.05, "release_pvc", ns, claim)
            if event == "DELETED" or meta.get("deletionTimestamp"):
                for ref in meta.get("ownerReferences") or []:
                    if ref.get("kind") == "StatefulSet":
                        self.schedule(0.01, "sync_statefulset", ns, ref.get("name"))
                for sts in self._statefulsets_selecting(ns, meta.get("labels") or {}):
                    self.schedule(0.01, "sync_statefulset", ns, sts)
                if event != "DELETED" and meta.get("deletionTimestamp"):
                    grace = meta.get("deletionGracePeriodSeconds") or 0
                    self.schedule(float(grace), "finish_pod_delete", ns, name, meta.get("uid"))
                if self.patroni and event == "DELETED":
                    self.schedule(self.failover_seconds, "patroni_elect", ns, (meta.get("labels") or {}))
        elif rtype.kind == "PersistentVolumeClaim" and event != "DELETED":
            self.schedule(0.05, "sync_pvc", ns, name)
            if meta.get("deletionTimestamp"):
                self.schedule(0.05, "release_pvc", ns, name)
        elif rtype.kind in ("ConfigMap", "Endpoints") and event == "DELETED" and self.patroni:
            self.schedule(0.05, "patroni_dcs_recreate", ns, name)

    def _statefulsets_selecting(self, ns, labels):
        from .selectors import selector_matches

        out = []
        for key, obj in list(self.store.objects.items()):
            if key[0] == "apps" and key[1] == "statefulsets" and key[2] == ns:
                if selector_matches((obj.get("spec") or {}).get("selector") or {}, labels):
                    out.append(key[3])
        return out

    # --- StatefulSet --------------------------------------------------------------------------
    def _get(self, plural, ns, name, group=""):
        try:
            return self.store.get(self.t(plural, group), ns, name)
        except ApiError:
            return None

    def _pods_of(self, sts):
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        out = {}
        for pod in self.store.find("", "pods", ns):
            base, _sep, idx = pod["metadata"]["name"].rpartition("-")
            if base == name and idx.isdigit():
                out[int(idx)] = pod
        return out

    @staticmethod
    def _ready(pod):
        st = pod.get("status") or {}
        return st.get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []) \
            and not pod["metadata"].get("deletionTimestamp")

    def sync_statefulset(self, ns, name):
        sts = self._get("statefulsets", ns, name, "apps")
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        replicas = spec.get("replicas", 1)
        tmpl = spec.get("template") or {}
        revision = "%s-%s" % (name, _template_hash(tmpl))
        pods = self._pods_of(sts)
        parallel = spec.get("podManagementPolicy") == "Parallel"
        owner_ref = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": name,
                     "uid": sts["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        from .selectors import selector_matches

        for i in range(replicas):
            pod = pods.get(i)
            if pod is not None:
                refs = pod["metadata"].get("ownerReferences") or []
                if not any(r.get("controller") for r in refs) and \
                        selector_matches(spec.get("selector") or {}, pod["metadata"].get("labels") or {}):
                    self.store.patch(self.t("pods"), ns, pod["metadata"]["name"],
                                     {"metadata": {"ownerReferences": refs + [owner_ref]}},
                                     "application/merge-patch+json", manager=self.MANAGER)
                if not parallel and not self._ready(pod):
                    break
                continue
            self._create_pod(sts, i, revision, owner_ref)
            if not parallel:
                break
        for i in sorted((i for i in pods if i >= replicas), reverse=True):
            pod = pods[i]
            if not pod["metadata"].get("deletionTimestamp"):
                try:
                    self.store.delete(self.t("pods"), ns, pod["metadata"]["name"])
                except ApiError:
                    pass
                if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenScaled") == "Delete":
                    for vct in spec.get("volumeClaimTemplates") or []:
                        try:
                            self.store.delete(self.t("persistentvolumeclaims"), ns,
                                              "%s-%s-%d" % (vct["metadata"]["name"], name, i))
                        except ApiError:
                            pass
            if not parallel:
                break
        self._update_sts_status(sts, revision)

    def _update_sts_status(self, sts, revision):
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        pods = [p for p in self._pods_of(sts).values() if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in pods if self._ready(p)]
        updated = [p for p in pods if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision]
        old = sts.get("status") or {}
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods), "readyReplicas": len(ready), "availableReplicas": len(ready),
            "currentReplicas": len(pods), "updatedReplicas": len(updated),
            "currentRevision": old.get("currentRevision") or revision, "updateRevision": revision,
            "collisionCount": 0,
        }
        if len(updated) == len(pods):
            status["currentRevision"] = revision
        if status != old:
            try:
                self.store.update(self.t("statefulsets", "apps"), ns, name,
                                  dict(sts, status=status), manager=self.MANAGER, subresource="status")
            except ApiError:
                pass

    def _create_pod(self, sts, i, revision, owner_ref):
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        spec = sts.get("spec") or {}
        tmpl = copy.deepcopy(spec.get("template") or {})
        pod_name = "%s-%d" % (name, i)
        volumes = tmpl.get("spec", {}).setdefault("volumes", [])
        for vct in spec.get("volumeClaimTemplates") or []:
            claim = "%s-%s-%d" % (vct["metadata"]["name"], name, i)
            if self._get("persistentvolumeclaims", ns, claim) is None:
                meta = copy.deepcopy(vct.get("metadata") or {})
                meta["name"] = claim
                meta.setdefault("labels", {}).update((spec.get("selector") or {}).get("matchLabels") or {})
                if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted") == "Delete":
                    meta["ownerReferences"] = [dict(owner_ref, controller=True)]
                pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                       "spec": copy.deepcopy(vct.get("spec") or {})}
                self.store.create(self.t("persistentvolumeclaims"), ns, pvc, manager=self.MANAGER)
            if not any(v.get("name") == vct["metadata"]["name"] for v in volumes):
                volumes.append({"name": vct["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
        meta = tmpl.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        labels.update({"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                       "apps.kubernetes.io/pod-index": str(i)})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name, "labels": labels, "annotations": dict(meta.get("annotations") or {}),
                            "ownerReferences": [owner_ref]},
               "spec": dict(tmpl.get("spec") or {}, hostname=pod_name, subdomain=spec.get("serviceName", name),
                            nodeName="double-node")}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        created = self.store.create(self.t("pods"), ns, pod, manager=self.MANAGER)
        if self.pod_start_seconds is None:
            with self._cond:
                self._held.append((ns, pod_name, created["metadata"]["uid"]))
        else:
            self.schedule(self.pod_start_seconds, "start_pod", ns, pod_name, created["metadata"]["uid"])

    def start_pod(self, ns, name, uid):
        pod = self._get("pods", ns, name)
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return
        stamp = now()
        n = next(_IPS)
        ip = "10.244.%d.%d" % (n // 250, n % 250 + 1)
        containers = (pod.get("spec") or {}).get("containers") or []
        status = {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2",
            "startTime": stamp, "qosClass": "Burstable",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": None}
                           for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                     "PodScheduled")],
            "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "imageID": "",
                                   "ready": True, "started": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": stamp}}} for c in containers],
        }
        self.store.update(self.t("pods"), ns, name, dict(pod, status=status), manager=self.MANAGER,
                          subresource="status")
        if self.patroni:
            self.patroni.member_started(ns, name)
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "StatefulSet":
                self.schedule(0.01, "sync_statefulset", ns, ref.get("name"))

    def finish_pod_delete(self, ns, name, uid):
        pod = self._get("pods", ns, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            self.store.finish_graceful_delete(self.t("pods"), ns, name)

    def release_pvc(self, ns, name):
        """kube-controller-manager's pvc-protection controller: a deleted claim keeps the
        ``kubernetes.io/pvc-protection`` finalizer while a pod still uses it, then loses it (and goes)."""
        pvc = self._get("persistentvolumeclaims", ns, name)
        if pvc is None or not pvc["metadata"].get("deletionTimestamp") or \
                PVC_PROTECTION not in (pvc["metadata"].get("finalizers") or []):
            return
        for pod in self.store.find("", "pods", ns):
            for vol in (pod.get("spec") or {}).get("volumes") or []:
                if (vol.get("persistentVolumeClaim") or {}).get("claimName") == name:
                    return  # still in use: the pod's deletion schedules another look
        pvc["metadata"]["finalizers"] = [f for f in pvc["metadata"]["finalizers"] if f != PVC_PROTECTION]
        self.store.update(self.t("persistentvolumeclaims"), ns, name, pvc, manager="pvc-protection-controller")

    def sync_pvc(self, ns, name):
        pvc = self._get("persistentvolumeclaims", ns, name)
        if pvc is None:
            return
        want = ((pvc.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        status = copy.deepcopy(pvc.get("status") or {})
        have = (status.get("capacity") or {}).get("storage")
        if want and (status.get("phase") != "Bound" or not have or not quantity.equal(want, have)):
            status.update({"phase": "Bound", "accessModes": (pvc.get("spec") or {}).get("accessModes") or [],
                           "capacity": {"storage": want}})
            self.store.update(self.t("persistentvolumeclaims"), ns, name, dict(pvc, status=status),
                              manager=self.MANAGER, subresource="status")

    # --- Patroni ------------------------------------------------------------------------------
    def patroni_elect(self, ns, labels):
        if self.patroni:
            self.patroni.elect(ns, labels)

    def patroni_dcs_recreate(self, ns, name):
        if self.patroni:
            self.patroni.dcs_recreate(ns, name)


class FakePatroni(object):
    """Spilo/Patroni as seen from Kubernetes: role labels, DCS objects, and a REST API."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.lock = threading.RLock()
        self.clusters = {}   # (ns, scope) -> {"config": {...}, "pending": set(), "restarts": [], ...}
        self.requests = []   # REST calls received through the pod proxy

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _env(pod, name):
        for c in (pod.get("spec") or {}).get("containers") or []:
            for env in c.get("env") or []:
                if env.get("name") == name:
                    return env.get("value")
        return None

    def _scope(self, pod):
        return self._env(pod, "SCOPE") or pod["metadata"]["name"].rpartition("-")[0]

    def _members(self, ns, scope):
        out = []
        for pod in self.ctl.store.find("", "pods", ns):
            if self._scope(pod) == scope and pod["metadata"]["name"].rpartition("-")[0] == scope:
                out.append(pod)
        return sorted(out, key=lambda p: int(p["metadata"]["name"].rpartition("-")[2] or 0))

    def _role(self, pod):
        return (pod["metadata"].get("labels") or {}).get(self.ctl.role_label)

    def _label(self, ns, pod_name, role):
        self.ctl.store.patch(self.ctl.t("pods"), ns, pod_name,
                             {"metadata": {"labels": {self.ctl.role_label: role}}},
                             "application/merge-patch+json", manager="patroni")

    def _state(self, ns, scope, pod=None):
        with self.lock:
            st = self.clusters.get((ns, scope))
            if st is None:
                st = {"config": self._bootstrap_config(pod) if pod else {}, "pending": set(),
                      "restarts": [], "switchovers": [], "timeline": 1,
                      "server_version": self._bootstrap_version(pod)}
                self.clusters[(ns, scope)] = st
            elif st.get("server_version") is None and pod:
                st["server_version"] = self._bootstrap_version(pod)
            return st

    def _bootstrap_version(self, pod):
        """The major the first member bootstraps (``server_version``): Spilo's PGVERSION, else the major
        in ``postgresql.bin_dir`` of SPILO_CONFIGURATION, else 15. A later PGVERSION change keeps it: Spilo
        goes on running the major of the data directory until the in-place upgrade (execs.py)."""
        if not pod:
            return None  # set by the first call that has a pod
        major = self._env(pod, "PGVERSION")
        if not (major and str(major).isdigit()):
            found = re.search(r"/postgresql/(\d+)/bin", self._env(pod, "SPILO_CONFIGURATION") or "")
            major = found.group(1) if found else None
        return int(major) * 10000 if major and str(major).isdigit() else 150000

    def set_server_version(self, ns, pod, version):
        """What a finished in-place upgrade leaves: every member of ``pod``'s cluster runs ``version``."""
        st = self._state(ns, self._scope(pod), pod)
        with self.lock:
            st["server_version"] = int(version)
            st.setdefault("upgrades", []).append(int(version))

    def _bootstrap_config(self, pod):
        raw = self._env(pod, "SPILO_CONFIGURATION")
        cfg = {}
        if raw:
            try:
                import yaml

                cfg = (yaml.safe_load(raw) or {}).get("bootstrap", {}).get("dcs", {}) or {}
            except Exception:
                cfg = {}
        cfg = copy.deepcopy(cfg)
        cfg.setdefault("ttl", 30)
        cfg.setdefault("loop_wait", 10)
        cfg.setdefault("retry_timeout", 10)
        cfg.setdefault("maximum_lag_on_failover", 33554432)
        pg = cfg.setdefault("postgresql", {})
        pg.setdefault("parameters", {})
        pg.setdefault("use_pg_rewind", True)
        return cfg

    def _dcs_mode(self, pod):
        return "configmaps" if str(self._env(pod, "KUBERNETES_USE_CONFIGMAPS")).lower() == "true" else "endpoints"

    def _dcs_labels(self, pod):
        labels = {}
        raw = self._env(pod, "KUBERNETES_LABELS")
        if raw:
            try:
                labels = json.loads(raw)
            except ValueError:
                labels = {}
        if not labels:
            labels = {k: v for k, v in (pod["metadata"].get("labels") or {}).items()
                      if k in ("application", "cluster-name")}
        # Patroni adds its scope label (KUBERNETES_SCOPE_LABEL, default cluster-name) to the DCS objects
        labels[self._env(pod, "KUBERNETES_SCOPE_LABEL") or "cluster-name"] = self._scope(pod)
        return labels

    # -- what Patroni does to Kubernetes --------------------------------------------------------
    def member_started(self, ns, pod_name):
        pod = self.ctl._get("pods", ns, pod_name)
        if pod is None:
            return
        scope = self._scope(pod)
        self._state(ns, scope, pod)
        members = self._members(ns, scope)
        leader = [p for p in members if self._role(p) == "master" and self.ctl._ready(p)]
        role = "replica" if leader and leader[0]["metadata"]["name"] != pod_name else "master"
        if self._role(pod) != role:
            self._label(ns, pod_name, role)
        self._ensure_dcs(ns, scope, pod, role == "master" and pod_name or (leader[0]["metadata"]["name"] if leader else None))

    def elect(self, ns, labels):
        scope = labels.get("cluster-name")
        if not scope:
            return
        members = [p for p in self._members(ns, scope) if self.ctl._ready(p)]
        if not members or any(self._role(p) == "master" for p in members):
            return
        st = self._state(ns, scope, members[0])
        st["timeline"] += 1
        self._label(ns, members[0]["metadata"]["name"], "master")
        self._ensure_dcs(ns, scope, members[0], members[0]["metadata"]["name"])

    def _ensure_dcs(self, ns, scope, pod, leader):
        """Patroni's DCS objects: the leader lock and the dynamic configuration (annotation ``config``)."""
        labels = self._dcs_labels(pod)
        store, mode = self.ctl.store, self._dcs_mode(pod)
        kind = "configmaps" if mode == "configmaps" else "endpoints"
        leader_name = "%s-leader" % scope if mode == "configmaps" else scope
        config = json.dumps(self._state(ns, scope)["config"], sort_keys=True, separators=(",", ":"))
        for name, ann in ((leader_name, {"leader": leader or ""}), ("%s-config" % scope, {"config": config})):
            existing = self.ctl._get(kind, ns, name)
            body = {"apiVersion": "v1", "kind": "ConfigMap" if kind == "configmaps" else "Endpoints",
                    "metadata": {"name": name, "labels": labels, "annotations": ann}}
            if existing is None:
                store.create(self.ctl.t(kind), ns, body, manager="patroni")
            elif any((existing["metadata"].get("annotations") or {}).get(k) != v for k, v in ann.items()):
                store.patch(self.ctl.t(kind), ns, name, {"metadata": {"annotations": ann}},
                            "application/merge-patch+json", manager="patroni")
        self._publish_members(ns, scope)

    def _publish_members(self, ns, scope):
        """Each member's state in its pod's ``status`` annotation, as Patroni's Kubernetes DCS does."""
        st = self._state(ns, scope)
        for pod in self._members(ns, scope):
            if not self.ctl._ready(pod):
                continue
            name = pod["metadata"]["name"]
            role = self._role(pod)
            status = {"conn_url": "postgres://%s:5432/postgres" % (pod.get("status") or {}).get("podIP"),
                      "api_url": "http://%s:8008/patroni" % (pod.get("status") or {}).get("podIP"),
                      "state": "running", "role": "primary" if role == "master" else "replica",
                      "version": "4.1.5", "timeline": st["timeline"]}
            if name in st["pending"]:
                status["pending_restart"] = True
            text = json.dumps(status, sort_keys=True, separators=(",", ":"))
            if (pod["metadata"].get("annotations") or {}).get("status") != text:
                self.ctl.store.patch(self.ctl.t("pods"), ns, name, {"metadata": {"annotations": {"status": text}}},
                                     "application/merge-patch+json", manager="patroni")

    def dcs_recreate(self, ns, name):
        for suffix in ("-leader", "-config", ""):
            if suffix and not name.endswith(suffix):
                continue
            scope = name[: -len(suffix)] if suffix else name
            members = [p for p in self._members(ns, scope) if self.ctl._ready(p)]
            if members:
                leader = next((p["metadata"]["name"] for p in members if self._role(p) == "master"), None)
                self._ensure_dcs(ns, scope, members[0], leader)
                return

    # -- the REST API (through the pod proxy) ---------------------------------------------------
    def handle(self, method, ns, pod_name, port, path, body, base_url):
        """Return (status code, body) for a REST call to ``pod_name``'s Patroni."""
        self.requests.append({"method": method, "pod": pod_name, "path": path, "body": body})
        pod = self.ctl._get("pods", ns, pod_name)
        if pod is None or str(port) != "8008" or not self.ctl._ready(pod):
            return 503, {"message": "error trying to reach service: dial tcp: connection refused"}
        scope = self._scope(pod)
        st = self._state(ns, scope, pod)
        path = "/" + path.strip("/")
        members = [p for p in self._members(ns, scope) if self.ctl._ready(p)]
        me_role = self._role(pod)
        if method == "GET" and path in ("/", "/patroni", "/health", "/liveness", "/readiness"):
            return 200, self._member_status(pod, st)
        if method == "GET" and path in ("/primary", "/master", "/leader", "/read-write"):
            return (200 if me_role == "master" else 503), self._member_status(pod, st)
        if method == "GET" and path in ("/replica", "/read-only"):
            return (200 if me_role == "replica" else 503), self._member_status(pod, st)
        if method == "GET" and path == "/cluster":
            return 200, {"scope": scope, "members": [self._cluster_member(p, st, base_url) for p in members]}
        if method == "GET" and path == "/config":
            return 200, copy.deepcopy(st["config"])
        if method == "PATCH" and path == "/config":
            before = copy.deepcopy(st["config"])
            st["config"] = _merge(st["config"], body or {})
            old_p = (before.get("postgresql") or {}).get("parameters") or {}
            new_p = (st["config"].get("postgresql") or {}).get("parameters") or {}
            if any(old_p.get(k) != new_p.get(k) for k in set(old_p) | set(new_p) if k in _RESTART_ONLY):
                st["pending"] |= {p["metadata"]["name"] for p in members}
            leader = next((p["metadata"]["name"] for p in members if self._role(p) == "master"), None)
            self._ensure_dcs(ns, scope, pod, leader)
            return 200, copy.deepcopy(st["config"])
        if method == "POST" and path == "/restart":
            if (body or {}).get("restart_pending") and pod_name not in st["pending"]:
                return 503, "restart conditions are not satisfied"
            st["pending"].discard(pod_name)
            st["restarts"].append(pod_name)
            self._publish_members(ns, scope)
            return 200, "restarted successfully"
        if method == "POST" and path in ("/switchover", "/failover"):
            return self._switchover(ns, pod, st, members, body or {}, path == "/failover")
        return 404, {"message": "not found: %s %s" % (method, path)}

    def _member_status(self, pod, st):
        role = self._role(pod)
        name = pod["metadata"]["name"]
        out = {"state": "running", "role": "primary" if role == "master" else "replica",
               "server_version": st.get("server_version") or 150000, "timeline": st["timeline"],
               "patroni": {"version": "4.1.5", "scope": self._scope(pod), "name": name},
               "database_system_identifier": "7000000000000000000",
               "postmaster_start_time": "2026-01-01 00:00:00+00:00"}
        if role == "master":
            out["xlog"] = {"location": 100000}
        else:
            out["xlog"] = {"received_location": 100000, "replayed_location": 100000, "paused": False}
            out["replication_state"] = "streaming"
        if name in st["pending"]:
            out["pending_restart"] = True
            out["pending_restart_reason"] = {"max_connections": {"old_value": "?", "new_value": "?"}}
        return out

    def _cluster_member(self, pod, st, base_url):
        name = pod["metadata"]["name"]
        ns = pod["metadata"]["namespace"]
        role = self._role(pod)
        m = {"name": name, "role": "leader" if role == "master" else "replica",
             "state": "running" if role == "master" else "streaming",
             "api_url": "%s/api/v1/namespaces/%s/pods/%s:8008/proxy/patroni" % (base_url, ns, name),
             "host": (pod.get("status") or {}).get("podIP"), "port": 5432, "timeline": st["timeline"]}
        if role != "master":
            m["lag"] = 0
            m["receive_lag"] = 0
            m["replay_lag"] = 0
        if name in st["pending"]:
            m["pending_restart"] = True
        return m

    def _switchover(self, ns, pod, st, members, body, failover):
        leader = next((p for p in members if self._role(p) == "master"), None)
        want_leader = body.get("leader")
        candidate = body.get("candidate") or body.get("member")
        if leader is None and not failover:
            return 400, "Switchover could be performed only from a healthy cluster (no leader)"
        if want_leader and leader is not None and want_leader != leader["metadata"]["name"]:
            return 412, "leader name does not match"
        names = [p["metadata"]["name"] for p in members]
        if candidate and candidate not in names:
            return 412, "candidate name does not match with members"
        if leader is not None and candidate == leader["metadata"]["name"]:
            return 400, "Switchover target and source are the same"
        if not candidate:
            others = [n for n in names if leader is None or n != leader["metadata"]["name"]]
            if not others:
                return 412, "no good candidates have been found"
            candidate = others[0]
        if leader is not None:
            self._label(ns, leader["metadata"]["name"], "replica")
        self._label(ns, candidate, "master")
        st["timeline"] += 1
        st["switchovers"].append({"from": leader and leader["metadata"]["name"], "to": candidate})
        cand_pod = self.ctl._get("pods", ns, candidate)
        self._ensure_dcs(ns, self._scope(pod), cand_pod or pod, candidate)
        return 200, 'Successfully switched over to "%s"' % candidate


def _merge(base, patch):
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
