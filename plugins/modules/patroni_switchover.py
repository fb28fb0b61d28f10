#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_switchover
short_description: Move the Patroni leader to another member, checked before and confirmed after
version_added: 0.1.0
description:
  - Switches the primary of a Patroni cluster over to a named O(candidate) or to the best member, that is a
    synchronous standby when C(synchronous_mode) is on, otherwise the streaming replica with the lowest
    lag. A member tagged C(nofailover) is never chosen.
  - Before anything is sent, the candidate is checked on its own REST API (it answers, runs or streams,
    is on the leader's timeline, its lag is under O(max_lag), it is a sync standby when required). A
    refusal names every reason and leaves the cluster untouched. Problems that can clear up (lag, a
    sync standby not yet assigned, a member still starting) are re-checked with back-off for up to
    O(candidate_timeout) seconds.
  - C(POST /switchover) is sent to the leader's own API (read fresh from the DCS just before). The new
    primary is then confirmed on the candidate's own C(GET /patroni), and with O(wait_streaming) the
    old primary is awaited until it streams from the new one. Waiting is polling with O(timeout), never
    a fixed sleep.
  - Idempotent. When O(candidate) already leads, or O(leader) no longer leads, nothing is done
    (C(changed=false)). A one-member cluster never switches over (a warning, C(changed=false)).
  - O(scheduled_at), or O(maintenance_windows) when O(now) is outside every window, schedule the
    switchover through Patroni instead (the same schedule again is C(changed=false)).
  - O(mode=failover) is for a cluster without a leader; it promotes O(candidate) with C(POST /failover).
  - In check mode, all reads and checks run and the planned action is returned; nothing is sent.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.patroni
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes
options:
  candidate:
    description:
      - Member to promote. Without it the best member is chosen (see the description).
      - Required with O(mode=failover).
    type: str
    version_added: 0.1.0
  leader:
    description:
      - Member to move the leadership away from. When it is no longer the leader, nothing is done.
        Without it, the current leader is used.
    type: str
    version_added: 0.1.0
  mode:
    description:
      - V(switchover) moves the leadership of a healthy cluster.
      - V(failover) promotes O(candidate) in a cluster that has no running leader (an emergency; the lag
        is measured against the most advanced member). It is refused while a leader runs.
    type: str
    choices: [switchover, failover]
    default: switchover
    version_added: 0.1.0
  max_lag:
    description:
      - The lag gate, in bytes of WAL the candidate may be behind the leader (the larger of received and
        replayed lag). Defaults to the cluster's C(maximum_lag_on_failover) (1 MiB when unset).
      - V(-1) turns the gate off (Patroni still applies its own limit in O(mode=switchover)).
    type: int
    version_added: 0.1.0
  scheduled_at:
    description:
      - Schedule the switchover at this time instead of now (ISO 8601 with a timezone, for example
        C(2030-01-31T02:00:00+00:00)). Only O(candidate)'s existence and tags are checked then; Patroni
        picks a member at that time when no candidate is named.
    type: str
    version_added: 0.1.0
  maintenance_windows:
    description:
      - Maintenance windows, as in the manifest (C(01:00-06:00), C(Sat:22:00-02:00)) or as dicts
        C({weekday, start, end}) (weekday 0-6, Monday=0, or null for every day). A window whose end is
        not after its start crosses midnight. Times are UTC.
      - Outside every window the switchover is scheduled at the next window start. Empty means always.
    type: list
    elements: raw
    default: []
    version_added: 0.1.0
  now:
    description:
      - The current time for O(maintenance_windows) (ISO 8601; UTC when no timezone). Defaults to the
        clock of the machine that runs the module.
    type: str
    version_added: 0.1.0
  wait_streaming:
    description:
      - After the new primary is confirmed, also wait until the old primary streams from it again.
    type: bool
    default: true
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for the new primary, and again for the old primary to stream.
    type: int
    default: 60
    version_added: 0.1.0
  candidate_timeout:
    description:
      - Seconds to keep re-checking when no member qualifies yet for a reason that can clear up (lag, no
        sync standby yet, a member not running). V(0) refuses at once.
    type: int
    default: 10
    version_added: 0.1.0
seealso:
  - module: pgfleet.postgres.patroni_cluster_info
  - module: pgfleet.postgres.patroni_restart
"""

EXAMPLES = r"""
- name: Switch over to the best replica
  pgfleet.postgres.patroni_switchover:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"

- name: Make member -1 the leader (nothing happens when it already is)
  pgfleet.postgres.patroni_switchover:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    candidate: acid-minimal-cluster-1
    max_lag: 16777216

- name: Move the leader off member -0 inside the maintenance window only
  pgfleet.postgres.patroni_switchover:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    leader: acid-minimal-cluster-0
    maintenance_windows: ["Sat:01:00-05:00"]

- name: Emergency - promote a member of a cluster that lost its leader
  pgfleet.postgres.patroni_switchover:
    api_url: http://10.0.0.6:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    mode: failover
    candidate: acid-minimal-cluster-1
    max_lag: -1
"""

RETURN = r"""
cluster:
  description: Patroni scope.
  returned: always
  type: str
leader_before:
  description: The leader when the module started.
  returned: always
  type: str
  sample: acid-minimal-cluster-0
leader:
  description: The leader when the module ended (the planned one in check mode; unchanged when scheduled).
  returned: always
  type: str
  sample: acid-minimal-cluster-1
candidate:
  description: The member chosen or named (null when Patroni picks one at a scheduled time).
  returned: always
  type: str
scheduled_at:
  description: When the switchover is scheduled (UTC), or null for an immediate one.
  returned: always
  type: str
timeline:
  description: The new primary's timeline.
  returned: when a switchover or failover was done
  type: int
answer:
  description: Patroni's answer to the request.
  returned: when a request was sent
  type: str
  sample: Successfully switched over to "acid-minimal-cluster-1"
actions:
  description:
    - What was done (C(status=done) or C(scheduled)) or, in check mode, what would be done (C(status=planned)),
      with the seconds until the new primary was confirmed and until the old one streamed again.
  returned: always
  type: list
  elements: dict
  sample:
    - action: switchover
      from: acid-minimal-cluster-0
      to: acid-minimal-cluster-1
      lag: 0
      status: done
      seconds_to_primary: 3.1
      seconds_to_streaming: 6.2
deferred_to_window:
  description: True when the switchover was scheduled because O(now) is outside every maintenance window.
  returned: when that happened
  type: bool
msg:
  description: Why nothing was done.
  returned: when nothing was done
  type: str
candidates:
  description: On a refusal, every member's reasons (in the failure result).
  returned: on failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.module import patroni_argument_spec, run_operation
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.operations import Switchover


def argument_spec():
    spec = patroni_argument_spec()
    spec.update(
        candidate=dict(type="str"),
        leader=dict(type="str"),
        mode=dict(type="str", default="switchover", choices=["switchover", "failover"]),
        max_lag=dict(type="int"),
        scheduled_at=dict(type="str"),
        maintenance_windows=dict(type="list", elements="raw", default=[]),
        now=dict(type="str"),
        wait_streaming=dict(type="bool", default=True),
        timeout=dict(type="int", default=60),
        candidate_timeout=dict(type="int", default=10),
    )
    return spec


def run(module, op):
    p = module.params
    return op.run(candidate=p["candidate"], leader=p["leader"], mode=p["mode"], max_lag=p["max_lag"],
                  scheduled_at=p["scheduled_at"], wait_streaming=p["wait_streaming"], timeout=p["timeout"],
                  candidate_timeout=p["candidate_timeout"], windows=p["maintenance_windows"], now=p["now"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("mode", "failover", ("candidate",))])
    run_operation(module, Switchover, run)


if __name__ == "__main__":
    main()
