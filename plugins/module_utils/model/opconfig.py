# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Operator configuration: the keys of the Zalando ``postgres-operator`` ConfigMap, typed.

A user's existing ConfigMap works unchanged: :func:`load` takes its ``data`` (every value a
string: ``"true"``, ``"5m"``, ``"a:b,c:d"``, ``"x,y"``), the whole ConfigMap object, the grouped
``OperatorConfiguration`` object, or values that are already typed (role variables), and returns
one flat dict holding *every* key of :data:`DEFAULTS`, typed:

* booleans as ``bool``; integers as ``int`` (optional integers as ``None`` when unset);
* durations as **seconds** (``int``, or ``float`` for sub-second values) under the same key;
* lists as ``list`` of ``str``; maps as ``dict`` of ``str``;
* Kubernetes quantities as validated strings (``""`` = unset);
* structured values (``sidecars``, ``liveness_probe``, ``infrastructure_roles_secrets``) as
  parsed YAML/JSON.

Unknown keys are kept under ``_unknown`` (and reported in ``_warnings``); a bad value raises
:class:`ManifestErrors` listing every bad key as ``config.<key>``. ``load`` is idempotent:
loading a loaded config gives the same config.

Defaults are the reference implementation's code defaults, except where the shipped ConfigMap and
Helm values differ and every real installation runs the shipped value: ``enable_master_load_balancer``
and ``enable_teams_api`` default to ``false`` here (``true`` in the Go code). Both are written out
in the shipped ``configmap.yaml``, so loading that file behaves exactly like Zalando.

Size (~670 lines): about 200 of them are the one table of every key with its kind and default;
splitting the table from its parser would only add an import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, ManifestErrors

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None


# Value kinds understood by the parser.
BOOL = "bool"
INT = "int"
OPT_INT = "optional int"
DURATION = "duration"
STR = "str"
LIST = "list"
MAP = "map"
CPU = "cpu quantity"
MEMORY = "memory quantity"
STRUCT = "structured"
STRUCT_LIST = "structured list"

# key: (kind, default). Durations are given in seconds. Grouped as in docs/design/model.md §7.
_KEYS = {
    # core
    "docker_image": (STR, "ghcr.io/zalando/spilo-18:4.1-p2"),
    "workers": (INT, 8),
    "resync_period": (DURATION, 1800),
    "repair_period": (DURATION, 300),
    "watched_namespace": (STR, ""),
    "enable_crd_registration": (BOOL, True),
    "enable_crd_validation": (BOOL, True),
    "crd_categories": (LIST, ["all"]),
    "etcd_host": (STR, ""),
    "kubernetes_use_configmaps": (BOOL, True),
    "enable_pgversion_env_var": (BOOL, True),
    "enable_spilo_wal_path_compat": (BOOL, False),
    "enable_lazy_spilo_upgrade": (BOOL, False),
    "enable_team_id_clustername_prefix": (BOOL, False),
    "enable_shm_volume": (BOOL, True),
    "min_instances": (INT, -1),
    "max_instances": (INT, -1),
    "ignore_instance_limits_annotation_key": (STR, ""),
    "ignore_resources_limits_annotation_key": (STR, ""),
    "set_memory_request_to_limit": (BOOL, False),
    "enable_maintenance_windows": (BOOL, True),
    "maintenance_windows": (LIST, []),
    "enable_ebs_gp3_migration": (BOOL, False),
    "enable_ebs_gp3_migration_max_size": (INT, 1000),
    # users
    "super_username": (STR, "postgres"),
    "replication_username": (STR, "standby"),
    "additional_owner_roles": (LIST, []),
    "enable_password_rotation": (BOOL, False),
    "password_rotation_interval": (INT, 90),
    "password_rotation_user_retention": (INT, 180),
    # major version upgrade
    "major_version_upgrade_mode": (STR, "manual"),
    "major_version_upgrade_team_allow_list": (LIST, []),
    "minimal_major_version": (STR, "14"),
    "target_major_version": (STR, "18"),
    # kubernetes: labels, annotations, names
    "cluster_labels": (MAP, {"application": "spilo"}),
    "cluster_name_label": (STR, "cluster-name"),
    "pod_role_label": (STR, "spilo-role"),
    "inherited_labels": (LIST, []),
    "inherited_annotations": (LIST, []),
    "downscaler_annotations": (LIST, []),
    "ignored_annotations": (LIST, []),
    "custom_pod_annotations": (MAP, {}),
    "secret_name_template": (STR, "{username}.{cluster}.credentials.{tprkind}.{tprgroup}"),
    "pdb_name_format": (STR, "postgres-{cluster}-pdb"),
    "pdb_master_label_selector": (BOOL, True),
    "enable_pod_disruption_budget": (BOOL, True),
    # kubernetes: pods
    "pod_service_account_name": (STR, "postgres-pod"),
    "pod_service_account_definition": (STR, ""),
    "pod_service_account_role_binding_definition": (STR, ""),
    "pod_terminate_grace_period": (DURATION, 300),
    "pod_management_policy": (STR, "ordered_ready"),
    "enable_readiness_probe": (BOOL, False),
    "liveness_probe": (STRUCT, None),
    "spilo_runasuser": (OPT_INT, None),
    "spilo_runasgroup": (OPT_INT, None),
    "spilo_fsgroup": (OPT_INT, None),
    "spilo_privileged": (BOOL, False),
    "spilo_allow_privilege_escalation": (BOOL, True),
    "additional_pod_capabilities": (LIST, []),
    "pod_environment_configmap": (STR, ""),
    "pod_environment_secret": (STR, ""),
    "enable_init_containers": (BOOL, True),
    "enable_sidecars": (BOOL, True),
    "share_pgsocket_with_sidecars": (BOOL, False),
    # pgfleet extension (docs/design/model.md §8): image pull secrets for every pod we run
    "image_pull_secrets": (LIST, []),
    # kubernetes: scheduling
    "toleration": (MAP, {}),
    "node_readiness_label": (MAP, {}),
    "node_readiness_label_merge": (STR, "OR"),
    "enable_pod_antiaffinity": (BOOL, False),
    "pod_antiaffinity_topology_key": (STR, "kubernetes.io/hostname"),
    "pod_antiaffinity_preferred_during_scheduling": (BOOL, False),
    "pod_priority_class_name": (STR, ""),
    "master_pod_move_timeout": (DURATION, 1200),
    # kubernetes: lifecycle, access
    "enable_owner_references": (BOOL, False),
    "enable_finalizers": (BOOL, False),
    "delete_annotation_date_key": (STR, ""),
    "delete_annotation_name_key": (STR, ""),
    "enable_secrets_deletion": (BOOL, True),
    "enable_persistent_volume_claim_deletion": (BOOL, True),
    "persistent_volume_claim_retention_policy": (MAP, {"when_deleted": "retain", "when_scaled": "retain"}),
    "storage_resize_mode": (STR, "pvc"),
    "enable_cross_namespace_secret": (BOOL, False),
    "cluster_domain": (STR, "cluster.local"),
    "oauth_token_secret_name": (STR, "postgresql-operator"),
    "infrastructure_roles_secrets": (STRUCT_LIST, []),
    "infrastructure_roles_secret_name": (STR, ""),
    # postgres pod resources
    "default_cpu_request": (CPU, "100m"),
    "default_memory_request": (MEMORY, "100Mi"),
    "default_cpu_limit": (CPU, "1"),
    "default_memory_limit": (MEMORY, "500Mi"),
    "min_cpu_limit": (CPU, "250m"),
    "min_memory_limit": (MEMORY, "250Mi"),
    "max_cpu_request": (CPU, ""),
    "max_memory_request": (MEMORY, ""),
    # sidecars, patroni
    "sidecars": (STRUCT_LIST, []),
    "sidecar_docker_images": (MAP, {}),
    "scalyr_api_key": (STR, ""),
    "scalyr_image": (STR, ""),
    "scalyr_server_url": (STR, "https://upload.eu.scalyr.com"),
    "scalyr_cpu_request": (CPU, "100m"),
    "scalyr_memory_request": (MEMORY, "50Mi"),
    "scalyr_cpu_limit": (CPU, "1"),
    "scalyr_memory_limit": (MEMORY, "500Mi"),
    "enable_patroni_failsafe_mode": (BOOL, False),
    # timeouts
    "patroni_api_check_interval": (DURATION, 1),
    "patroni_api_check_timeout": (DURATION, 5),
    "resource_check_interval": (DURATION, 3),
    "resource_check_timeout": (DURATION, 600),
    "pod_label_wait_timeout": (DURATION, 600),
    "pod_deletion_wait_timeout": (DURATION, 600),
    "ready_wait_interval": (DURATION, 4),
    "ready_wait_timeout": (DURATION, 30),
    # load balancer
    "enable_master_load_balancer": (BOOL, False),
    "enable_replica_load_balancer": (BOOL, False),
    "enable_master_pooler_load_balancer": (BOOL, False),
    "enable_replica_pooler_load_balancer": (BOOL, False),
    "enable_master_node_port": (BOOL, False),
    "enable_replica_node_port": (BOOL, False),
    "enable_master_pooler_node_port": (BOOL, False),
    "enable_replica_pooler_node_port": (BOOL, False),
    "custom_service_annotations": (MAP, {}),
    "db_hosted_zone": (STR, "db.example.com"),
    "external_traffic_policy": (STR, "Cluster"),
    "master_dns_name_format": (STR, "{cluster}.{namespace}.{hostedzone}"),
    "master_legacy_dns_name_format": (STR, "{cluster}.{team}.{hostedzone}"),
    "replica_dns_name_format": (STR, "{cluster}-repl.{namespace}.{hostedzone}"),
    "replica_legacy_dns_name_format": (STR, "{cluster}-repl.{team}.{hostedzone}"),
    # aws or gcp
    "wal_s3_bucket": (STR, ""),
    "wal_gs_bucket": (STR, ""),
    "wal_az_storage_account": (STR, ""),
    "gcp_credentials": (STR, ""),
    "log_s3_bucket": (STR, ""),
    "kube_iam_role": (STR, ""),
    "irsa_role_arn": (STR, ""),
    "aws_region": (STR, "eu-central-1"),
    "additional_secret_mount": (STR, ""),
    "additional_secret_mount_path": (STR, "/meta/credentials"),
    # logical backup
    "logical_backup_docker_image": (STR, "ghcr.io/zalando/postgres-operator/logical-backup:v2.0.1"),
    "logical_backup_provider": (STR, "s3"),
    "logical_backup_schedule": (STR, "30 00 * * *"),
    "logical_backup_job_prefix": (STR, "logical-backup-"),
    "logical_backup_s3_bucket": (STR, ""),
    "logical_backup_s3_bucket_prefix": (STR, "spilo"),
    "logical_backup_s3_region": (STR, ""),
    "logical_backup_s3_endpoint": (STR, ""),
    "logical_backup_s3_access_key_id": (STR, ""),
    "logical_backup_s3_secret_access_key": (STR, ""),
    "logical_backup_s3_sse": (STR, "AES256"),
    "logical_backup_s3_retention_time": (STR, ""),
    "logical_backup_google_application_credentials": (STR, ""),
    "logical_backup_azure_storage_account_name": (STR, ""),
    "logical_backup_azure_storage_container": (STR, ""),
    "logical_backup_azure_storage_account_key": (STR, ""),
    "logical_backup_cronjob_environment_secret": (STR, ""),
    "logical_backup_cpu_request": (CPU, ""),
    "logical_backup_cpu_limit": (CPU, ""),
    "logical_backup_memory_request": (MEMORY, ""),
    "logical_backup_memory_limit": (MEMORY, ""),
    "logical_backup_successful_jobs_history_limit": (INT, 3),
    "logical_backup_failed_jobs_history_limit": (INT, 3),
    "logical_backup_ttl_seconds_after_finished": (INT, 86400),
    # teams api
    "enable_teams_api": (BOOL, False),
    "teams_api_url": (STR, "https://teams.example.com/api/"),
    "team_api_role_configuration": (MAP, {"log_statement": "all"}),
    "enable_team_superuser": (BOOL, False),
    "team_admin_role": (STR, "admin"),
    "enable_admin_role_for_users": (BOOL, True),
    "pam_role_name": (STR, "zalandos"),
    "pam_configuration": (STR, "https://info.example.com/oauth2/tokeninfo?access_token= uid realm=/employees"),
    "protected_role_names": (LIST, ["admin", "cron_admin"]),
    "postgres_superuser_teams": (LIST, []),
    "role_deletion_suffix": (STR, "_deleted"),
    "enable_team_member_deprecation": (BOOL, False),
    "enable_postgres_team_crd": (BOOL, False),
    "enable_postgres_team_crd_superusers": (BOOL, False),
    # connection pooler
    "connection_pooler_number_of_instances": (INT, 2),
    "connection_pooler_schema": (STR, "pooler"),
    "connection_pooler_user": (STR, "pooler"),
    "connection_pooler_image": (STR, "ghcr.io/zalando/postgres-operator/pgbouncer:v2.0.1"),
    "connection_pooler_max_db_connections": (INT, 60),
    "connection_pooler_mode": (STR, "transaction"),
    "connection_pooler_default_cpu_request": (CPU, "500m"),
    "connection_pooler_default_memory_request": (MEMORY, "100Mi"),
    "connection_pooler_default_cpu_limit": (CPU, "1"),
    "connection_pooler_default_memory_limit": (MEMORY, "100Mi"),
    # debug, api
    "debug_logging": (BOOL, True),
    "enable_database_access": (BOOL, True),
    "api_port": (INT, 8080),
    "ring_log_lines": (INT, 100),
    "cluster_history_entries": (INT, 1000),
}

#: Every key with its default value, already typed (durations in seconds).
DEFAULTS = dict((k, v[1]) for k, v in _KEYS.items())

#: Every key with its kind (one of the module constants above).
KINDS = dict((k, v[0]) for k, v in _KEYS.items())

#: Keys whose value must be one of a fixed set.
CHOICES = {
    "pod_management_policy": ("ordered_ready", "parallel"),
    "node_readiness_label_merge": ("OR", "AND"),
    "major_version_upgrade_mode": ("off", "manual", "full"),
    "storage_resize_mode": ("pvc", "off", "ebs", "mixed"),
    "connection_pooler_mode": ("session", "transaction"),
    "logical_backup_provider": ("s3", "gcs", "az"),
    "external_traffic_policy": ("Cluster", "Local"),
}

# OperatorConfiguration (CRD form) groups whose keys are flattened into the ConfigMap form.
_GROUPS = ("users", "major_version_upgrade", "kubernetes", "postgres_pod_resources", "timeouts",
           "load_balancer", "aws_or_gcp", "logical_backup", "debug", "teams_api", "logging_rest_api",
           "connection_pooler", "patroni", "scalyr")

CPU_RE = re.compile(r"^(\d+m|\d+(\.\d{1,3})?)$")
MEMORY_RE = re.compile(r"^(\d+(e\d+)?|\d+(\.\d+)?(e\d+)?[EPTGMK]i?)$")

# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)")

_TRUE = ("1", "t", "true", "y", "yes", "on")
_FALSE = ("0", "f", "false", "n", "no", "off")


def _bad(key, problem, fix):
    return ManifestError("config.%s" % key, problem, fix)


def parse_duration(value):
    """Go-style duration (``"1h30m"``, ``"10s"``, ``"500ms"``) or a number of seconds -> seconds.

    Returns an ``int`` when the result is whole, else a ``float``. Raises ``ValueError``.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a duration")
    if isinstance(value, (int, float)):
        seconds = value
    else:
        text = str(value).strip()
        if re.match(r"^-?\d+(\.\d+)?$", text):
            seconds = float(text)
        else:
            sign = 1
            if text[:1] in "+-":
                sign = -1 if text[0] == "-" else 1
                text = text[1:]
            if not text:
                raise ValueError("empty duration")
            pos = 0
            seconds = 0.0
            for match in _DURATION_RE.finditer(text):
                if match.start() != pos:
                    raise ValueError("not a duration")
                seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                raise ValueError("not a duration")
            seconds *= sign
    if seconds < 0:
        raise ValueError("negative duration")
    if float(seconds) == int(seconds):
        return int(seconds)
    return float(seconds)


def parse_bool(value):
    """``"true"``/``"false"`` (and Go's ``strconv.ParseBool`` spellings) -> bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def parse_int(value):
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == int(value):
        return int(value)
    text = str(value).strip()
    if not re.match(r"^[-+]?\d+$", text):
        raise ValueError("not an integer")
    return int(text)


def parse_list(value):
    """``"x, y"`` or a YAML/JSON list -> list of stripped non-empty strings."""
    if isinstance(value, (list, tuple)):
        items = value
    else:
        text = str(value).strip()
        if text.startswith("["):
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError("not a list")
        else:
            items = text.split(",")
    result = []
    for item in items:
        if isinstance(item, (dict, list)):
            raise ValueError("list items must be plain strings")
        text = str(item).strip()
        if text:
            result.append(text)
    return result


def parse_map(value):
    """``"a:b,c:d"`` (values may contain ``:``) or a mapping -> dict of strings."""
    if isinstance(value, dict):
        pairs = value.items()
    else:
        text = str(value).strip()
        if text.startswith("{"):
            loaded = json.loads(text)
            if not isinstance(loaded, dict):
                raise ValueError("not a map")
            pairs = loaded.items()
        else:
            pairs = []
            for part in text.split(","):
                part = part.strip()
                if not part:
                    continue
                if ":" not in part:
                    raise ValueError("%r is not a key:value pair" % part)
                key, val = part.split(":", 1)
                pairs.append((key, val))
    result = {}
    for key, val in pairs:
        key = str(key).strip()
        if not key:
            raise ValueError("empty key")
        if isinstance(val, (dict, list)):
            raise ValueError("map values must be plain strings")
        if isinstance(val, bool):
            val = "true" if val else "false"
        result[key] = "" if val is None else str(val).strip()
    return result


def _parse_struct(value):
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if yaml is not None:
            return yaml.safe_load(text)
        return json.loads(text)
    return copy.deepcopy(value)


def _parse_infra_roles(value):
    """``infrastructure_roles_secrets``: list of dicts, or the ConfigMap form ``k:v,k:v[;k:v,...]``."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text[:1] in "[{":
            value = _parse_struct(text)
        else:
            return [parse_map(part) for part in text.split(";") if part.strip()]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError("expected a list of secret definitions")
    return copy.deepcopy(value)


def _parse_value(key, kind, value):
    """Parse one raw value; ``None`` and ``""`` mean "default" for non-string kinds."""
    if value is None:
        return copy.deepcopy(DEFAULTS[key])
    if kind == STR:
        if isinstance(value, (dict, list)):
            raise ValueError("expected a string")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if kind in (CPU, MEMORY):
        text = str(value).strip()
        if text in ("",):
            return ""
        regex = CPU_RE if kind == CPU else MEMORY_RE
        if not regex.match(text):
            raise ValueError("%r is not a %s" % (text, kind))
        return text
    blank = isinstance(value, str) and not value.strip()
    if kind == BOOL:
        return copy.deepcopy(DEFAULTS[key]) if blank else parse_bool(value)
    if kind == INT:
        return copy.deepcopy(DEFAULTS[key]) if blank else parse_int(value)
    if kind == OPT_INT:
        return None if blank else parse_int(value)
    if kind == DURATION:
        return copy.deepcopy(DEFAULTS[key]) if blank else parse_duration(value)
    if kind == LIST:
        return [] if blank else parse_list(value)
    if kind == MAP:
        return {} if blank else parse_map(value)
    if kind == STRUCT:
        return None if blank else _parse_struct(value)
    if kind == STRUCT_LIST:
        if key == "infrastructure_roles_secrets":
            return _parse_infra_roles(value)
        parsed = [] if blank else _parse_struct(value)
        if parsed is None:
            return []
        if not isinstance(parsed, list):
            raise ValueError("expected a list")
        return parsed
    raise AssertionError("unknown kind %s" % kind)  # pragma: no cover


_FIXES = {
    BOOL: 'write "true" or "false"',
    INT: 'write a whole number such as "8"',
    OPT_INT: 'write a whole number such as "103", or leave it empty',
    DURATION: 'write a duration such as "10s", "5m" or "1h"',
    STR: "write a string",
    LIST: 'write a comma-separated list such as "a,b"',
    MAP: 'write comma-separated key:value pairs such as "a:b,c:d"',
    CPU: 'write a CPU quantity such as "250m" or "1"',
    MEMORY: 'write a memory quantity such as "250Mi" or "1Gi"',
    STRUCT: "write a YAML or JSON object",
    STRUCT_LIST: "write a YAML or JSON list",
}


def _flatten(data):
    """Flatten an OperatorConfiguration ``configuration`` (grouped) into ConfigMap keys."""
    flat = {}
    for key, value in data.items():
        if key in _GROUPS and key not in KINDS and isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[sub] = subvalue
        else:
            flat[key] = value
    return flat


def _unwrap(data):
    """Accept ConfigMap ``data``, a whole ConfigMap, or an OperatorConfiguration object."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ManifestErrors([ManifestError("config", "the operator configuration must be a mapping, got %s" % type(data).__name__,
                                            "pass the ConfigMap data (key: value) or the whole ConfigMap object")])
    kind = data.get("kind")
    if kind == "ConfigMap" or ("data" in data and ("apiVersion" in data or "metadata" in data)):
        return dict(data.get("data") or {})
    if kind == "OperatorConfiguration" or ("configuration" in data and ("apiVersion" in data or "metadata" in data)):
        return _flatten(dict(data.get("configuration") or {}))
    if any(g in data and isinstance(data[g], dict) and g not in KINDS for g in _GROUPS):
        return _flatten(data)
    return dict(data)


#: Operator settings we read and type-check but do not act on yet: key -> what happens instead.
#: :func:`load` warns ``config.<key>: ... not implemented`` when one is set to something else than
#: its default. This is the ONE list: whoever implements a key removes it here (and its test in
#: tests/unit/plugins/module_utils/test_opconfig.py).
NOT_IMPLEMENTED = {
    "ignored_annotations": "every annotation counts when objects are compared",
    "enable_ebs_gp3_migration": "volumes are not migrated to gp3",
    "enable_ebs_gp3_migration_max_size": "volumes are not migrated to gp3",
    "enable_finalizers": "no finalizer is set; deletion relies on the delete playbook",
    "master_pod_move_timeout": "primaries are not moved off draining nodes by the operator",
}


def not_implemented_warnings(cfg):
    """One warning per :data:`NOT_IMPLEMENTED` key that ``cfg`` (typed) sets away from its default."""
    out = []
    for key in sorted(NOT_IMPLEMENTED):
        if key in cfg and cfg[key] != DEFAULTS[key]:
            out.append("config.%s: read but not implemented by pgfleet yet (%s); the setting has no effect"
                       % (key, NOT_IMPLEMENTED[key]))
    return out


def load(data=None):
    """Return the full, typed operator configuration for ``data`` (see the module docstring).

    Raises :class:`ManifestErrors` naming every bad key as ``config.<key>``.
    """
    raw = _unwrap(data)
    result = copy.deepcopy(DEFAULTS)
    unknown = dict(raw.pop("_unknown", None) or {})
    warnings = []
    raw.pop("_warnings", None)
    errors = []
    for key, value in raw.items():
        key = str(key)
        kind = KINDS.get(key)
        if kind is None:
            unknown[key] = value
            continue
        try:
            parsed = _parse_value(key, kind, value)
        except (ValueError, TypeError) as exc:
            errors.append(_bad(key, "%r is not valid (%s)" % (value, exc), _FIXES[kind]))
            continue
        except Exception as exc:  # YAML/JSON errors of structured values
            errors.append(_bad(key, "could not parse %r (%s)" % (value, exc), _FIXES[kind]))
            continue
        result[key] = parsed
    for key, choices in CHOICES.items():
        if result[key] not in choices:
            errors.append(_bad(key, "%r is not one of %s" % (result[key], ", ".join(choices)),
                               "write one of %s" % ", ".join(choices)))
    errors.extend(_check_semantics(result))
    if errors:
        raise ManifestErrors(errors)
    for key in sorted(unknown):
        warnings.append("config.%s: unknown operator configuration key, ignored" % key)
    warnings.extend(not_implemented_warnings(result))
    result["_unknown"] = unknown
    result["_warnings"] = warnings
    return result


def _check_semantics(cfg):
    errors = []
    policy = cfg["persistent_volume_claim_retention_policy"]
    for key, val in policy.items():
        if key not in ("when_deleted", "when_scaled"):
            errors.append(_bad("persistent_volume_claim_retention_policy", "unknown key %r" % key,
                               'use "when_deleted:retain|delete,when_scaled:retain|delete"'))
        elif val not in ("retain", "delete"):
            errors.append(_bad("persistent_volume_claim_retention_policy", "%s must be retain or delete, got %r" % (key, val),
                               'use "when_deleted:retain,when_scaled:retain"'))
    for key in ("min_instances", "max_instances"):
        if cfg[key] < -1:
            errors.append(_bad(key, "%d is below -1" % cfg[key], "use -1 for no bound, or a count >= 0"))
    if cfg["min_instances"] >= 0 and cfg["max_instances"] >= 0 and cfg["min_instances"] > cfg["max_instances"]:
        errors.append(_bad("min_instances", "min_instances %d is above max_instances %d" % (cfg["min_instances"], cfg["max_instances"]),
                           "make min_instances <= max_instances"))
    for key in ("downscaler_annotations",):
        for pattern in cfg[key]:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append(_bad(key, "%r is not a valid regular expression (%s)" % (pattern, exc), "fix the pattern"))
    if cfg["connection_pooler_number_of_instances"] < 1:
        errors.append(_bad("connection_pooler_number_of_instances", "must be at least 1", 'write "2" (the default)'))
    if cfg["connection_pooler_max_db_connections"] < 1:
        errors.append(_bad("connection_pooler_max_db_connections", "must be at least 1", 'write "60" (the default)'))
    if not cfg["super_username"]:
        errors.append(_bad("super_username", "must not be empty", 'write "postgres"'))
    if not cfg["replication_username"]:
        errors.append(_bad("replication_username", "must not be empty", 'write "standby"'))
    for key in ("sidecars",):
        for i, item in enumerate(cfg[key]):
            if not isinstance(item, dict) or not item.get("name") or not item.get("image"):
                errors.append(_bad("%s[%d]" % (key, i), "a sidecar needs a name and an image", "add name: and image:"))
    if cfg["liveness_probe"] is not None and not isinstance(cfg["liveness_probe"], dict):
        errors.append(_bad("liveness_probe", "must be a probe object", "write a Kubernetes probe as YAML/JSON"))
    return errors


def to_configmap_data(cfg):
    """Render a typed configuration back to ConfigMap strings (durations as ``<n>s``)."""
    data = {}
    for key, kind in KINDS.items():
        val = cfg.get(key, DEFAULTS[key])
        if kind == BOOL:
            data[key] = "true" if val else "false"
        elif kind == DURATION:
            data[key] = "%ss" % val
        elif kind == LIST:
            data[key] = ",".join(val)
        elif kind == MAP:
            data[key] = ",".join("%s:%s" % (k, v) for k, v in val.items())
        elif kind in (STRUCT, STRUCT_LIST):
            data[key] = "" if val in (None, []) else json.dumps(val, sort_keys=True)
        elif val is None:
            data[key] = ""
        else:
            data[key] = str(val)
    return data
