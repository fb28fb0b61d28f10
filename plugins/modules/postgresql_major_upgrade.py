#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgresql_major_upgrade
short_description: In-place major version upgrade of a local Patroni cluster (pg_upgrade), with gates and pre-checks
version_added: 0.1.0
description:
  - Upgrades a cluster of the local target (made by M(pgfleet.postgres.local_cluster)) from the major it
    runs to O(version) in place, with C(pg_upgrade). The steps are - pause Patroni, stop the replicas and
    then the leader, C(initdb) and C(pg_upgrade --link) on the leader, point every member at the new
    binaries, start the leader, rebuild each replica from it, regenerate missing statistics. See
    docs/upgrade.md.
  - B(Gates) (nothing happens, RV(gate) says why) - O(mode=off) unless O(team) is in O(team_allow_list);
    outside O(maintenance_windows); an earlier failure recorded in the state file (not retried until
    O(version) is set back to the running major, which clears it); a downgrade is never done. With
    O(mode=full) a O(version) below O(minimal_major_version) means O(target_major_version).
  - B(Pre-checks) (refused with every reason, nothing touched) - every replica streaming with lag at most
    O(max_replica_lag_bytes); no transaction open longer than O(max_transaction_seconds); enough free disk
    for O(method); every extension installed in any database exists in the new major; C(pg_upgrade --check)
    passes against the running leader.
  - A failure before the new major starts (the point of no return) puts the old files back and starts the
    old major again; the failure, its reason and the steps are recorded in the state file under C(upgrade).
  - B(Check mode) runs the gates and the pre-checks only and returns what would happen.
author:
  - pgfleet maintainers (@pgfleet)
options:
  name:
    description: The cluster name (its state dir is C(<state_root>/<name>)).
    type: str
    required: true
  version:
    description: The major to run, as in C(spec.postgresql.version) of the manifest (for example C("18")).
    type: str
    required: true
  state_root:
    description: The home of the local clusters.
    type: path
    default: /var/lib/pgfleet/clusters
  state_dir:
    description: The cluster's state dir, when not C(<state_root>/<name>); it must lie inside O(state_root).
    type: path
  os_user:
    description: The OS user that runs PostgreSQL (when the module runs as root).
    type: str
    default: postgres
  mode:
    description: C(major_version_upgrade_mode) of the operator configuration.
    type: str
    choices: ["off", "manual", "full"]
    default: manual
  team:
    description: The cluster's team (C(spec.teamId)), matched against O(team_allow_list) when O(mode=off).
    type: str
  team_allow_list:
    description: C(major_version_upgrade_team_allow_list) - teams upgraded even when O(mode=off).
    type: list
    elements: str
    default: []
  minimal_major_version:
    description: With O(mode=full), a O(version) below this one is raised to O(target_major_version).
    type: str
  target_major_version:
    description: See O(minimal_major_version).
    type: str
  maintenance_windows:
    description: Windows (C("Sat:01:00-05:00") or C("01:00-05:00"), UTC) the upgrade may start in; none means always.
    type: list
    elements: str
    default: []
  method:
    description:
      - C(link) hard-links the data files (fast, needs little disk; the old cluster is unusable once the
        new one started). C(copy) copies them (needs as much free disk as the data).
    type: str
    choices: [link, copy]
    default: link
  max_replica_lag_bytes:
    description: The largest replica lag accepted by the pre-check.
    type: int
    default: 16777216
  max_transaction_seconds:
    description: A transaction open longer than this refuses the upgrade.
    type: int
    default: 60
  keep_old_data:
    description: Keep the old data directories (C(data.<old>.old)) after a successful upgrade.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the new leader and for the rebuilt replicas.
    type: float
    default: 300
notes:
  - Supports check mode (the gates and the pre-checks only).
  - Only for clusters of the local target; on Kubernetes the reconcile of the operator runs the upgrade.
"""

EXAMPLES = r"""
- name: What would an upgrade of acid-minimal-cluster to 18 do?
  pgfleet.postgres.postgresql_major_upgrade:
    name: acid-minimal-cluster
    version: "18"
  check_mode: true
  register: plan

- name: Upgrade it on Saturday night only
  pgfleet.postgres.postgresql_major_upgrade:
    name: acid-minimal-cluster
    version: "18"
    maintenance_windows: ["Sat:01:00-05:00"]
"""

RETURN = r"""
gate:
  description: The gate decision - C(action) (C(upgrade), C(none), C(blocked)), C(from), C(to), C(reasons).
  type: dict
  returned: always
checks:
  description: Each pre-check with C(check), C(ok) and C(reason).
  type: list
  elements: dict
  returned: when the gates let the upgrade through
refused:
  description: The reasons of the failed pre-checks.
  type: list
  elements: str
  returned: when the gates let the upgrade through
steps:
  description: The steps that ran (or would run in check mode), with C(step), C(detail) and C(seconds).
  type: list
  elements: raw
  returned: when the gates let the upgrade through
write_downtime_seconds:
  description: Seconds from the old leader's stop to the new leader accepting writes.
  type: float
  returned: after an upgrade
rolled_back:
  description: On a failure, whether the old major runs again.
  type: bool
  returned: on failure
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade.local import LocalUpgrade


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        version=dict(type="str", required=True),
        state_root=dict(type="path", default=lc.DEFAULT_STATE_ROOT),
        state_dir=dict(type="path"),
        os_user=dict(type="str", default=lc.DEFAULT_OS_USER),
        mode=dict(type="str", choices=["off", "manual", "full"], default="manual"),
        team=dict(type="str"),
        team_allow_list=dict(type="list", elements="str", default=[]),
        minimal_major_version=dict(type="str"),
        target_major_version=dict(type="str"),
        maintenance_windows=dict(type="list", elements="str", default=[]),
        method=dict(type="str", choices=["link", "copy"], default="link"),
        max_replica_lag_bytes=dict(type="int", default=16777216),
        max_transaction_seconds=dict(type="int", default=60),
        keep_old_data=dict(type="bool", default=False),
        timeout=dict(type="float", default=300),
    )


def run(module):
    p = module.params
    cluster = lc.LocalCluster(p["name"], state_dir=p["state_dir"], state_root=p["state_root"], os_user=p["os_user"])
    state = cluster.load_state()
    if not state:
        module.fail_json(msg="name: no local cluster %s in %s; create it with playbooks/local.yml first"
                         % (p["name"], cluster.state_dir))
    marks = state.get("upgrade") or {}
    try:
        gate = gates.decide(state.get("pg_version"), p["version"], mode=p["mode"], team=p["team"],
                            allow_list=p["team_allow_list"], minimal=p["minimal_major_version"],
                            target=p["target_major_version"], windows=p["maintenance_windows"],
                            now=datetime.datetime.now(datetime.timezone.utc), marks=marks)
    except ValueError as err:
        module.fail_json(msg=str(err))
    result = {"changed": False, "gate": gate, "state_dir": cluster.state_dir}
    if gate["clear_failure"]:
        result["changed"] = True
        if not module.check_mode:
            state["upgrade"] = dict((k, v) for k, v in marks.items() if k not in (gates.FAILURE_KEY, "reason"))
            cluster.save_state(state)
    if gate["action"] != "upgrade":
        result["msg"] = "; ".join(gate["reasons"]) or "PostgreSQL %s runs already: nothing to do" % gate["from"]
        module.exit_json(**result)
    up = LocalUpgrade(cluster, str(gate["to"]), method=p["method"], max_lag=p["max_replica_lag_bytes"],
                      max_seconds=p["max_transaction_seconds"], keep_old=p["keep_old_data"], timeout=p["timeout"])
    if module.check_mode:
        plan = up.plan(state)
        result.update(changed=plan["ok"], checks=plan["checks"], refused=plan["refused"],
                      steps=[{"step": s, "detail": "", "seconds": None} for s in plan["steps"]])
        result["msg"] = ("would upgrade %s from %s to %s" % (p["name"], plan["from"], plan["to"]) if plan["ok"]
                         else "would refuse: " + "; ".join(plan["refused"]))
        module.exit_json(**result)
    out = up.run()
    result.update(changed=True, checks=out["checks"], refused=[], steps=out["steps"],
                  write_downtime_seconds=out["write_downtime_seconds"], warnings=out["warnings"],
                  msg="upgraded %s from %s to %s (write downtime %.1f s)" % (
                      p["name"], out["from"], out["to"], out["write_downtime_seconds"]))
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        run(module)
    except PgfleetError as err:
        context = dict(err.context)
        plan = context.pop("plan", None) or {}
        context.setdefault("refused", plan.get("refused", []))
        context.setdefault("checks", plan.get("checks", []))
        module.fail_json(msg=err.msg, **context)


if __name__ == "__main__":
    main()
