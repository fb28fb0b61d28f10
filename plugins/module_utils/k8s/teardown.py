# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Tear down the objects of one postgresql cluster in the Zalando order
(docs/design/reconcile.md, section 6).

Order: logical-backup CronJob -> StatefulSet (``propagationPolicy: Orphan``) -> each pod, waiting
until it is gone -> PVCs (``enable_persistent_volume_claim_deletion``) -> credential secrets
(``enable_secrets_deletion``) -> PDBs -> primary Endpoints and the services -> Patroni's DCS objects
(``<c>-config`` service, ConfigMaps or Endpoints ``<c>-config/-leader/-sync/-failover``) -> pooler
objects of both roles. Patroni's objects go only after the pods: while a member runs it would
re-create them and block a new cluster of the same name.

Only objects listed by the cluster-name label are candidates, and of those only the names this
cluster owns; the shared pod ServiceAccount, RoleBinding and ClusterRole stay. The protection
check (delete annotations) is the caller's: this module deletes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError


def _names(live, kind):
    return dict((o["metadata"]["name"], o) for o in (live or {}).get(kind) or [])


def default_names(name):
    """The names of a cluster under the default operator options (callers pass the model's ``names``)."""
    return {"statefulset": name, "service_primary": name, "service_replica": "%s-repl" % name,
            "service_config": "%s-config" % name, "endpoints_primary": name,
            "pdb_primary": "postgres-%s-pdb" % name, "pdb_critical_op": "postgres-%s-critical-op-pdb" % name,
            "pooler": {"master": "%s-pooler" % name, "replica": "%s-pooler-repl" % name},
            "pooler_auth_secret": {"master": "%s-pooler-u" % name, "replica": "%s-pooler-repl-u" % name},
            "dcs": ["%s-%s" % (name, suffix) for suffix in ("config", "leader", "sync", "failover")],
            "pvc_prefix": "pgdata-%s-" % name}


def plan(name, live, secret_names=(), delete_pvcs=True, delete_secrets=True, pooler_names=None,
         backup_job=None, pdb_names=None, names=None):
    """[(step, apiVersion, kind, object name)] in teardown order, only for objects that exist.

    Every object name comes from ``names`` (the model's ``names``, rendered with the same operator
    options as the objects: a custom ``pdb_name_format`` leaves no PDB behind); ``pooler_names``,
    ``backup_job`` and ``pdb_names`` override single entries.
    """
    n = default_names(name)
    n.update(names or {})
    pooler_names = pooler_names or sorted(n["pooler"].values())
    pdb_names = pdb_names or [n["pdb_primary"], n["pdb_critical_op"]]
    backup_job = backup_job or n.get("logical_backup_job")
    auth_secrets = dict((n["pooler"][role], n["pooler_auth_secret"][role]) for role in n["pooler"])
    steps = []

    def add(step, api_version, kind, obj_name):
        if obj_name in _names(live, kind):
            steps.append((step, api_version, kind, obj_name))

    for obj_name, obj in sorted(_names(live, "CronJob").items()):
        labels = obj["metadata"].get("labels") or {}
        if obj_name == backup_job or labels.get("application") == "spilo-logical-backup":
            add("logical backup", "batch/v1", "CronJob", obj_name)
    add("statefulset", "apps/v1", "StatefulSet", n["statefulset"])
    for pod_name in sorted(_names(live, "Pod")):
        base, _sep, idx = pod_name.rpartition("-")
        if base == n["statefulset"] and idx.isdigit():
            add("pods", "v1", "Pod", pod_name)
    if delete_pvcs:
        for pvc_name in sorted(_names(live, "PersistentVolumeClaim")):
            if pvc_name.startswith(n["pvc_prefix"]) and pvc_name[len(n["pvc_prefix"]):].isdigit():
                add("volumes", "v1", "PersistentVolumeClaim", pvc_name)
    if delete_secrets:
        for secret in sorted(secret_names):
            add("secrets", "v1", "Secret", secret)
    for pdb in pdb_names:
        add("pdbs", "policy/v1", "PodDisruptionBudget", pdb)
    add("services", "v1", "Endpoints", n["endpoints_primary"])
    add("services", "v1", "Service", n["service_primary"])
    add("services", "v1", "Service", n["service_replica"])
    add("patroni", "v1", "Service", n["service_config"])
    for dcs in n["dcs"]:
        add("patroni", "v1", "ConfigMap", dcs)
        add("patroni", "v1", "Endpoints", dcs)
    for pooler in pooler_names:
        add("pooler", "apps/v1", "Deployment", pooler)
        add("pooler", "v1", "Service", pooler)
        add("pooler", "v1", "Secret", auth_secrets.get(pooler) or "%s-u" % pooler)
    return steps


class Teardown(object):
    def __init__(self, api, namespace, pod_timeout=600, interval=1.0, sleep=time.sleep, monotonic=time.monotonic):
        self.api = api
        self.namespace = namespace
        self.pod_timeout = pod_timeout
        self.interval = interval
        self.sleep = sleep
        self.monotonic = monotonic
        self.actions = []

    def _gone(self, api_version, kind, name, uid):
        cur = self.api.get(api_version, kind, name, self.namespace)
        return cur is None or (uid and cur["metadata"].get("uid") != uid)

    def run(self, steps, live):
        uids = {}
        for kind, items in (live or {}).items():
            for obj in items or []:
                uids[(kind, obj["metadata"]["name"])] = obj["metadata"].get("uid")
        for step, api_version, kind, name in steps:
            uid = uids.get((kind, name))
            propagation = "Orphan" if kind == "StatefulSet" else "Background"
            answer = self.api.delete(api_version, kind, name, self.namespace, propagation=propagation, uid=uid)
            self.actions.append({"step": step, "kind": kind, "name": name,
                                 "action": "delete" if answer is not None else "already gone"})
            if self.api.dry_run or answer is None:
                continue
            if kind in ("StatefulSet", "Pod"):
                # the pods go one by one and must be gone before Patroni's objects
                deadline = self.monotonic() + self.pod_timeout
                while not self._gone(api_version, kind, name, uid):
                    if self.monotonic() > deadline:
                        raise KubernetesError("%s %s/%s is still there %ss after its deletion; the teardown "
                                              "stops before the Patroni objects and is retried"
                                              % (kind, self.namespace, name, self.pod_timeout),
                                              actions=self.actions)
                    self.sleep(self.interval)
        return self.actions
