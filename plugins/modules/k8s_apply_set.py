#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_apply_set
short_description: Apply the rendered objects of a postgresql cluster, writing only what differs
version_added: 0.1.0
description:
  - Compares every rendered object with the live one the caller already read (see
    M(pgfleet.postgres.k8s_cluster_state)) and writes only objects that are absent, whose rendering changed
    (annotation C(pgfleet.io/applied-checksum)), or whose rendered fields were changed by someone else.
    Fields the API server fills in (defaults, allocated IPs, canonical quantities, status) never count,
    so a second run with the same input makes no request at all.
  - Writes are server-side apply with field manager O(field_manager), so fields that are no longer
    rendered are removed and fields other managers own are left alone.
  - For the Spilo StatefulSet, pods that must be recreated (their pod-template checksum
    C(pgfleet.io/pod-checksum) differs, they carry C(zalando-postgres-operator-rolling-update-required),
    or an adopted pod runs another image) are flagged with that annotation first; PVCs smaller than the
    manifest's volume are grown; changes Kubernetes refuses in place (selector, serviceName,
    podManagementPolicy, volumeClaimTemplates) are done by deleting the StatefulSet with
    C(propagationPolicy=Orphan) and creating it again, pods keep running; annotation-only changes of the
    pod template are patched onto the running pods without a restart.
  - The pods themselves are not recreated here; see M(pgfleet.postgres.k8s_cluster_pods) (O(pgfleet.postgres.k8s_cluster_pods#module:state=recreated)).
  - In check mode every write is sent with C(dryRun=All), so the API server validates it and nothing changes.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  objects:
    description:
      - The rendered objects, in apply order (C(cluster_render.objects), registered by role C(pgfleet.postgres.cluster)).
      - They may hold credential secrets; use C(no_log) on the task.
      - One of O(objects) and O(objects_from) is required.
    type: list
    elements: dict
    version_added: 0.1.0
  objects_from:
    description:
      - Names of variables (a dotted path into one, such as C(cluster_render.objects)) whose lists of objects are applied
        in this order, instead of O(objects). Read by the action plugin from the task's variables as they are, not
        templated again - on ansible-core 2.18 a template of a list of a thousand secrets is printed and parsed back,
        which costs about a second and tens of MB for each mention.
      - A name that is not defined, or whose value is not a list of mappings, fails the task before anything is
        written.
    type: list
    elements: str
    version_added: 0.2.0
  live_from:
    description:
      - The variable (a dotted path, such as C(state.objects)) that holds O(live), read as it is like O(objects_from).
    type: str
    version_added: 0.2.0
  skip_kinds:
    description:
      - Kinds left out of the objects (the reconcile run by the operator leaves out the C(ClusterRole), which its RBAC
        may bind but not change).
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  live:
    description:
      - Live objects by kind, as RV(pgfleet.postgres.k8s_cluster_state#module:objects). For a kind listed here an
        object that is missing is absent; objects of other kinds are read by name.
      - C(Pod) and C(PersistentVolumeClaim) entries are needed for the rollout flags and the volume resize.
    type: dict
    default: {}
    version_added: 0.1.0
  prune:
    description:
      - Objects to delete when they exist, each C({apiVersion, kind, name, namespace, reason?, propagation?})
        (for example the pooler of a cluster whose pooler was disabled).
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  field_manager:
    description:
      - Field manager for server-side apply.
    type: str
    default: pgfleet
    version_added: 0.1.0
  force_conflicts:
    description:
      - Take over fields another field manager set (C(force=true)). Without it such a conflict fails the task.
    type: bool
    default: true
    version_added: 0.1.0
  lazy_spilo_upgrade:
    description:
      - The operator option C(enable_lazy_spilo_upgrade). An image change then updates the StatefulSet only,
        pods pick it up when they are recreated for another reason.
    type: bool
    default: false
    version_added: 0.1.0
  storage_resize_mode:
    description:
      - The operator option C(storage_resize_mode). V(pvc) and V(mixed) grow the PVCs, V(off) only warns,
        V(ebs) is treated like V(pvc) with a warning (no cloud API calls).
    type: str
    default: pvc
    choices: [pvc, "off", ebs, mixed]
    version_added: 0.1.0
  flag_pods:
    description:
      - Flag the pods that must be recreated. V(false) only reports them in RV(rolling_pods).
    type: bool
    default: true
    version_added: 0.1.0
  adopt_from:
    description:
      - Field managers of the operator pgfleet replaces. An existing object pgfleet never applied whose fields such a
        manager wrote by update (the Zalando operator's C(postgres-operator)) is taken over before the first apply -
        those fields move to pgfleet's apply entry (one JSON patch of C(managedFields), guarded by the resourceVersion),
        so the apply keeps what pgfleet renders and removes the rest instead of leaving both (for example a
        PodDisruptionBudget with both C(maxUnavailable) and C(minAvailable), which the API server refuses).
      - The action lists what differed. An empty list turns the takeover off.
    type: list
    elements: str
    default: [postgres-operator]
    version_added: 0.1.0
  create_only:
    description:
      - Kinds that are created when missing and never updated (the operator's RBAC may create them but not change
        them; the pod RoleBinding is shared by every cluster of a namespace).
    type: list
    elements: str
    default: [RoleBinding]
    version_added: 0.1.0
  replace_timeout:
    description:
      - Seconds to wait for an orphan-deleted StatefulSet to be gone before it is created again.
    type: int
    default: 60
    version_added: 0.1.0
notes:
  - Supports check mode (server-side dry run).
seealso:
  - module: pgfleet.postgres.k8s_cluster_state
  - module: pgfleet.postgres.k8s_cluster_pods
"""

EXAMPLES = r"""
- name: Apply what differs
  pgfleet.postgres.k8s_apply_set:
    objects: "{{ cluster_render.objects }}"
    live: "{{ state.objects }}"
    lazy_spilo_upgrade: "{{ cluster_model.config.enable_lazy_spilo_upgrade }}"
  register: applied
  no_log: true

- name: The same for a cluster with thousands of users, its objects read where they are
  pgfleet.postgres.k8s_apply_set:
    objects_from: [cluster_render.objects, pooler_objects]
    live_from: state.objects
    skip_kinds: [ClusterRole]
  register: applied
  no_log: true

- name: Show what was done (no secrets in here)
  ansible.builtin.debug:
    msg: "{{ applied.actions | rejectattr('action', 'equalto', 'none') | list }}"
"""

RETURN = r"""
actions:
  description:
    - One entry per object, C({kind, name, namespace, action, reasons}); C(action) is C(none), C(create),
      C(apply), C(replace), C(delete), C(resize) (a PVC), C(flag) or C(annotate) (a pod).
  returned: always
  type: list
  elements: dict
rolling_pods:
  description: Pods that must be recreated, with the reason (pod name to reason).
  returned: always
  type: dict
writes:
  description: Number of write requests sent.
  returned: always
  type: int
requests:
  description: Every API request (method, path, status).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.ansible_glue import warn_all
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.adopt import PREVIOUS_MANAGERS
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.apply import ApplySet
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec


def argument_spec():
    return k8s_argument_spec(
        objects=dict(type="list", elements="dict"),
        objects_from=dict(type="list", elements="str"),
        live=dict(type="dict", default={}),
        live_from=dict(type="str"),
        skip_kinds=dict(type="list", elements="str", default=[]),
        prune=dict(type="list", elements="dict", default=[]),
        field_manager=dict(type="str", default="pgfleet"),
        force_conflicts=dict(type="bool", default=True),
        lazy_spilo_upgrade=dict(type="bool", default=False),
        storage_resize_mode=dict(type="str", default="pvc", choices=["pvc", "off", "ebs", "mixed"]),
        flag_pods=dict(type="bool", default=True),
        replace_timeout=dict(type="int", default=60),
        create_only=dict(type="list", elements="str", default=["RoleBinding"]),
        adopt_from=dict(type="list", elements="str", default=list(PREVIOUS_MANAGERS)),
    )


#: What AnsibleModule checks besides the spec (also for the action plugin, which runs run() in process).
CONSTRAINTS = dict(required_one_of=[("objects", "objects_from")], mutually_exclusive=[("objects", "objects_from"),
                                                                                      ("live", "live_from")])


def run(module):
    """The module's body (also run in the task's worker by the action plugin of the same name)."""
    p = module.params
    if p["objects_from"] is not None or p["live_from"] is not None:
        # the action plugin puts the values in objects and live; only a module run without it gets here
        module.fail_json(msg="objects_from and live_from are read by the action plugin pgfleet.postgres.k8s_apply_set; "
                         "this task ran the module without it: pass objects and live instead")
    skip = set(p["skip_kinds"])
    objects = [obj for obj in p["objects"] if obj.get("kind") not in skip] if skip else p["objects"]
    with api_session(module) as session:
        applier = ApplySet(session.api, field_manager=p["field_manager"], force=p["force_conflicts"],
                           lazy_image=p["lazy_spilo_upgrade"], resize_mode=p["storage_resize_mode"],
                           flag_pods=p["flag_pods"], replace_timeout=p["replace_timeout"],
                           create_only=p["create_only"], adopt_from=p["adopt_from"])
        result = applier.run(objects, p["live"], p["prune"])
    warn_all(module, result.pop("warnings"))
    return dict(result, writes=len(session.api.writes()), requests=session.requests())


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
