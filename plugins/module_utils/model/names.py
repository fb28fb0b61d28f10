# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Every object name of a cluster, decided here once (docs/design/model.md, "Names").

:func:`object_names` is stored in the model as ``model["names"]``; templates, teardown and state read
the names from there and never build one themselves. Credential Secret names come from
``secret_name_template`` (:func:`secrets.secret_name`) and are in ``model["secrets"]``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

#: Where the data volume is mounted in the Spilo container (PGDATA lives below it).
PGDATA_MOUNT = "/home/postgres/pgdata"
#: The data volume's name; its claims are ``pgdata-<cluster>-<ordinal>``.
PGDATA_VOLUME = "pgdata"
#: A CronJob name is at most 52 characters (Kubernetes adds 11 for its Jobs).
CRONJOB_NAME_MAX = 52
#: Patroni's DCS objects (ConfigMaps or Endpoints) are ``<cluster>-<suffix>``.
DCS_SUFFIXES = ("config", "leader", "sync", "failover")
DEFAULT_PDB_NAME_FORMAT = "postgres-{cluster}-pdb"
DEFAULT_LOGICAL_BACKUP_JOB_PREFIX = "logical-backup-"


def pooler_name(cluster, role="master"):
    """The pooler Deployment and Service: ``<c>-pooler`` (primary) or ``<c>-pooler-repl`` (replicas)."""
    return "%s-pooler" % cluster if role == "master" else "%s-pooler-repl" % cluster


def pooler_auth_secret(pooler):
    """The Secret holding a pooler's ``userlist.txt``: the pooler's name plus ``-u``."""
    return "%s-u" % pooler


def pdb_name(cluster, cfg):
    return (cfg.get("pdb_name_format") or DEFAULT_PDB_NAME_FORMAT).replace("{cluster}", cluster)


def logical_backup_job_name(cluster, cfg):
    prefix = cfg.get("logical_backup_job_prefix")
    if prefix is None:
        prefix = DEFAULT_LOGICAL_BACKUP_JOB_PREFIX
    return ("%s%s" % (prefix, cluster))[:CRONJOB_NAME_MAX].rstrip("-")


def object_names(cluster, cfg):
    """Every name of the cluster ``cluster`` under the typed operator configuration ``cfg``."""
    poolers = {"master": pooler_name(cluster, "master"), "replica": pooler_name(cluster, "replica")}
    return {
        "statefulset": cluster,
        "service_primary": cluster,
        "service_replica": "%s-repl" % cluster,
        "service_config": "%s-config" % cluster,
        "endpoints_primary": cluster,
        "pdb_primary": pdb_name(cluster, cfg),
        "pdb_critical_op": "postgres-%s-critical-op-pdb" % cluster,
        "pooler": poolers,
        "pooler_auth_secret": dict((role, pooler_auth_secret(n)) for role, n in poolers.items()),
        "logical_backup_job": logical_backup_job_name(cluster, cfg),
        "dcs": ["%s-%s" % (cluster, suffix) for suffix in DCS_SUFFIXES],
        "pvc_prefix": "%s-%s-" % (PGDATA_VOLUME, cluster),
        "pgdata_mount": PGDATA_MOUNT,
    }
