# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Roles and databases of a local cluster: what the operator does on the leader once the pods are up,
with the same code as the ``postgresql_role_sync`` and ``postgresql_database_sync`` modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

LOOPBACK = "127.0.0.1"


def spilo_bootstrap_roles(model):
    """Roles that Spilo's post-init script creates and the model refers to without managing them.

    Plain PostgreSQL has no such script: the team admin role (``team_admin_role``, ``admin``),
    which manifest users get ``ADMIN`` to, is created here as a NOLOGIN role with CREATEDB.
    """
    names = set(r["name"] for r in model.get("roles") or [])
    needed = set()
    for role in model.get("roles") or []:
        if role.get("admin") and role["admin"] not in names:
            needed.add(role["admin"])
    return [{"name": name, "origin": "system", "flags": ["CREATEDB"], "member_of": [], "admin": None,
             "parameters": {}, "password": None, "secret": None, "is_db_owner": False} for name in sorted(needed)]


def sync_sql(model, credentials, pg_port, check_mode=False, save=None, now=None):
    """Converge the model's roles (passwords from their secrets), databases and prepared databases.

    The same module_utils as ``postgresql_role_sync``/``postgresql_database_sync``, against the
    leader on loopback. Returns ``{"changed", "roles": [...actions], "databases": [...actions],
    "warnings"}``; no password or verifier is in it.

    ``save``: rotate passwords as the Kubernetes reconcile does (docs/design/credentials.md), with
    the rotation state in ``credentials["secrets"]`` (local/rotation.py). Once the role sync has
    committed, the rotated entries go into ``credentials`` and ``save(credentials)`` writes them
    (state.json), before the databases are synced: the roles hold a password before the state
    says it. The result then also has ``rotation``: ``events`` (role names only), ``dropped``
    rotation users and ``secrets`` (the names of the changed entries). In check mode the rotation
    is planned and reported, nothing is written. Without ``save`` nothing rotates.
    ``now`` (tests): the time to plan for; the current time when None.
    """
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import rotation as local_rotation
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.dbsync import sync_databases
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import sync_roles

    params = {"login_host": LOOPBACK, "login_port": int(pg_port),
              "login_user": credentials["superuser"]["username"],
              "login_password": credentials["superuser"]["password"], "login_db": "postgres",
              "ssl_mode": "disable", "connect_timeout": 10}
    encryption = ((model.get("spec") or {}).get("postgresql") or {}).get("parameters", {}).get(
        "password_encryption") or "scram-sha-256"
    desired = spilo_bootstrap_roles(model) + copy.deepcopy(model.get("roles") or [])
    rotating = local_rotation.rotation_input(model, credentials, now) if save is not None else None
    roles = sync_roles(params, desired, check_mode=check_mode, password_encryption=encryption, rotation=rotating)
    rotation = None
    if rotating is not None:
        rotation = dict(roles["rotation"], secrets=[])
        if roles["secrets"] and not check_mode:
            rotation["secrets"] = local_rotation.store_rotated(credentials, model.get("roles"), roles["secrets"])
            save(credentials)
            # the superuser may have rotated in place: the database sync logs in with its new password
            params["login_password"] = credentials["superuser"]["password"]
    prepared, dropped = available_only(copy.deepcopy(model.get("prepared_databases") or []),
                                       available_extensions(credentials, pg_port))
    dbs = sync_databases(params, dict(model.get("databases") or {}), prepared, check_mode=check_mode)
    result = {"changed": bool(roles["changed"] or dbs["changed"]), "roles": roles["actions"],
              "databases": dbs["actions"], "warnings": dropped + list(roles["warnings"]) + list(dbs["warnings"])}
    if rotation is not None:
        result["rotation"] = rotation
    return result


def available_only(prepared, available):
    """Leave out the extensions of ``prepared`` databases that the server lacks; ``(prepared, warnings)``.

    A PostgreSQL build on this machine may lack an extension the Spilo image has (the PostgreSQL 18
    build has no pgcrypto, no pg_partman): on the local target it is left out with a warning rather
    than failing the whole manifest after the cluster is up.
    """
    warnings = []
    if available is None:
        return prepared, warnings
    for db in prepared:
        extensions = db.get("extensions") or {}
        for ext in sorted(extensions):
            if ext not in available:
                warnings.append("spec.preparedDatabases.%s.extensions.%s: not available in the PostgreSQL build "
                                "this local cluster runs; not created on the local target" % (db.get("name"), ext))
                extensions.pop(ext)
    return prepared, warnings


def available_extensions(credentials, pg_port):
    """Names in ``pg_available_extensions`` of the server at ``pg_port``, or None when it cannot be read."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the role sync needs it anyway
        return None
    su = credentials["superuser"]
    try:
        with psycopg.connect(host=LOOPBACK, port=int(pg_port), user=su["username"], password=su["password"],
                             dbname="postgres", sslmode="disable", connect_timeout=5) as conn:
            return set(r[0] for r in conn.execute("SELECT name FROM pg_catalog.pg_available_extensions").fetchall())
    except psycopg.Error:
        return None


def slot_name(member):
    """The physical replication slot Patroni keeps on the leader for ``member``."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in member.lower())


def physical_slots(credentials, pg_port):
    """Names of the physical replication slots on the server at ``pg_port`` (as the superuser)."""
    import psycopg

    su = credentials["superuser"]
    with psycopg.connect(host=LOOPBACK, port=int(pg_port), user=su["username"], password=su["password"],
                         dbname="postgres", sslmode="disable", connect_timeout=5) as conn:
        rows = conn.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'").fetchall()
    return sorted(r[0] for r in rows)
