#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgresql_database_sync
short_description: Converge databases, prepared databases and their default privileges
version_added: 0.1.0
description:
  - Takes the C(databases) and C(prepared_databases) keys of the manifest model (see C(docs/dev/CONTRACTS.md))
    and makes the server match them (see C(docs/sql-sync.md)).
  - Reads C(pg_database), C(pg_roles) and C(pg_available_extensions) once, then C(pg_namespace),
    C(pg_extension) and C(pg_default_acl) once in every prepared database, computes a plan and applies it.
  - Missing databases are created (C(CREATE DATABASE ... OWNER)); owners converge (C(ALTER DATABASE ... OWNER TO)).
  - For every prepared database, on every sync, listed schemas are created, the reader and writer roles get
    C(USAGE) on them, and every default privilege of every (owner, schema) pair is compared with
    C(pg_default_acl) and granted when missing, whether the database or schema is new or old. This covers
    C(public), databases moved from C(databases) to C(preparedDatabases) and C(defaultUsers) turned on later.
  - Extensions are created or moved to their schema as the connecting superuser; never dropped.
  - Nothing is ever dropped or revoked. A sync with nothing to do sends no write statement.
  - Owner changes run in one transaction on the maintenance database; each C(CREATE DATABASE) runs alone
    (PostgreSQL does not allow it in a transaction); then one transaction per prepared database. In check mode
    the transactions are rolled back and C(CREATE DATABASE) is only shown (O(ignore:planned_queries)).
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - pgfleet.postgres.postgres
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes.diff
options:
  databases:
    description:
      - "Plain databases and their owner roles, C({db: owner}) (the manifest's C(databases))."
      - When a name is also in O(prepared_databases), the owner given here wins (Zalando behaviour).
    type: dict
    default: {}
    version_added: 0.1.0
  prepared_databases:
    description:
      - Prepared databases (the C(prepared_databases) key of the manifest model).
      - The role names are derived from the database and schema names (C(<db>_owner), C(<db>_reader),
        C(<db>_writer), C(<db>_owner_user), C(<db>_<schema>_owner), ...) and must exist; run
        M(pgfleet.postgres.postgresql_role_sync) with the same model first.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
        version_added: 0.1.0
      owner:
        description: Owner of the database. Defaults to C(<name>_owner).
        type: str
        version_added: 0.1.0
      secret_namespace:
        description: Namespace of the C(_user) secrets; informational.
        type: str
        version_added: 0.1.0
      default_users:
        description: Whether the C(_user) login roles exist, which adds their default privileges.
        type: bool
        default: false
        version_added: 0.1.0
      extensions:
        description: "Extensions and the schema each lives in, C({extension: schema})."
        type: dict
        default: {}
        version_added: 0.1.0
      schemas:
        description: Schemas of the database. Empty means the single schema C(data) with default roles.
        type: list
        elements: dict
        default: []
        version_added: 0.1.0
        suboptions:
          name:
            description: Schema name.
            type: str
            required: true
            version_added: 0.1.0
          default_roles:
            description: Whether the schema has its own owner, reader and writer roles.
            type: bool
            default: true
            version_added: 0.1.0
          default_users:
            description: Whether the schema's C(_user) login roles exist.
            type: bool
            default: false
            version_added: 0.1.0
requirements:
  - psycopg >= 3.1 on the host that runs the module
notes:
  - In check mode, when the roles the databases need do not exist yet (because the role sync ran in check
    mode too), the plan is returned in O(ignore:planned_queries) without being tried against the server.
seealso:
  - module: pgfleet.postgres.postgresql_role_sync
"""

EXAMPLES = r"""
- name: Sync databases and prepared databases of a rendered manifest model
  pgfleet.postgres.postgresql_database_sync:
    login_host: acid-minimal-cluster.default.svc.cluster.local
    login_password: "{{ postgres_password }}"
    ssl_mode: require
    databases: "{{ cluster_model.databases }}"
    prepared_databases: "{{ cluster_model.prepared_databases }}"

- name: One prepared database written by hand
  pgfleet.postgres.postgresql_database_sync:
    login_host: 127.0.0.1
    login_password: "{{ postgres_password }}"
    prepared_databases:
      - name: shop
        default_users: true
        extensions:
          pgcrypto: public
        schemas:
          - name: data
          - name: history
            default_roles: false
"""

RETURN = r"""
queries:
  description: Write statements sent to the server, in order (in check mode they were rolled back).
  returned: always
  type: list
  elements: str
  sample: ["ALTER DEFAULT PRIVILEGES FOR ROLE \"shop_owner\" GRANT SELECT ON TABLES TO \"shop_reader\""]
planned_queries:
  description: Statements of the plan that were not sent (check mode only, C(CREATE DATABASE) and the work inside
    databases that do not exist yet, or everything when the needed roles do not exist yet).
  returned: always
  type: list
  elements: str
  sample: ["CREATE DATABASE \"shop\" OWNER \"shop_owner\""]
statements:
  description: Number of write statements sent (0 for a sync with nothing to do).
  returned: always
  type: int
  sample: 0
actions:
  description: The plan as typed actions (C(create_database), C(alter_database_owner), C(create_schema),
    C(grant_schema_usage), C(grant_default_privileges), C(create_extension), C(move_extension)).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create_schema", "database": "shop", "schema": "data", "owner": "shop_data_owner"}]
diff:
  description: Before and after per database that changes (owner, schemas, extensions, default privileges granted).
  returned: always
  type: dict
  sample: {"before": {"shop": null}, "after": {"shop": {"owner": "shop_owner"}}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pgfleet.postgres.plugins.module_utils.ansible_glue import or_fail, warn_all
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import postgres_argument_spec
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.dbsync import sync_databases

SCHEMA_SPEC = dict(
    name=dict(type="str", required=True),
    default_roles=dict(type="bool", default=True),
    default_users=dict(type="bool", default=False),
)
PREPARED_SPEC = dict(
    name=dict(type="str", required=True),
    owner=dict(type="str"),
    secret_namespace=dict(type="str", no_log=False),
    default_users=dict(type="bool", default=False),
    extensions=dict(type="dict", default={}),
    schemas=dict(type="list", elements="dict", default=[], options=SCHEMA_SPEC),
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(
        databases=dict(type="dict", default={}),
        prepared_databases=dict(type="list", elements="dict", default=[], options=PREPARED_SPEC),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result = or_fail(
        module,
        sync_databases,
        module.params,
        module.params["databases"],
        module.params["prepared_databases"],
        check_mode=module.check_mode,
    )
    warn_all(module, result.pop("warnings"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
