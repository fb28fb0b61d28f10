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
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import status as k8s_status
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import Api, auth_argument_spec


def main():
    spec = auth_argument_spec()
    spec.update(
        manifest=dict(type="dict", required=True),
        status=dict(type="str", choices=list(k8s_status.STATUSES)),
        observed_generation=dict(type="int"),
        conditions=dict(type="list", elements="dict", default=[]),
        fields=dict(type="dict", default={}),
        events=dict(type="list", elements="dict", default=[]),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    for cond in p["conditions"]:
        if not cond.get("type") or str(cond.get("status")) not in ("True", "False", "Unknown"):
            module.fail_json(msg="conditions: each needs a type and a status of True, False or Unknown; got %r" % (cond,))
        cond["status"] = str(cond["status"])
    for ev in p["events"]:
        if not ev.get("reason") or (ev.get("type") or "Normal") not in ("Normal", "Warning"):
            module.fail_json(msg="events: each needs a reason and a type of Normal or Warning; got %r" % (ev,))
    api = None
    try:
        api = Api(p, dry_run=module.check_mode)
        result = k8s_status.write(api, p["manifest"], p["status"], p["conditions"], p["observed_generation"],
                                  p["fields"], p["events"])
    except PgfleetError as exc:
        out = exc.to_result()
        out["requests"] = api.log if api else []
        module.fail_json(**out)
    module.exit_json(requests=api.log, **result)


if __name__ == "__main__":
    main()
