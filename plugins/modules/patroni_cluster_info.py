#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_cluster_info
short_description: Read the state of a Patroni cluster from its REST API
version_added: 0.1.0
description:
  - Reads the member list from C(GET /cluster) on O(api_url) (or any member it knows), then asks every
    member's own C(GET /patroni) for its live role, state, timeline, WAL position, pending restart and
    postmaster start time, and reads the dynamic configuration from C(GET /config).
  - Lag is measured against the leader's current WAL position from the members' own answers, because
    C(GET /cluster) is served from the DCS and can be C(loop_wait) seconds old. A member whose API does
    not answer is reported with C(reachable=false) and its last DCS state.
  - Never changes anything; runs the same in check mode.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.patroni
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes
options:
  member_details:
    description:
      - Ask every member's own C(GET /patroni). With V(false) only the DCS view from C(GET /cluster) is
        returned (faster, possibly stale).
    type: bool
    default: true
    version_added: 0.1.0
  include_config:
    description:
      - Also read the dynamic configuration (C(GET /config)).
    type: bool
    default: true
    version_added: 0.1.0
seealso:
  - module: pgfleet.postgres.patroni_switchover
  - module: pgfleet.postgres.patroni_restart
  - module: pgfleet.postgres.patroni_config
"""

EXAMPLES = r"""
- name: Read the cluster
  pgfleet.postgres.patroni_cluster_info:
    api_url: http://10.0.0.5:8008
  register: patroni

- name: Show who leads and who waits for a restart
  ansible.builtin.debug:
    msg: "leader {{ patroni.leader }}, pending restart on {{ patroni.pending_restart | join(', ') }}"

- name: Fail when a member lags more than 16 MiB
  ansible.builtin.assert:
    that: patroni.members | selectattr('lag', 'gt', 16777216) | list | length == 0
"""

RETURN = r"""
scope:
  description: Patroni scope (cluster name).
  returned: always
  type: str
  sample: acid-minimal-cluster
leader:
  description: Name of the member that is primary (live answer first, DCS leader key otherwise); null without one.
  returned: always
  type: str
  sample: acid-minimal-cluster-0
members:
  description: One entry per member, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Member name.
      type: str
    role:
      description: C(leader), C(replica), C(sync_standby), C(quorum_standby) or C(standby_leader).
      type: str
    state:
      description: C(running), C(streaming), C(in archive recovery), C(restarting), C(stopped), ...
      type: str
    api_url:
      description: The member's own REST API base URL as it registered it in the DCS.
      type: str
    host:
      description: PostgreSQL host of the member.
      type: str
    port:
      description: PostgreSQL port of the member.
      type: int
    timeline:
      description: PostgreSQL timeline.
      type: int
    lag:
      description: Bytes of WAL the member has not received yet (null when unknown).
      type: int
    replay_lag:
      description: Bytes of WAL the member has not replayed yet (null when unknown).
      type: int
    pending_restart:
      description: Whether a changed parameter waits for a restart.
      type: bool
    pending_restart_reason:
      description: The parameters waiting for a restart, with old and new values.
      type: dict
    scheduled_restart:
      description: A restart scheduled through Patroni, if any.
      type: dict
    postmaster_start_time:
      description: When PostgreSQL last started on the member.
      type: str
    tags:
      description: The member's Patroni tags (C(nofailover), C(noloadbalance), ...).
      type: dict
    nofailover:
      description: Whether the member may never become primary.
      type: bool
    reachable:
      description: Whether the member's own API answered (null when it was not asked).
      type: bool
  sample:
    - name: acid-minimal-cluster-0
      role: leader
      state: running
      lag: 0
      replay_lag: 0
      timeline: 2
      pending_restart: false
      reachable: true
sync_standbys:
  description: Names of the synchronous standbys.
  returned: always
  type: list
  elements: str
synchronous_mode:
  description: The C(synchronous_mode) of the dynamic configuration (true, false or quorum).
  returned: always
  type: raw
timeline:
  description: The leader's timeline.
  returned: always
  type: int
paused:
  description: Whether the cluster is in maintenance mode (C(pause)).
  returned: always
  type: bool
pending_restart:
  description: Names of the members with a pending restart.
  returned: always
  type: list
  elements: str
scheduled_switchover:
  description: A scheduled switchover (C(at), C(from), C(to)), or null.
  returned: always
  type: dict
scheduled_restarts:
  description: Scheduled restarts per member.
  returned: always
  type: dict
config:
  description: The dynamic configuration (C(GET /config)); empty when O(include_config=false).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.ansible_glue import run_module
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.module import client_from_module, patroni_argument_spec


def argument_spec():
    spec = patroni_argument_spec()
    spec.update(
        member_details=dict(type="bool", default=True),
        include_config=dict(type="bool", default=True),
    )
    return spec


def run(module):
    client = client_from_module(module)
    state = client.read_state(details=module.params["member_details"],
                              with_config=module.params["include_config"])
    result = state.to_dict()
    result["changed"] = False
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, run)


if __name__ == "__main__":
    main()
