#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_config
short_description: Converge the dynamic configuration of a Patroni cluster
version_added: 0.1.0
description:
  - Reads C(GET /config), computes the difference to O(config) and sends it as one C(PATCH /config)
    (merge semantics - keys not given stay as they are, V(null) removes a key). Nothing is sent when
    nothing differs; values are compared the way PostgreSQL reads them (C(128MB) equals C(131072kB),
    C(on) equals V(true)).
  - Validates before sending, because Patroni accepts nonsense and silently replaces or clamps it
    later. Refused with every problem listed, before any request that changes something - unknown
    keys, wrong types, C(ttl) below 20, C(loop_wait) below 1, C(retry_timeout) below 3, C(loop_wait +
    2 x retry_timeout > ttl), booleans, integers, units and ranges of the PostgreSQL parameters of
    the major version the cluster runs (tables from pg_settings for 15 and 18; for others the name
    and a one-line value only), the
    minimums Patroni enforces (for example C(max_connections >= 25)), parameters Patroni manages itself
    (C(listen_addresses), C(port), C(primary_conninfo), ...), read-only parameters, and the shape of
    C(slots) and C(pg_hba). A name that major version does not know is passed on with a warning
    (PostgreSQL and Patroni ignore unknown names).
  - Slots - every slot in C(slots) in O(config) is set; a slot listed in O(managed_slots) (the slots an
    earlier run put there, see RV(managed_slots)) that is no longer in C(slots) in O(config) is removed;
    slots that Patroni or people created are left alone.
  - Reports which parameters need a restart (RV(restart_parameters)) and, after waiting for Patroni to
    notice, which members now report C(pending_restart) (RV(pending_restart)). Restart them with
    M(pgfleet.postgres.patroni_restart). Reload-only parameters are live on every member at once.
  - Supports check mode (nothing is sent) and diff mode (the configuration before and after).
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.patroni
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes.diff
options:
  config:
    description:
      - The desired dynamic configuration, the way Patroni stores it, for example C(ttl), C(loop_wait),
        C(retry_timeout), C(maximum_lag_on_failover), C(synchronous_mode), C(synchronous_mode_strict),
        C(synchronous_node_count), C(failsafe_mode), C(postgresql.parameters), C(postgresql.pg_hba),
        C(postgresql.use_pg_rewind), C(slots), C(standby_cluster).
      - Only the keys given are converged. V(null) removes a key (or a parameter, or a slot).
    type: dict
    required: true
    version_added: 0.1.0
  managed_slots:
    description:
      - Names of the slots this collection set before (RV(managed_slots) of the previous run). Those
        missing from C(slots) in O(config) are removed; all other slots are left alone.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  validate:
    description:
      - Validate O(config) before sending it. Turn off only to push something the checks do not know.
    type: bool
    default: true
    version_added: 0.1.0
  invalid:
    description:
      - What to do when part of O(config) is invalid (see the validation above).
      - V(fail) refuses the whole configuration and sends nothing.
      - V(skip) leaves out exactly the refused parts (one parameter, one slot, one C(postgresql) key, else
        the top-level key), sends the rest, and reports what was left out in RV(rejected) and RV(error)
        (also as a warning). The task then succeeds - the way Patroni itself would keep running without
        those values.
    type: str
    choices: [fail, skip]
    default: fail
    version_added: 0.1.0
  wait:
    description:
      - After a change to a restart-only parameter, wait until every member reports it as pending restart
        (up to O(timeout) seconds), so RV(pending_restart) is complete.
    type: bool
    default: true
    version_added: 0.1.0
  timeout:
    description:
      - Seconds for O(wait).
    type: int
    default: 30
    version_added: 0.1.0
seealso:
  - module: pgfleet.postgres.patroni_restart
  - module: pgfleet.postgres.patroni_cluster_info
"""

EXAMPLES = r"""
- name: Tune parameters and timeouts
  pgfleet.postgres.patroni_config:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    config:
      ttl: 30
      loop_wait: 10
      retry_timeout: 10
      maximum_lag_on_failover: 33554432
      postgresql:
        parameters:
          work_mem: 16MB
          max_connections: 200
          log_statement: null      # back to the default
  register: patroni_conf

- name: Restart the members that need it, primary last
  pgfleet.postgres.patroni_restart:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
  when: patroni_conf.pending_restart | length > 0

- name: Slots from the manifest; remember which ones we manage
  pgfleet.postgres.patroni_config:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    config:
      slots:
        cdc:
          type: logical
          database: app
          plugin: pgoutput
    managed_slots: "{{ previous_managed_slots | default([]) }}"
  register: slots_result
"""

RETURN = r"""
patch:
  description: The body of C(PATCH /config) that was sent (or would be, in check mode); empty when nothing differs.
  returned: always
  type: dict
  sample: {"postgresql": {"parameters": {"work_mem": "16MB"}}}
changes:
  description: One entry per changed key, C(path), C(before), C(after).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "postgresql.parameters.work_mem", "before": "4MB", "after": "16MB"}]
config:
  description: The dynamic configuration after the change (Patroni's answer to the PATCH).
  returned: always
  type: dict
restart_parameters:
  description: Changed parameters that take effect only after a restart.
  returned: always
  type: list
  elements: str
  sample: [max_connections]
pending_restart:
  description: Members reporting C(pending_restart) at the end (a string in check mode, where it is unknown).
  returned: always
  type: raw
  sample: [acid-minimal-cluster-0, acid-minimal-cluster-1]
managed_slots:
  description: The slot names this run manages; pass them as O(managed_slots) next time.
  returned: always
  type: list
  elements: str
rejected:
  description: With O(invalid=skip), the parts of O(config) that were left out, one entry per problem - C(field),
    C(problem), C(fix).
  returned: always
  type: list
  elements: dict
  sample: [{"field": "config.postgresql.parameters.work_mem", "problem": "'lots' is not a number with an optional unit",
    "fix": "write a plain value, e.g. 4MB (no comments or extra words)"}]
error:
  description: One sentence naming every part left out with O(invalid=skip); empty when everything was sent.
  returned: always
  type: str
events:
  description: The C(PatroniConfig) event for the Kubernetes reconcile (C(reason), C(type), C(message) naming the
    changed paths) when something changed, else empty.
  returned: always
  type: list
  elements: dict
actions:
  description: The requests sent (or planned in check mode).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.module import patroni_argument_spec, run_operation
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.operations import ConfigSync


def argument_spec():
    spec = patroni_argument_spec()
    spec.update(
        config=dict(type="dict", required=True),
        managed_slots=dict(type="list", elements="str", default=[]),
        validate=dict(type="bool", default=True),
        invalid=dict(type="str", default="fail", choices=["fail", "skip"]),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )
    return spec


def run(module, op):
    p = module.params
    result = op.run(p["config"], managed_slots=p["managed_slots"], validate=p["validate"], wait=p["wait"],
                    timeout=p["timeout"], invalid=p["invalid"])
    if result["error"]:
        op.warnings.append(result["error"])
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_operation(module, ConfigSync, run)


if __name__ == "__main__":
    main()
