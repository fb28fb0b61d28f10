#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_major_upgrade
short_description: In-place major version upgrade of a Spilo cluster on Kubernetes, through exec in the primary pod
version_added: 0.1.0
description:
  - Decides whether the cluster O(name) should be upgraded to a new PostgreSQL major, and if so runs Spilo's
    in-place upgrade script (C(/scripts/inplace_upgrade.py <number of pods>)) in the C(postgres) container of
    the primary pod through the Kubernetes API's C(pods/exec) (WebSocket), as C(postgres) (through C(su) when
    the container runs as root), with its output also written to C(last_upgrade.log) in the pod.
  - The running major is the primary's Patroni C(server_version); the requested one is
    C(spec.postgresql.version) of the postgresql object, which with O(config) C(major_version_upgrade_mode=full)
    is raised to C(target_major_version) when it is below C(minimal_major_version).
  - "The gates (docs/design/upgrade.md): the mode is not C(off) (or the team is in
    C(major_version_upgrade_team_allow_list)); the cluster is not a standby; no C(last-major-upgrade-failure)
    annotation; inside O(maintenance_windows); a downgrade is never done. Then what only the live cluster says:
    exactly one pod labelled O(role_label)=C(master), its C(PGVERSION) is already the new major (the rolling
    update came first), every member is running and every replica streams with a lag of at most 16 MiB."
  - During the upgrade every pod is labelled C(critical-operation=true). The postgresql object is then annotated
    C(last-major-upgrade-success) or C(last-major-upgrade-failure) (C(YYYY-MM-DDTHH:MM:SSZ), merge patch). A
    failure is not retried; setting C(spec.postgresql.version) back to the running major removes the failure
    annotation.
  - In check mode only the decision is made (and a failure annotation that would be removed is removed with
    C(dryRun=All)).
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - pgfleet.postgres.k8s_patroni_access
  - pgfleet.postgres.k8s_cluster
options:
  name:
    # the rest of O(name) and all of O(namespace) come from pgfleet.postgres.k8s_cluster
    description: Cluster name (the postgresql object; pods are C(<name>-<ordinal>)).
  config:
    description:
      - The operator configuration, typed (as M(pgfleet.postgres.k8s_cluster_state) returns it in C(config)).
        Read are C(major_version_upgrade_mode), C(major_version_upgrade_team_allow_list),
        C(minimal_major_version), C(target_major_version), and C(cluster_name_label) for the default O(selector).
    type: dict
    default: {}
    version_added: 0.1.0
  manifest:
    description: The postgresql object. Read from the API when not given.
    type: dict
    version_added: 0.1.0
  selector:
    description: Label selector of the cluster's pods. Defaults to C(<cluster_name_label>=<name>).
    type: str
    version_added: 0.1.0
  role_label:
    description: The pod role label Spilo sets (the operator option C(pod_role_label)).
    type: str
    default: spilo-role
    version_added: 0.1.0
  maintenance_windows:
    description:
      - Maintenance windows (C(01:00-06:00), C(Sat:22:00-02:00), or dicts C({weekday, start, end})), UTC. Outside
        every window no upgrade starts. Empty means always.
    type: list
    elements: raw
    default: []
    version_added: 0.1.0
  now:
    description: Current time for O(maintenance_windows) and the annotation (ISO 8601). Defaults to the machine's clock.
    type: str
    version_added: 0.1.0
  current_major:
    description: The running major. When not given, the primary's Patroni API (C(GET /patroni), C(server_version)) is asked.
    type: str
    version_added: 0.1.0
  timeout:
    description:
      - Seconds the upgrade script may run. When it has not ended by then, the upgrade counts as failed (it may
        still run in the pod; see C(last_upgrade.log) there).
    type: int
    default: 3600
    version_added: 0.1.0
notes:
  - Supports check mode.
  - The exec needs the RBAC verb C(create) on C(pods/exec) (and C(get), which the WebSocket upgrade uses).
seealso:
  - module: pgfleet.postgres.postgresql_major_upgrade
  - module: pgfleet.postgres.k8s_cluster_pods
"""

EXAMPLES = r"""
- name: Upgrade acid-minimal-cluster when its manifest asks for a new major
  pgfleet.postgres.k8s_major_upgrade:
    name: acid-minimal-cluster
    namespace: default
    config:
      major_version_upgrade_mode: manual
  register: upgrade

- name: Only the decision
  pgfleet.postgres.k8s_major_upgrade:
    name: acid-minimal-cluster
    namespace: default
    config:
      major_version_upgrade_mode: full
      minimal_major_version: "14"
      target_major_version: "18"
  check_mode: true
"""

RETURN = r"""
action:
  description:
    - V(upgrade) (every gate open; in check mode it would run), V(none) (nothing to do) or V(blocked) (something to
      do, but a gate is closed - RV(reasons) says which).
  returned: always
  type: str
due:
  description: Whether the upgrade was due (every gate open).
  returned: always
  type: bool
from:
  description: The running major.
  returned: when it is known
  type: int
to:
  description: The major the cluster should run.
  returned: when the running major is known
  type: int
reasons:
  description: Why nothing was done, or what was done to the marks.
  returned: always
  type: list
  elements: str
primary:
  description: The primary pod's name.
  returned: always
  type: str
pods:
  description: Number of pods of the cluster (the script's argument).
  returned: always
  type: int
command:
  description: The command run (or that would run in check mode) in the primary's C(postgres) container.
  returned: always
  type: list
  elements: str
result:
  description: V(success) or V(failure) of the upgrade.
  returned: when the upgrade ran
  type: str
exit_code:
  description: The script's exit code; null when unknown (the exec broke or timed out).
  returned: always
  type: int
output:
  description: The last 64 KiB of the script's output.
  returned: always
  type: str
truncated:
  description: Whether more output came than RV(output) holds.
  returned: always
  type: bool
marks:
  description: The C(last-major-upgrade-success) / C(last-major-upgrade-failure) annotations found.
  returned: always
  type: dict
annotations:
  description: The annotations written (a null value was removed).
  returned: always
  type: dict
events:
  description: The events the caller should post (C({reason, type, message})).
  returned: always
  type: list
  elements: dict
requests:
  description: Number of API requests made.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import exec as kexec
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import (
    patroni_access,
    patroni_access_argument_spec,
    patroni_api_url,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import PatroniClient
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.state import parse_now
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade.k8s import K8sUpgrade


def argument_spec():
    return k8s_argument_spec(
        cluster=True,
        config=dict(type="dict", default={}),
        manifest=dict(type="dict"),
        selector=dict(type="str"),
        role_label=dict(type="str", default="spilo-role"),
        maintenance_windows=dict(type="list", elements="raw", default=[]),
        now=dict(type="str"),
        current_major=dict(type="str"),
        timeout=dict(type="int", default=3600),
        **patroni_access_argument_spec()
    )


def run(module):
    """The module's body (also run in the task's worker by the action plugin of the same name)."""
    p = module.params
    config = p["config"] or {}
    selector = p["selector"] or "%s=%s" % (config.get("cluster_name_label") or "cluster-name", p["name"])
    access = patroni_access(p)
    with api_session(module, count_requests=True) as session:
        api = session.api

        def api_url_of(pod):
            summary = {"name": pod["metadata"]["name"], "ip": (pod.get("status") or {}).get("podIP")}
            return patroni_api_url(p["namespace"], summary, access)

        def run_exec(namespace, pod, command, container, timeout):
            return kexec.exec_in_pod(api, namespace, pod, command, container=container, timeout=timeout)

        upgrade = K8sUpgrade(api, p["name"], p["namespace"], config, selector, role_label=p["role_label"],
                             windows=p["maintenance_windows"], now=parse_now(p["now"]),
                             patroni=lambda url: PatroniClient(url, retries=1), api_url_of=api_url_of,
                             run_exec=run_exec, timeout=p["timeout"], check_mode=module.check_mode)
        try:
            result = upgrade.run(cr=p["manifest"], current=p["current_major"] or None)
        except ValueError as exc:  # a version or mode the gates cannot read
            session.failure["events"] = upgrade.events
            module.fail_json(msg=str(exc), requests=session.requests(), events=upgrade.events)
        result["requests"] = session.requests()
        if result.get("result") == "failure":
            # the failure is recorded on the object and reported; the task itself does not fail, so the
            # reconcile goes on writing its status and events
            module.warn(result["msg"])
        module.exit_json(**result)


def main():
    run(AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True))


if __name__ == "__main__":
    main()
