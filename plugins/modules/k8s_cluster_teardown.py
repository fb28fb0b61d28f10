#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_cluster_teardown
short_description: Delete the objects of a postgresql cluster in the Zalando teardown order
version_added: 0.1.0
description:
  - Deletes, in this order, what exists of the cluster (docs/design/reconcile.md of the collection) - the logical-backup
    CronJob; the StatefulSet with C(propagationPolicy=Orphan); each pod, waiting until it is gone; the
    data PVCs when O(delete_volumes); the credential secrets in O(secrets) when O(delete_secrets); the two
    PodDisruptionBudgets; the primary Endpoints and the services C(<name>) and C(<name>-repl); Patroni's DCS
    objects (the C(<name>-config) service and the ConfigMaps or Endpoints C(<name>-config), C(-leader),
    C(-sync), C(-failover)); the pooler Deployments, services and secrets of both roles.
  - Patroni's objects are deleted only after every pod is gone, because a running member re-creates them.
  - Only objects present in O(live) (read by the cluster-name label) are deleted; the shared pod
    ServiceAccount, RoleBinding and ClusterRole are never touched.
  - The delete protection (annotations C(delete_annotation_date_key)/C(delete_annotation_name_key)) is checked
    by the caller (C(playbooks/delete.yml)); this module deletes.
  - In check mode the deletes are sent with C(dryRun=All) and nothing is waited for.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - pgfleet.postgres.k8s_cluster
options:
  live:
    description: The cluster's live objects by kind, as RV(pgfleet.postgres.k8s_cluster_state#module:objects).
    type: dict
    required: true
    version_added: 0.1.0
  secrets:
    description: Names of the credential secrets of the cluster (in its namespace).
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  delete_volumes:
    description: Delete the data PVCs (the operator option C(enable_persistent_volume_claim_deletion)).
    type: bool
    default: true
    version_added: 0.1.0
  delete_secrets:
    description: Delete the credential secrets (the operator option C(enable_secrets_deletion)).
    type: bool
    default: true
    version_added: 0.1.0
  pooler_names:
    description: Names of the pooler Deployments/services of both roles; default C(<name>-pooler) and C(<name>-pooler-repl).
    type: list
    elements: str
    version_added: 0.1.0
  names:
    description:
      - Every object name of the cluster, as the model's C(names) (C(teardown_names.names) of M(pgfleet.postgres.k8s_cluster_state)) -
        C(statefulset), C(service_primary), C(service_replica), C(service_config), C(endpoints_primary), C(pdb_primary),
        C(pdb_critical_op), C(pooler), C(pooler_auth_secret), C(logical_backup_job), C(dcs), C(pvc_prefix). Missing keys
        take the default names.
    type: dict
    version_added: 0.1.0
  pdb_names:
    description:
      - Names of the cluster's PodDisruptionBudgets (the primary one after C(pdb_name_format), the critical-operation
        one), as C(teardown_names.pdbs) of M(pgfleet.postgres.k8s_cluster_state). Defaults to the default names.
    type: list
    elements: str
    version_added: 0.1.0
  backup_job:
    description: Name of the logical-backup CronJob.
    type: str
    version_added: 0.1.0
  pod_timeout:
    description: Seconds to wait for each deleted pod (and the StatefulSet) to be gone (C(pod_deletion_wait_timeout)).
    type: int
    default: 600
    version_added: 0.1.0
  interval:
    description: Seconds between two polls.
    type: float
    default: 1
    version_added: 0.1.0
notes:
  - Supports check mode (server-side dry run).
seealso:
  - module: pgfleet.postgres.k8s_cluster_state
"""

EXAMPLES = r"""
- name: Tear the cluster down
  pgfleet.postgres.k8s_cluster_teardown:
    name: acid-minimal-cluster
    namespace: default
    live: "{{ state.objects }}"
    secrets: "{{ cluster_model.secrets | map(attribute='name') | list }}"
    delete_volumes: "{{ state.config.enable_persistent_volume_claim_deletion }}"
  no_log: true
"""

RETURN = r"""
actions:
  description: Every delete in order, C({step, kind, name, action}).
  returned: always
  type: list
  elements: dict
deleted:
  description: The objects deleted, each C(<Kind> <name>), in order.
  returned: always
  type: list
  elements: str
requests:
  description: Number of API requests made.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.teardown import Teardown, plan


def main():
    spec = k8s_argument_spec(
        cluster=True,
        live=dict(type="dict", required=True),
        secrets=dict(type="list", elements="str", default=[], no_log=False),
        delete_volumes=dict(type="bool", default=True),
        delete_secrets=dict(type="bool", default=True),
        pooler_names=dict(type="list", elements="str"),
        backup_job=dict(type="str"),
        pdb_names=dict(type="list", elements="str"),
        names=dict(type="dict"),
        pod_timeout=dict(type="int", default=600),
        interval=dict(type="float", default=1),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    # a failure result carries the deletes done so far (Teardown.actions grows in place)
    with api_session(module, count_requests=True, failure={"actions": []}) as session:
        steps = plan(p["name"], p["live"], p["secrets"], p["delete_volumes"], p["delete_secrets"],
                     p["pooler_names"], p["backup_job"], p["pdb_names"], p["names"])
        teardown = Teardown(session.api, p["namespace"], p["pod_timeout"], p["interval"])
        session.failure["actions"] = teardown.actions
        actions = teardown.run(steps, p["live"])
    deleted = ["%s %s" % (a["kind"], a["name"]) for a in actions if a["action"] == "delete"]
    module.exit_json(changed=bool(deleted), actions=actions, deleted=deleted, requests=session.requests())


if __name__ == "__main__":
    main()
