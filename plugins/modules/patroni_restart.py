#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_restart
short_description: Rolling restart of a Patroni cluster, replicas first, the primary last through a switchover
version_added: 0.1.0
description:
  - Restarts the members that report C(pending_restart) (all members with O(force)), one at a time.
  - Replicas go first, by name. Each is restarted with C(POST /restart) on its own API, with a C(role)
    filter so Patroni refuses if the member became primary meanwhile, then awaited on its own
    C(GET /patroni) until it runs again with a new postmaster start time, streams, and is within
    O(max_lag) of the leader.
  - The primary goes last, and only after a switchover away from it (O(switchover)); Patroni restarts the
    demoted primary itself, so it is not restarted twice. With O(switchover=false), or in a one-member
    cluster, the primary is restarted in place (a short outage).
  - When every pending change is a decrease of C(max_connections), C(max_prepared_transactions),
    C(max_locks_per_transaction), C(max_worker_processes) or C(max_wal_senders), the primary is restarted
    first, in place, because a replica must not run with a lower value than its primary (O(order=auto)).
  - Before each member, every other member must be healthy. The module stops with a reason naming the
    member that is not (for example its API does not answer), and RV(members) says what was done.
    A member awaited that leaves the DCS (its Patroni stopped) stops the run at once, not after O(timeout).
  - A failure result carries what was done - C(changed) (true when a request changed something),
    RV(actions), RV(members), RV(restarted) and RV(started_at).
    A rerun finishes what is left, because members already restarted no longer report
    C(pending_restart); with O(force) pass RV(started_at) of the interrupted run as O(restarted_since).
  - With O(maintenance_windows), nothing is restarted outside a window (C(changed=false),
    RV(deferred=true), RV(next_window)).
  - In check mode the plan is computed from live state and returned; nothing is sent.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.patroni
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes
options:
  force:
    description:
      - Restart every member (or every member of O(members)), not only those with C(pending_restart).
    type: bool
    default: false
    version_added: 0.1.0
  members:
    description:
      - Restart only these members.
    type: list
    elements: str
    version_added: 0.1.0
  restarted_since:
    description:
      - With O(force), members whose PostgreSQL started at or after this time (ISO 8601) count as done.
        Pass RV(started_at) of an interrupted run to finish it without restarting members twice.
    type: str
    version_added: 0.1.0
  order:
    description:
      - V(auto) puts the primary first for decrease-only changes (see the description), else last.
      - V(replicas_first) and V(primary_first) force one order; with V(primary_first) the primary restarts in place.
    type: str
    choices: [auto, replicas_first, primary_first]
    default: auto
    version_added: 0.1.0
  switchover:
    description:
      - Move the leadership away from the primary instead of restarting it in place.
    type: bool
    default: true
    version_added: 0.1.0
  candidate:
    description:
      - The member to switch over to. Default is the best one (see M(pgfleet.postgres.patroni_switchover)).
    type: str
    version_added: 0.1.0
  max_lag:
    description:
      - Lag gate in bytes for a restarted replica before the next member, and for the switchover candidate.
        Default is the cluster's C(maximum_lag_on_failover). V(-1) turns it off.
    type: int
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for each member to come back (and for each step of the switchover).
    type: int
    default: 300
    version_added: 0.1.0
  candidate_timeout:
    description:
      - Seconds to keep re-checking when no switchover candidate qualifies yet.
    type: int
    default: 30
    version_added: 0.1.0
  maintenance_windows:
    description:
      - Maintenance windows (C(01:00-06:00), C(Sat:22:00-02:00), or dicts C({weekday, start, end})), UTC.
        Outside every window nothing is restarted. Empty means always.
    type: list
    elements: raw
    default: []
    version_added: 0.1.0
  now:
    description:
      - Current time for O(maintenance_windows) (ISO 8601). Defaults to the machine's clock.
    type: str
    version_added: 0.1.0
  expected_members:
    description:
      - The members the cluster should have. Patroni only knows the members whose Patroni runs (a member
        whose Patroni stopped leaves the DCS after C(ttl) seconds), so without this list a member that is
        gone is silently not part of the plan. Each expected member missing from the DCS is named in a
        warning and in RV(missing); the others are still restarted.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
seealso:
  - module: pgfleet.postgres.patroni_config
  - module: pgfleet.postgres.patroni_switchover
"""

EXAMPLES = r"""
- name: Restart what waits for a restart, primary last
  pgfleet.postgres.patroni_restart:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
  register: restart

- name: Restart everything, but only inside the Saturday window
  pgfleet.postgres.patroni_restart:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    force: true
    maintenance_windows: ["Sat:01:00-05:00"]

- name: Finish an interrupted forced restart without restarting members twice
  pgfleet.postgres.patroni_restart:
    api_url: http://10.0.0.5:8008
    api_username: patroni
    api_password: "{{ patroni_rest_password }}"
    force: true
    restarted_since: "{{ restart.started_at }}"
"""

RETURN = r"""
cluster:
  description: Patroni scope.
  returned: always
  type: str
started_at:
  description: When this run started (UTC); pass it as O(restarted_since) to finish a forced run.
  returned: always, also on failure
  type: str
  sample: "2026-11-21T08:43:40.380962+00:00"
leader_before:
  description: The leader at the start.
  returned: always
  type: str
leader:
  description: The leader at the end.
  returned: always
  type: str
plan:
  description: The computed plan, C(order), C(steps) (member, role, action C(restart) or C(switchover), reason) and C(skipped).
  returned: always
  type: dict
members:
  description:
    - Per-member progress, in plan order. C(status) is C(planned), C(restarting), C(switching over), C(done),
      C(skipped) or C(failed); C(done) entries carry the new C(postmaster_start_time) and the seconds taken.
  returned: always
  type: list
  elements: dict
  sample:
    - member: acid-minimal-cluster-1
      status: done
      how: restart
      seconds: 2.1
    - member: acid-minimal-cluster-0
      status: done
      how: switchover to acid-minimal-cluster-1
restarted:
  description: Members this run restarted (in place, or demoted and restarted by a switchover), in order.
  returned: always, also on failure
  type: list
  elements: str
  sample: [acid-minimal-cluster-1, acid-minimal-cluster-0]
events:
  description: The C(Restart) event for the Kubernetes reconcile (C(reason), C(type), C(message) naming the restarted
    members) when a member was restarted, else empty.
  returned: always
  type: list
  elements: dict
missing:
  description: Members of O(expected_members) that are not in the DCS (not restarted).
  returned: success
  type: list
  elements: str
actions:
  description:
    - The requests sent (or planned in check mode), in order, also on failure. C(status) is C(planned), C(sent)
      (no outcome known), C(done), C(refused) (Patroni said no; nothing changed) or C(failed).
  returned: always
  type: list
  elements: dict
pending_restart:
  description: Members that still report C(pending_restart) at the end.
  returned: when something was restarted
  type: list
  elements: str
deferred:
  description: True when nothing was done because O(now) is outside every maintenance window.
  returned: when that happened
  type: bool
next_window:
  description: Start of the next maintenance window (UTC).
  returned: when deferred
  type: str
msg:
  description: Why nothing was done.
  returned: when nothing was done
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.module import patroni_argument_spec, run_operation
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.operations import RollingRestart


def argument_spec():
    spec = patroni_argument_spec()
    spec.update(
        force=dict(type="bool", default=False),
        members=dict(type="list", elements="str"),
        restarted_since=dict(type="str"),
        order=dict(type="str", default="auto", choices=["auto", "replicas_first", "primary_first"]),
        switchover=dict(type="bool", default=True),
        candidate=dict(type="str"),
        max_lag=dict(type="int"),
        timeout=dict(type="int", default=300),
        candidate_timeout=dict(type="int", default=30),
        expected_members=dict(type="list", elements="str", default=[]),
        maintenance_windows=dict(type="list", elements="raw", default=[]),
        now=dict(type="str"),
    )
    return spec


def run(module, op):
    p = module.params
    return op.run(force=p["force"], members=p["members"], restarted_since=p["restarted_since"], order=p["order"],
                  switchover=p["switchover"], candidate=p["candidate"], max_lag=p["max_lag"], timeout=p["timeout"],
                  candidate_timeout=p["candidate_timeout"], windows=p["maintenance_windows"], now=p["now"],
                  expected_members=p["expected_members"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_operation(module, RollingRestart, run)


if __name__ == "__main__":
    main()
