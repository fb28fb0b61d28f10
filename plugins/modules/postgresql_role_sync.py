#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgresql_role_sync
short_description: Converge PostgreSQL roles to the desired roles of a postgresql manifest
version_added: 0.1.0
description:
  - Reads the live role catalog once (C(pg_authid), C(pg_auth_members), C(pg_db_role_setting)), computes a
    plan and applies it in one transaction on the maintenance database; in check mode the same statements run
    and are rolled back.
  - Takes the C(roles) list of the manifest model (C(cluster_model.roles)) as is, see C(docs/dev/CONTRACTS.md).
  - Missing roles are created; flags converge (a flag no longer asked for is removed); passwords are compared
    with the stored SCRAM or md5 verifier by recomputing it with its own salt and iteration count, so an
    unchanged password runs no statement; new verifiers are built on the controller, so plaintext passwords
    never appear in SQL or server logs.
  - Memberships converge exactly between the roles listed in O(roles); memberships of a listed role in a role
    that is not listed are granted when asked for and never revoked.
  - Role parameters converge exactly for a role that has desired parameters.
  - Nothing is dropped unless O(drop_removed=true); then the roles named in O(removed_roles) that are no longer
    desired are dropped after C(REASSIGN OWNED) and C(DROP OWNED) in every database.
  - A sync with nothing to do sends no write statement at all.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.postgres
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes.diff
options:
  roles:
    description:
      - The desired roles, one entry per role (the C(roles) key of the manifest model).
      - Names are refused when empty, longer than 63 bytes, reserved (C(public), C(pg_*)); any other name,
        including quotes, semicolons, spaces and non-ASCII letters, is quoted.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
        version_added: 0.1.0
      origin:
        description: Where the role comes from (C(system), C(manifest), C(prepared), C(pooler), C(infrastructure), C(stream), C(teams)); informational.
        type: str
        version_added: 0.1.0
      flags:
        description:
          - Role attributes, for example C(LOGIN), C(CREATEDB), C(NOINHERIT). Without C(LOGIN) the role is C(NOLOGIN).
          - Allowed are C(SUPERUSER), C(CREATEDB), C(CREATEROLE), C(INHERIT), C(LOGIN), C(REPLICATION),
            C(BYPASSRLS) and their C(NO) forms; a flag together with its C(NO) form is refused.
        type: list
        elements: str
        default: []
        version_added: 0.1.0
      member_of:
        description: Roles this role is a member of (C(IN ROLE)).
        type: list
        elements: str
        default: []
        version_added: 0.1.0
      admin:
        description: Role that is granted this role C(WITH ADMIN OPTION) (C(CREATE ROLE ... ADMIN)).
        type: str
        version_added: 0.1.0
      parameters:
        description:
          - Role-level settings (C(ALTER ROLE ... SET)). C(search_path) and other list settings are given as
            in C(postgresql.conf), for example C("$user", data).
        type: dict
        default: {}
        version_added: 0.1.0
      password:
        description:
          - Plaintext password, or an existing C(SCRAM-SHA-256$...) / C(md5...) verifier that is stored as is.
          - Omitted or null leaves the stored password alone (a new role gets none).
          - Never logged.
        type: str
        version_added: 0.1.0
      secret:
        description: The Kubernetes secret that holds the password; informational.
        type: dict
        version_added: 0.1.0
      is_db_owner:
        description: Whether the role owns a database; informational (and exempt from cluster-wide rotation).
        type: bool
        default: false
        version_added: 0.1.0
      no_password:
        description:
          - Remove the stored password (C(PASSWORD NULL)) when there is one. Cannot be combined with O(roles[].password).
        type: bool
        default: false
        version_added: 0.2.0
  password_encryption:
    description:
      - How new passwords are stored; follows C(postgresql.parameters.password_encryption) of the manifest.
      - A password stored with the other method is re-set.
    type: str
    default: scram-sha-256
    choices: [scram-sha-256, md5]
    version_added: 0.1.0
  drop_removed:
    description:
      - Opt-in per-cluster policy. When true, the roles in O(removed_roles) that exist and are not in O(roles)
        are dropped; their objects go to O(reassign_owned_to) in every database first.
      - Superusers, the login user and the reassign target are never dropped.
    type: bool
    default: false
    version_added: 0.1.0
  removed_roles:
    description:
      - Names of roles this cluster managed before (for example from the previous sync) that may have been
        removed from the manifest. Only these are ever dropped, and only with O(drop_removed=true).
      - With O(drop_removed=false) the ones that still exist are reported as a warning.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  reassign_owned_to:
    description: Role that receives the objects of dropped roles. Defaults to O(login_user).
    type: str
    version_added: 0.1.0
  rotation:
    description:
      - Password rotation, see C(docs/design/credentials.md). When given, the rotation is planned from the
        current secret contents and the time, the roles are synced, and RV(secrets) returns what the credential
        secrets must hold now. Write them after this task succeeded, never before.
    type: dict
    version_added: 0.2.0
    suboptions:
      config:
        description:
          - Operator configuration (C(enable_password_rotation), C(password_rotation_interval),
            C(password_rotation_user_retention), C(super_username), C(replication_username)).
        type: dict
        default: {}
        version_added: 0.2.0
      spec:
        description:
          - The manifest C(spec) (C(usersWithSecretRotation), C(usersWithInPlaceSecretRotation),
            C(usersIgnoringSecretRotation), C(standby)).
        type: dict
        default: {}
        version_added: 0.2.0
      annotations:
        description:
          - Annotations of the C(postgresql) object; C(pgfleet.io/password-rotation) (C(on)/C(off)) switches
            rotation for this cluster, C(pgfleet.io/password-rotation-grace) sets the grace period (default C(1d)),
            C(pgfleet.io/password-rotation-system-users) names the system users this cluster allows to rotate.
        type: dict
        default: {}
        version_added: 0.2.0
      secrets:
        description:
          - Current content of each role's credential secret, by role name (C(username), C(password),
            C(nextRotation), C(rotatedAt)). The passwords are never logged.
        type: dict
        default: {}
        version_added: 0.2.0
      secret_objects:
        description:
          - The live credential Secret objects (base64 C(data)), matched to the roles through O(roles[].secret);
            an alternative to O(rotation.secrets) for the Kubernetes reconcile. The passwords are never logged.
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
      namespace:
        description: Namespace of a role's secret when its O(roles[].secret) names none.
        type: str
        version_added: 0.2.0
      now:
        description: The time to plan for (RFC 3339); defaults to the current time. Tests set it.
        type: str
        version_added: 0.2.0
  teams:
    description:
      - Team members as roles, see C(docs/design/credentials.md). Members come from C(PostgresTeam) objects (with
        C(enable_postgres_team_crd)) and from O(teams.api_members); each becomes a C(LOGIN) role in C(pam_role_name)
        (and C(team_admin_role) unless a superuser), with C(team_api_role_configuration), without a password.
      - With C(enable_team_member_deprecation), members who left lose C(LOGIN) and are renamed
        C(<name><role_deletion_suffix>), in the same transaction; they are never dropped.
    type: dict
    version_added: 0.2.0
    suboptions:
      config:
        description: Operator configuration (the team keys, C(pam_role_name), C(team_admin_role), C(protected_role_names)).
        type: dict
        default: {}
        version_added: 0.2.0
      team_id:
        description: The cluster's team (C(spec.teamId)).
        type: str
        default: ""
        version_added: 0.2.0
      postgres_teams:
        description: The C(PostgresTeam) objects of the cluster's namespace.
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
      api_members:
        description:
          - Members by team (C({team -> [users]})), when the caller read the Teams API itself. Without it and with
            C(enable_teams_api), the module asks C(teams_api_url) itself, with O(teams.api_token).
        type: dict
        version_added: 0.2.0
      api_token:
        description: The OAuth bearer token for the Teams API (from the secret C(oauth_token_secret_name)). Never logged.
        type: str
        version_added: 0.2.0
      api_timeout:
        description: Seconds to wait for each Teams API answer.
        type: int
        default: 10
        version_added: 0.2.0
      complete:
        description:
          - Whether the member lists are complete. V(false) (a failed or partial read) keeps every existing
            member role as it is; no member is retired. An empty member list with existing members is
            treated the same way.
        type: bool
        default: true
        version_added: 0.2.0
  infrastructure:
    description:
      - Infrastructure roles, see C(docs/design/credentials.md), from the Secrets named by C(infrastructure_roles_secret_name)
        (numbered keys C(user1), C(password1), C(inrole1)) and C(infrastructure_roles_secrets) (with its key mapping),
        and the ConfigMaps of the same names. Never rotated. A Secret that is missing keeps its roles as they are.
    type: dict
    version_added: 0.2.0
    suboptions:
      config:
        description: Operator configuration (C(infrastructure_roles_secret_name), C(infrastructure_roles_secrets)).
        type: dict
        default: {}
        version_added: 0.2.0
      secrets:
        description: The Secret objects read (base64 C(data)). The passwords in them are never logged.
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
      configmaps:
        description: The ConfigMap objects read.
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
      namespace:
        description: Namespace of a secret name given without one (the operator's namespace).
        type: str
        version_added: 0.2.0
requirements:
  - psycopg >= 3.1 on the host that runs the module
notes:
  - Run it on the primary. Role changes run with C(SET LOCAL synchronous_commit = 'local'), like the Zalando
    operator, so a missing synchronous standby cannot block them.
  - The drop of removed roles is the one step that is not a single transaction, because C(REASSIGN OWNED) and
    C(DROP OWNED) act only in the current database; see C(docs/sql-sync.md).
seealso:
  - module: pgfleet.postgres.postgresql_database_sync
"""

EXAMPLES = r"""
- name: Sync the roles of a rendered manifest model
  pgfleet.postgres.postgresql_role_sync:
    login_host: acid-minimal-cluster.default.svc.cluster.local
    login_password: "{{ postgres_password }}"
    ssl_mode: require
    roles: "{{ cluster_model.roles }}"
    password_encryption: "{{ cluster_model.spec.postgresql.parameters.password_encryption | default('scram-sha-256') }}"
  no_log: "{{ pgfleet_no_log | default(true) }}"

- name: Two hand-written roles
  pgfleet.postgres.postgresql_role_sync:
    login_host: 127.0.0.1
    login_password: "{{ postgres_password }}"
    roles:
      - name: app_owner
        flags: [NOLOGIN]
      - name: app
        flags: [LOGIN, CREATEDB]
        member_of: [app_owner]
        parameters:
          search_path: '"$user", data'
        password: "{{ app_password }}"

- name: Drop roles that were removed from the manifest (opt-in)
  pgfleet.postgres.postgresql_role_sync:
    login_host: 127.0.0.1
    login_password: "{{ postgres_password }}"
    roles: "{{ cluster_model.roles }}"
    drop_removed: true
    removed_roles: "{{ previously_managed_roles }}"
"""

RETURN = r"""
queries:
  description: Write statements sent to the server, in order; passwords are shown as C('********').
  returned: always
  type: list
  elements: str
  sample: ["SET LOCAL synchronous_commit = 'local'", "CREATE ROLE \"foo_user\" WITH LOGIN PASSWORD '********'"]
statements:
  description: Number of write statements sent (0 for a sync with nothing to do; in check mode they were rolled back).
  returned: always
  type: int
  sample: 2
actions:
  description: The plan as typed actions (C(create_role), C(alter_role), C(set_password), C(set_parameter),
    C(reset_parameter), C(grant_membership), C(revoke_membership), C(revoke_admin_option), C(reassign_owned),
    C(drop_role)).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create_role", "role": "foo_user", "flags": ["LOGIN"]}]
secrets:
  description:
    - With O(rotation) only. The secret contents that changed, by role name (C(username), C(password),
      C(nextRotation), C(rotatedAt)). Holds passwords, so register it under C(no_log).
  returned: when rotation is given
  type: dict
  sample: {}
secret_objects:
  description:
    - With O(rotation) only. The changed secrets as partial v1 Secret objects (C(username), C(password),
      C(nextRotation), C(rotatedAt)) for a server-side apply under a field manager of their own. Holds passwords.
  returned: when rotation is given
  type: list
  elements: dict
  sample: []
teams:
  description: With O(teams) only. C(events), one line per retired or returning team member.
  returned: when teams is given
  type: dict
  sample: {"events": ["team member bob left: LOGIN removed, renamed to bob_deleted"]}
rotation:
  description: With O(rotation) only. C(events) (one line per rotation, no passwords) and C(dropped) rotation users.
  returned: when rotation is given
  type: dict
  sample: {"events": ["app: password rotated, new user app261203"], "dropped": []}
diff:
  description:
    - Before and after of every role the plan touches (C(null) when absent) with C(flags), C(member_of),
      C(parameters) and C(password) (C(set)/C(none) before, C(changed)/C(unchanged) after; never the value).
  returned: always
  type: dict
  sample: {"before": {"foo_user": null}, "after": {"foo_user": {"flags": ["LOGIN"], "member_of": [],
           "parameters": {}, "password": "changed"}}}
"""

import base64
import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.ansible_glue import or_fail, warn_all
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import infra, rotation
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import postgres_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import sync_roles

ROLE_SPEC = dict(
    name=dict(type="str", required=True),
    origin=dict(type="str"),
    flags=dict(type="list", elements="str", default=[]),
    member_of=dict(type="list", elements="str", default=[]),
    admin=dict(type="str"),
    parameters=dict(type="dict", default={}),
    password=dict(type="str", no_log=True),
    secret=dict(type="dict", no_log=False),
    is_db_owner=dict(type="bool", default=False),
    no_password=dict(type="bool", default=False),
)

ROTATION_SPEC = dict(
    config=dict(type="dict", default={}),
    spec=dict(type="dict", default={}),
    annotations=dict(type="dict", default={}),
    # Not no_log as a whole: Ansible would then mask every leaf of these values (usernames, "v1", ...)
    # in the result too. main() adds each password (plain and base64) to no_log_values instead.
    secrets=dict(type="dict", default={}, no_log=False),
    secret_objects=dict(type="list", elements="dict", default=[], no_log=False),
    namespace=dict(type="str"),
    now=dict(type="str"),
)

TEAMS_SPEC = dict(
    config=dict(type="dict", default={}),
    team_id=dict(type="str", default=""),
    postgres_teams=dict(type="list", elements="dict", default=[]),
    api_members=dict(type="dict"),
    api_token=dict(type="str", no_log=True),
    api_timeout=dict(type="int", default=10),
    complete=dict(type="bool", default=True),
)

INFRA_SPEC = dict(
    config=dict(type="dict", default={}),
    # not no_log as a whole (every leaf would be masked in the result); main() masks each password
    secrets=dict(type="list", elements="dict", default=[], no_log=False),
    configmaps=dict(type="list", elements="dict", default=[]),
    namespace=dict(type="str"),
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        roles=dict(type="list", elements="dict", required=True, options=ROLE_SPEC),
        password_encryption=dict(type="str", default="scram-sha-256", choices=["scram-sha-256", "md5"]),
        drop_removed=dict(type="bool", default=False),
        removed_roles=dict(type="list", elements="str", default=[]),
        reassign_owned_to=dict(type="str"),
        rotation=dict(type="dict", options=ROTATION_SPEC),
        teams=dict(type="dict", options=TEAMS_SPEC),
        infrastructure=dict(type="dict", options=INFRA_SPEC),
    )
    return spec


def rotation_input(options, roles):
    """The ``rotation`` argument of ``sync_roles`` from the module option (None when not given)."""
    if not options:
        return None
    policy = rotation.policy_from(options["config"], options["spec"], options["annotations"])
    now = options.get("now") or rotation.format_time(datetime.datetime.now(rotation.UTC))
    secrets = {}
    found = rotation.secrets_from_objects(roles, options.get("secret_objects"), options.get("namespace"))
    found.update(options.get("secrets") or {})
    for name, content in found.items():
        if isinstance(content, dict):
            secrets[name] = dict((k, v) for k, v in content.items() if isinstance(v, str))
    return {"policy": policy, "secrets": secrets, "now": rotation.as_utc(now)}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    for role in module.params["roles"]:
        if role.get("password"):
            module.no_log_values.add(role["password"])
    rotating = or_fail(module, rotation_input, module.params["rotation"], module.params["roles"])
    infra_roles, infra_warnings = [], []
    if module.params["infrastructure"]:
        opts = module.params["infrastructure"]
        infra_roles, infra_warnings, _complete = infra.infrastructure_roles(
            opts["config"], opts["secrets"], opts["configmaps"], opts.get("namespace"))
        for role in infra_roles:
            module.no_log_values.add(role["password"])
            module.no_log_values.add(base64.b64encode(role["password"].encode("utf-8")).decode("ascii"))
    for content in ((rotating or {}).get("secrets") or {}).values():
        if content.get("password"):
            module.no_log_values.add(content["password"])
            module.no_log_values.add(base64.b64encode(content["password"].encode("utf-8")).decode("ascii"))
    result = or_fail(
        module,
        sync_roles,
        module.params,
        module.params["roles"],
        check_mode=module.check_mode,
        password_encryption=module.params["password_encryption"],
        drop_removed=module.params["drop_removed"],
        removed=module.params["removed_roles"],
        reassign_to=module.params["reassign_owned_to"],
        rotation=rotating,
        teams=module.params["teams"],
        infrastructure=infra_roles,
    )
    warn_all(module, infra_warnings + result.pop("warnings"))
    if rotating is not None:
        refs = dict((r["name"], r.get("secret") or {}) for r in module.params["roles"])
        namespace = module.params["rotation"].get("namespace")
        result["secret_objects"] = [
            rotation.secret_patch({"name": refs[name]["name"], "namespace": refs[name].get("namespace") or namespace},
                                  content)
            for name, content in sorted(result["secrets"].items()) if refs.get(name, {}).get("name")]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
