#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_cluster_status
short_description: Set the status of a postgresql object and record Kubernetes Events for it
version_added: 0.1.0
description:
  - Computes the new C(status) of a C(postgresql) object from the current one (in O(manifest)) -
    C(PostgresClusterStatus) (the Zalando values), C(observedGeneration), C(conditions) (Kubernetes
    convention, C(lastTransitionTime) changes only when a condition's status changes) and any extra
    O(fields).
  - Writes it through the C(status) subresource (JSON merge patch) only when it differs, so an unchanged
    reconcile writes nothing. A status stored as a bare string (older objects) is converted.
  - Creates one core/v1 Event on the object per entry of O(events) (switchovers, restarts, failures).
  - With O(outcome) (the end of a reconcile) or O(failure) (a failed step) the module decides the status itself -
    the phase, C(observedGeneration), the conditions (C(Valid), C(Ready), C(PodsUpToDate), C(PatroniConfigured),
    C(DatabasesSynced)), C(managedSlots) and the warning events; the playbook only passes what happened.
  - Messages written into the object have their Jinja delimiters broken apart (C({ {)), since the object comes
    back to the operator's playbooks as variables.
  - In check mode the writes are sent with C(dryRun=All).
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  manifest:
    description: The C(postgresql) object as last read (name, namespace, uid and current status are taken from it).
    type: dict
    required: true
    version_added: 0.1.0
  status:
    description: The new C(PostgresClusterStatus). Omit to keep it.
    type: str
    choices: [Creating, Updating, Running, CreateFailed, UpdateFailed, SyncFailed, Invalid, ""]
    version_added: 0.1.0
  observed_generation:
    description: The C(metadata.generation) the reconcile acted on.
    type: int
    version_added: 0.1.0
  conditions:
    description: Conditions to set, each C({type, status, reason, message}); others are kept.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  fields:
    description: Other keys of C(status) to set (a null value removes the key).
    type: dict
    default: {}
    version_added: 0.1.0
  phase:
    description:
      - The reconcile's phase (RV(pgfleet.postgres.k8s_cluster_state#module:phase)) for O(outcome) and O(failure).
        With O(failure) and no phase it is taken from the status (the read itself failed).
    type: str
    choices: [Creating, Updating, Sync]
    version_added: 0.1.0
  outcome:
    description:
      - What the reconcile found and did; the module computes the status from it. Keys (all optional) -
        C(ready), C(ready_reasons), C(pods), C(leader), C(pending) (pods still to recreate), C(patroni_error) and
        C(sql_error) (null when that step did not run, empty when it succeeded), C(managed_slots) (from
        M(pgfleet.postgres.patroni_config), null when it did not run), C(patroni) (the read's Patroni view).
      - Cannot be combined with O(status), O(observed_generation), O(conditions), O(fields) or O(failure).
    type: dict
    version_added: 0.1.0
  failure:
    description:
      - A failed step's message - the status becomes C(CreateFailed), C(UpdateFailed) or C(SyncFailed) (by O(phase)),
        condition C(Ready) carries the message, and a Warning event is recorded when the status changes.
    type: str
    version_added: 0.1.0
  events:
    description: Events to record, each C({reason, message, type}) with C(type) V(Normal) (default) or V(Warning).
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
notes:
  - Supports check mode (server-side dry run).
"""

EXAMPLES = r"""
- name: Report a healthy cluster
  pgfleet.postgres.k8s_cluster_status:
    manifest: "{{ _acid_zalan_do_postgresql }}"
    status: Running
    observed_generation: "{{ _acid_zalan_do_postgresql.metadata.generation }}"
    conditions:
      - {type: Ready, status: "True", reason: ClusterReady, message: "2 of 2 pods ready"}

- name: Record a switchover
  pgfleet.postgres.k8s_cluster_status:
    manifest: "{{ _acid_zalan_do_postgresql }}"
    events:
      - {reason: Switchover, message: "switched over from acid-test-0 to acid-test-1 for a rolling update"}
"""

RETURN = r"""
status:
  description: The status after the call.
  returned: always
  type: dict
previous:
  description: The status before the call.
  returned: always
  type: dict
events:
  description: The events recorded, C({reason, type, message}).
  returned: always
  type: list
  elements: dict
requests:
  description: The API requests made (method, path, status).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import status as k8s_status
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec


def argument_spec():
    return k8s_argument_spec(
        manifest=dict(type="dict", required=True),
        status=dict(type="str", choices=list(k8s_status.STATUSES)),
        observed_generation=dict(type="int"),
        conditions=dict(type="list", elements="dict", default=[]),
        fields=dict(type="dict", default={}),
        events=dict(type="list", elements="dict", default=[]),
        phase=dict(type="str", choices=["Creating", "Updating", "Sync"]),
        outcome=dict(type="dict"),
        failure=dict(type="str"),
    )


#: What AnsibleModule checks besides the spec (also for the action plugin, which runs run() in process).
CONSTRAINTS = dict(mutually_exclusive=[("outcome", "failure", "status"), ("outcome", "failure", "conditions"),
                                       ("outcome", "failure", "fields"), ("outcome", "failure", "observed_generation")])


def run(module):
    """The module's body (also run in the task's worker by the action plugin of the same name)."""
    p = module.params
    decided = None
    if p["outcome"] is not None:
        decided = k8s_status.reconcile_outcome(p["manifest"], p["phase"], p["outcome"])
    elif p["failure"] is not None:
        decided = k8s_status.failure_outcome(p["manifest"], p["phase"], p["failure"])
    if decided is not None:
        p["status"], p["observed_generation"] = decided["status"], decided["observed_generation"]
        p["conditions"], p["fields"] = decided["conditions"], decided["fields"]
        p["events"] = list(p["events"]) + decided["events"]
    for cond in p["conditions"]:
        if not cond.get("type") or str(cond.get("status")) not in ("True", "False", "Unknown"):
            module.fail_json(msg="conditions: each needs a type and a status of True, False or Unknown; got %r" % (cond,))
        cond["status"] = str(cond["status"])
    for ev in p["events"]:
        if not ev.get("reason") or (ev.get("type") or "Normal") not in ("Normal", "Warning"):
            module.fail_json(msg="events: each needs a reason and a type of Normal or Warning; got %r" % (ev,))
    with api_session(module) as session:
        result = k8s_status.write(session.api, p["manifest"], p["status"], p["conditions"], p["observed_generation"],
                                  p["fields"], p["events"])
    module.exit_json(requests=session.requests(), **result)


def main():
    run(AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS))


if __name__ == "__main__":
    main()
