#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_cluster_state
short_description: Read everything a reconcile of one postgresql cluster needs, in one task
version_added: 0.1.0
description:
  - Reads the operator configuration (the Zalando C(postgres-operator) ConfigMap, or O(operator_config)),
    the C(postgresql) manifest (O(manifest), or read from the API by O(name) and O(namespace)), checks the
    manifest by building the pgfleet manifest model, and then lists every object of the cluster by its
    cluster-name label (StatefulSet, pods, PVCs, services, endpoints, secrets, configmaps, PDBs, CronJobs,
    Deployments) plus the pod ServiceAccount, RoleBinding and ClusterRole and the pod-environment sources.
  - An invalid manifest is reported in RV(invalid) (not as a failure) and nothing else is read.
  - Any failed read fails the task. A failed read is never taken for an empty answer, so nothing is ever
    rendered or deleted from partial data. Only a 404 for an object read by name means it is absent.
  - Never writes anything. The result holds the credential secrets, so use C(no_log) on the task.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - pgfleet.postgres.k8s_patroni_access
options:
  name:
    description:
      - Name of the C(postgresql) object. Required when O(manifest) is not given.
    type: str
    version_added: 0.1.0
  namespace:
    description:
      - Namespace of the C(postgresql) object. Required when O(manifest) is not given.
    type: str
    version_added: 0.1.0
  manifest:
    description:
      - The whole C(postgresql) object (apiVersion, kind, metadata, spec) when the caller has it already,
        as ansible-operator does (C(_acid_zalan_do_postgresql)). It is not read again.
    type: dict
    version_added: 0.1.0
  operator_config:
    description:
      - The operator configuration as a dict (a ConfigMap's C(data), typed values, or a whole ConfigMap).
        When given, no ConfigMap is read.
    type: raw
    version_added: 0.1.0
  operator_configmap:
    description:
      - The operator ConfigMap, C(name) (in O(operator_namespace)) or C(namespace/name), as the Zalando
        operator's C(CONFIG_MAP_NAME). Empty means the built-in defaults.
    type: str
    version_added: 0.1.0
  operator_configuration:
    description:
      - The C(OperatorConfiguration) object (C(acid.zalan.do/v1)) holding the operator configuration, C(name) (in
        O(operator_namespace)) or C(namespace/name), as the Zalando operator's C(POSTGRES_OPERATOR_CONFIGURATION_OBJECT).
        When set it is read instead of O(operator_configmap); both forms give the same configuration.
    type: str
    version_added: 0.1.0
  operator_namespace:
    description:
      - Namespace of O(operator_configmap) when it has none; defaults to the cluster's namespace.
    type: str
    version_added: 0.1.0
  operator_configmap_required:
    description:
      - Fail when O(operator_configuration) or O(operator_configmap) does not exist. Otherwise the built-in defaults are used and
        RV(config_source) says so.
    type: bool
    default: false
    version_added: 0.1.0
  read_objects:
    description:
      - Also read the cluster's objects. V(false) reads only the configuration and the manifest.
    type: bool
    default: true
    version_added: 0.1.0
  controller_id:
    description:
      - This operator instance's id. A manifest whose C(acid.zalan.do/controller) annotation differs (empty
        matches empty) belongs to another instance - RV(stop) is V(foreign) and RV(keep_reason) says so.
    type: str
    default: ''
    version_added: 0.1.0
  fast_path:
    description:
      - Compute the steady-state fingerprint of what was read (RV(fingerprint)) and compare it with the one the last
        full reconcile recorded in C(status.steadyFingerprint) (RV(fast)). See C(docs/design/reconcile.md), section 8.
    type: bool
    default: false
    version_added: 0.1.0
  full_sync_period:
    description:
      - With O(fast_path), a steady cluster still gets a full reconcile once in this many seconds (at an offset
        drawn from its uid), hourly while password rotation applies. It repairs what no object shows, such as a
        role dropped by hand.
    type: int
    default: 21600
    version_added: 0.1.0
  code_root:
    description:
      - With O(fast_path), the collection's root directory. Its C(MANIFEST.json) (installed collection), or
        else its C(roles/) and C(plugins/) files, go into the fingerprint, so new code takes the full path once.
    type: path
    version_added: 0.1.0
  now:
    description:
      - With O(fast_path), the time in seconds since the epoch that decides the full-sync period (tests drive
        the clock with it). Empty means the current time.
    type: str
    default: ''
    version_added: 0.1.0
notes:
  - Supports check mode (it only reads).
seealso:
  - module: pgfleet.postgres.k8s_apply_set
"""

EXAMPLES = r"""
- name: Read the cluster once (ansible-operator passes the CR)
  pgfleet.postgres.k8s_cluster_state:
    manifest: "{{ _acid_zalan_do_postgresql }}"
    operator_configmap: "{{ lookup('ansible.builtin.env', 'CONFIG_MAP_NAME') }}"
    operator_namespace: "{{ lookup('ansible.builtin.env', 'OPERATOR_NAMESPACE') }}"
  register: state
  no_log: true

- name: Read a cluster by name, as a DBA
  pgfleet.postgres.k8s_cluster_state:
    name: acid-minimal-cluster
    namespace: default
    operator_configmap: postgres-operator/postgres-operator
  register: state
  no_log: true
"""

RETURN = r"""
manifest:
  description:
    - The C(postgresql) object that was checked (as given, or as read).
    - A manifest given without C(metadata.uid) (from a file) gets the uid, generation and status of the live
      object of that name, when there is one.
  returned: always
  type: dict
cr_exists:
  description: Whether the C(postgresql) object exists in the API (so its status can be written).
  returned: always
  type: bool
name:
  description: Cluster name.
  returned: always
  type: str
namespace:
  description: Cluster namespace.
  returned: always
  type: str
config:
  description: The typed operator configuration (every key, defaults filled in).
  returned: always
  type: dict
config_source:
  description: Where the configuration came from.
  returned: always
  type: str
  sample: OperatorConfiguration postgres-operator/postgresql-operator-default-configuration
invalid:
  description: Null for a valid manifest, else C(msg) (every problem, each naming the field and the fix), C(fields) and C(problems).
  returned: always
  type: dict
model_warnings:
  description: Degraded-but-OK findings of the manifest model.
  returned: always
  type: list
  elements: str
objects:
  description:
    - Live objects by kind, without managedFields - C(StatefulSet), C(Pod), C(PersistentVolumeClaim), C(Service), C(Endpoints),
      C(Secret), C(ConfigMap), C(PodDisruptionBudget), C(CronJob), C(Deployment), C(ServiceAccount), C(RoleBinding), C(ClusterRole).
  returned: when the manifest is valid
  type: dict
existing_secrets:
  description: The live credential secrets of the manifest's roles (input for the render, so passwords never change).
  returned: when the manifest is valid
  type: list
  elements: dict
pod_environment:
  description: The ConfigMap/Secret named by C(pod_environment_configmap)/C(pod_environment_secret), as C({configmap, secret}).
  returned: when the manifest is valid
  type: dict
backup_environment_secret:
  description: The Secret named by C(logical_backup_cronjob_environment_secret) when the cluster has a logical backup, else null.
  returned: always
  type: dict
model:
  description:
    - The manifest model, built once here and without any password (secrets carry names, no credentials); the
      rendering attaches the credentials from RV(existing_secrets). Null for an invalid manifest.
  returned: always
  type: dict
postgres_teams:
  description: The C(PostgresTeam) objects of the cluster's namespace when C(enable_postgres_team_crd) is on, else empty.
  returned: always
  type: list
  elements: dict
infrastructure:
  description:
    - The Secrets and ConfigMaps named by C(infrastructure_roles_secret_name) and C(infrastructure_roles_secrets)
      (those that exist), and the namespace a name without one is read in; the C(infrastructure) option of
      M(pgfleet.postgres.postgresql_role_sync) takes it as it is. Holds passwords, so register it with C(no_log).
  returned: always
  type: dict
teams_api_token:
  description:
    - The Teams API OAuth token from the Secret named by C(oauth_token_secret_name) (key C(read-only-token-secret)) when
      C(enable_teams_api) is on, else null. Register the result with C(no_log).
  returned: always
  type: str
statefulset:
  description: The live Spilo StatefulSet, or null.
  returned: always
  type: dict
exists:
  description: Whether the StatefulSet exists.
  returned: always
  type: bool
pods:
  description: The cluster's Spilo pods, each C({name, role, phase, ready, ip, uid, terminating}).
  returned: always
  type: list
  elements: dict
leader:
  description:
    - The one ready pod labelled master, or null (none, or more than one), with C(api_url), its Patroni REST API
      as O(patroni_access) reaches it.
  returned: always
  type: dict
phase:
  description:
    - What this reconcile does - V(Creating) (no StatefulSet yet), V(Updating) (the status's C(observedGeneration)
      is not the manifest's generation) or V(Sync).
  returned: always
  type: str
status_before:
  description: The C(PostgresClusterStatus) as read (empty when there is none).
  returned: always
  type: str
owner:
  description: The manifest's C(acid.zalan.do/controller) annotation (empty when absent).
  returned: always
  type: str
stop:
  description:
    - Why a reconcile writes nothing but the status - V(foreign) (another operator instance's manifest),
      V(deleting) (the finalizer playbook handles it), V(invalid), or empty (go on). RV(stop_reason) says it in words.
  returned: always
  type: str
stop_reason:
  description: RV(stop) in one sentence (empty when the reconcile goes on).
  returned: always
  type: str
keep_reason:
  description:
    - The teardown decision - empty when the finalizer may delete the cluster's objects, else why every object is
      kept (another instance's manifest, an invalid manifest, or the delete annotations C(delete_annotation_date_key)
      / C(delete_annotation_name_key) missing while owner references are off).
  returned: always
  type: str
scale_down_switchover:
  description: Whether the leader's pod is one the manifest's instance count removes (hand the leadership to pod 0 first).
  returned: always
  type: bool
leftovers:
  description: C({pooler, logical_backup}) - whether objects of those features exist (to delete when the feature is off).
  returned: always
  type: dict
instances:
  description: The number of pods the manifest asks for (after the operator's min/max clamp).
  returned: when the manifest is valid
  type: int
ready:
  description: Whether that many pods are ready and labelled, with exactly one leader.
  returned: always
  type: bool
ready_reasons:
  description: Why the pods are not ready.
  returned: always
  type: list
  elements: str
patroni:
  description:
    - C(api_url) - the leader's Patroni REST API (empty when there is no leader).
    - What the DCS objects tell about Patroni, so that a reconcile with nothing to change need not call it -
      C(desired) (the dynamic configuration the manifest asks for), C(dcs_config_known) (Patroni's own copy in the
      C(config) annotation of C(<name>-config) was found), C(in_sync) (it needs no change), C(changes),
      C(managed_slots) (from the status) and C(pending_restart) (pods whose C(status) annotation says so).
  returned: when the manifest is valid
  type: dict
teardown_names:
  description:
    - Names the teardown needs, C({secrets, pooler, backup_job, pdbs, names}) (credential secrets in the cluster's
      namespace; every name from the model's C(names), so as the objects are rendered, C(pdb_name_format) included).
  returned: always
  type: dict
fingerprint:
  description:
    - With O(fast_path), the steady-state fingerprint of this read; empty when the cluster is not steady
      (RV(fast_reason) says why).
  returned: always
  type: str
fast:
  description: Whether the fingerprint equals the recorded one, so the full reconcile can be skipped.
  returned: always
  type: bool
fast_reason:
  description: Why RV(fast) is what it is, in words.
  returned: always
  type: str
requests:
  description: The API requests made (method, path, status).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import steady
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.module import api_session, k8s_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import patroni_access, patroni_access_argument_spec, read_state


def argument_spec():
    return k8s_argument_spec(
        name=dict(type="str"),
        namespace=dict(type="str"),
        manifest=dict(type="dict"),
        operator_config=dict(type="raw"),
        operator_configmap=dict(type="str"),
        operator_configuration=dict(type="str"),
        operator_namespace=dict(type="str"),
        operator_configmap_required=dict(type="bool", default=False),
        read_objects=dict(type="bool", default=True),
        controller_id=dict(type="str", default=""),
        fast_path=dict(type="bool", default=False),
        full_sync_period=dict(type="int", default=steady.DEFAULT_PERIOD),
        code_root=dict(type="path"),
        now=dict(type="str", default=""),
        **patroni_access_argument_spec()
    )


#: What AnsibleModule checks besides the spec (also for the action plugin, which runs run() in process).
CONSTRAINTS = dict(required_one_of=[("manifest", "name")], required_by={"name": ("namespace",)})


def run(module):
    p = module.params
    if p["full_sync_period"] < 60:
        module.fail_json(msg="full_sync_period: %d seconds is too short; give 60 or more (21600 = 6 hours)"
                         % p["full_sync_period"])
    try:
        now = steady.parse_now(p["now"])
    except ValueError as exc:
        module.fail_json(msg="now (reconcile_now): %s" % exc)
    fast_path = {"enabled": p["fast_path"], "period": p["full_sync_period"], "now": now,
                 "code": steady.code_identity(p["code_root"]) if p["fast_path"] else ""}
    operator_ns = (p["operator_namespace"] or os.environ.get("OPERATOR_NAMESPACE") or p["namespace"]
                   or (p["manifest"] or {}).get("metadata", {}).get("namespace"))
    with api_session(module, dry_run=False) as session:  # it only reads
        result = read_state(session.api, name=p["name"], namespace=p["namespace"], manifest=p["manifest"],
                            config_given=p["operator_config"], configmap=p["operator_configmap"],
                            operator_namespace=operator_ns,
                            configmap_required=p["operator_configmap_required"], read_objects=p["read_objects"],
                            controller_id=p["controller_id"] or "", patroni_access=patroni_access(p),
                            configuration_object=p["operator_configuration"], fast_path=fast_path)
    result["requests"] = session.requests()
    return dict(result, changed=False)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
