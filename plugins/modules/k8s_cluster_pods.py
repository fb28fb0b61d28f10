#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_cluster_pods
short_description: Wait for the Spilo pods of a postgresql cluster, or recreate some of them one by one
version_added: 0.1.0
description:
  - With O(state=ready), polls the cluster's pods until O(instances) pods are Running and Ready, each
    labelled with O(role_label) (C(master) or C(replica)), and exactly one is C(master). On timeout it
    does not fail (unless O(fail_on_timeout)); it returns RV(ready)=false and the reasons, so that a
    reconcile can requeue instead of blocking. More than one C(master) always fails.
  - With O(state=recreated), deletes the pods in O(pods) one at a time; after each delete it waits until
    the pod is gone and a new pod of the same name is Ready and labelled, before the next one. The
    caller orders the pods (replicas first, the old primary last after a switchover). A timeout fails
    with the pod and its last state; pods not reached keep their rolling-update flag.
  - In check mode O(state=recreated) sends the deletes with C(dryRun=All) and does not wait.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - pgfleet.postgres.k8s_patroni_access
  - pgfleet.postgres.k8s_cluster
options:
  name:
    # the rest of O(name) and all of O(namespace) come from pgfleet.postgres.k8s_cluster
    description: Cluster name (the StatefulSet; pods are C(<name>-<ordinal>)).
  selector:
    description: Label selector of the cluster's pods, for example C(cluster-name=acid-test).
    type: str
    required: true
    version_added: 0.1.0
  role_label:
    description: The pod role label Spilo sets (the operator option C(pod_role_label)).
    type: str
    default: spilo-role
    version_added: 0.1.0
  state:
    description: V(ready) waits for readiness; V(recreated) recreates O(pods).
    type: str
    default: ready
    choices: [ready, recreated]
    version_added: 0.1.0
  instances:
    description: Number of pods expected (O(state=ready)).
    type: int
    default: 1
    version_added: 0.1.0
  pods:
    description: Pod names to recreate, in this order (O(state=recreated)).
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  timeout:
    description:
      - O(state=ready) - seconds to wait in total.
      - O(state=recreated) - seconds to wait for each new pod (the operator option C(pod_label_wait_timeout)).
    type: int
    default: 60
    version_added: 0.1.0
  delete_timeout:
    description: Seconds to wait for a deleted pod to be gone (the operator option C(pod_deletion_wait_timeout)). Defaults to O(timeout).
    type: int
    version_added: 0.1.0
  interval:
    description: Seconds between two polls.
    type: float
    default: 2
    version_added: 0.1.0
  fail_on_timeout:
    description: Fail instead of returning RV(ready)=false when O(state=ready) times out.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - Supports check mode.
seealso:
  - module: pgfleet.postgres.k8s_apply_set
  - module: pgfleet.postgres.patroni_switchover
"""

EXAMPLES = r"""
- name: Wait up to a minute for the pods and the leader
  pgfleet.postgres.k8s_cluster_pods:
    name: acid-minimal-cluster
    namespace: default
    selector: cluster-name=acid-minimal-cluster
    instances: 2
    timeout: 60
  register: pods

- name: Recreate the flagged replicas, one by one
  pgfleet.postgres.k8s_cluster_pods:
    name: acid-minimal-cluster
    namespace: default
    selector: cluster-name=acid-minimal-cluster
    state: recreated
    pods: [acid-minimal-cluster-1]
    timeout: 600
"""

RETURN = r"""
ready:
  description: Whether every pod is ready and labelled with exactly one leader (O(state=ready)).
  returned: always
  type: bool
reasons:
  description: Why the cluster is not ready.
  returned: always
  type: list
  elements: str
leader:
  description: The leader pod C({name, role, phase, ready, ip, uid, api_url}), or null; C(api_url) is its Patroni REST API.
  returned: always
  type: dict
pods:
  description: Every pod of the cluster at the end, C({name, role, phase, ready, ip, uid, terminating}).
  returned: always
  type: list
  elements: dict
recreated:
  description: Per recreated pod C({name, old_uid, new_uid, role, was_role, seconds}).
  returned: when O(state=recreated)
  type: list
  elements: dict
requests:
  description: Number of API requests made.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.pods import Pods
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import (
    patroni_access,
    patroni_access_argument_spec,
    with_api_url,
)


def argument_spec():
    return k8s_argument_spec(
        cluster=True,
        selector=dict(type="str", required=True),
        role_label=dict(type="str", default="spilo-role"),
        state=dict(type="str", default="ready", choices=["ready", "recreated"]),
        instances=dict(type="int", default=1),
        pods=dict(type="list", elements="str", default=[]),
        timeout=dict(type="int", default=60),
        delete_timeout=dict(type="int"),
        interval=dict(type="float", default=2),
        fail_on_timeout=dict(type="bool", default=False),
        **patroni_access_argument_spec()
    )


def run(module):
    """The module's body (also run in the task's worker by the action plugin of the same name)."""
    p = module.params
    with api_session(module, count_requests=True) as session:
        pods = Pods(session.api, p["name"], p["namespace"], p["selector"], p["role_label"], p["interval"])
        if p["state"] == "ready":
            result = pods.wait_ready(p["instances"], p["timeout"])
            result["leader"] = with_api_url(result["leader"], p["namespace"], patroni_access(p))
            if not result["ready"] and p["fail_on_timeout"]:
                module.fail_json(msg="the pods of %s/%s are not ready after %ss: %s" % (
                    p["namespace"], p["name"], p["timeout"], "; ".join(result["reasons"])),
                    requests=session.requests(), **result)
            module.exit_json(changed=False, requests=session.requests(), **result)
        done, error = pods.recreate(p["pods"], p["timeout"], p["delete_timeout"], dry_run=module.check_mode)
        final = pods.read()
        ready, reasons, leader = pods.check(final, len(final)) if final else (False, ["no pods"], None)
        leader = with_api_url(leader, p["namespace"], patroni_access(p))
        result = dict(changed=bool(done), recreated=done, pods=final, leader=leader, ready=ready,
                      reasons=reasons, requests=session.requests())
        if error:
            module.fail_json(msg=error + "; the remaining pods keep their rolling-update flag and the next "
                             "reconcile continues", **result)
        module.exit_json(**result)


def main():
    run(AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True))


if __name__ == "__main__":
    main()
