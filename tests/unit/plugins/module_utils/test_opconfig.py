# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "examples")

# Every key of the Zalando operator ConfigMap.
SPEC9_KEYS = """
docker_image workers resync_period repair_period watched_namespace enable_crd_registration crd_categories etcd_host
kubernetes_use_configmaps enable_pgversion_env_var enable_spilo_wal_path_compat enable_lazy_spilo_upgrade
enable_team_id_clustername_prefix enable_shm_volume min_instances max_instances ignore_instance_limits_annotation_key
ignore_resources_limits_annotation_key set_memory_request_to_limit enable_maintenance_windows maintenance_windows
super_username replication_username additional_owner_roles enable_password_rotation password_rotation_interval
password_rotation_user_retention major_version_upgrade_mode major_version_upgrade_team_allow_list minimal_major_version
target_major_version cluster_labels cluster_name_label pod_role_label inherited_labels inherited_annotations
downscaler_annotations ignored_annotations custom_pod_annotations secret_name_template pdb_name_format
pdb_master_label_selector enable_pod_disruption_budget pod_service_account_name pod_service_account_definition
pod_service_account_role_binding_definition pod_terminate_grace_period pod_management_policy enable_readiness_probe
liveness_probe spilo_runasuser spilo_runasgroup spilo_fsgroup spilo_privileged spilo_allow_privilege_escalation
additional_pod_capabilities pod_environment_configmap pod_environment_secret enable_init_containers enable_sidecars
share_pgsocket_with_sidecars toleration node_readiness_label node_readiness_label_merge enable_pod_antiaffinity
pod_antiaffinity_topology_key pod_antiaffinity_preferred_during_scheduling pod_priority_class_name master_pod_move_timeout
enable_owner_references enable_finalizers delete_annotation_date_key delete_annotation_name_key enable_secrets_deletion
enable_persistent_volume_claim_deletion persistent_volume_claim_retention_policy storage_resize_mode
enable_cross_namespace_secret cluster_domain oauth_token_secret_name infrastructure_roles_secrets
infrastructure_roles_secret_name default_cpu_request default_memory_request default_cpu_limit default_memory_limit
min_cpu_limit min_memory_limit max_cpu_request max_memory_request sidecars sidecar_docker_images scalyr_api_key
scalyr_image enable_patroni_failsafe_mode patroni_api_check_interval patroni_api_check_timeout resource_check_interval
resource_check_timeout pod_label_wait_timeout pod_deletion_wait_timeout ready_wait_interval ready_wait_timeout
enable_master_load_balancer enable_replica_load_balancer enable_master_pooler_load_balancer
enable_replica_pooler_load_balancer enable_master_node_port enable_replica_node_port enable_master_pooler_node_port
enable_replica_pooler_node_port custom_service_annotations db_hosted_zone external_traffic_policy master_dns_name_format
replica_dns_name_format master_legacy_dns_name_format replica_legacy_dns_name_format wal_s3_bucket wal_gs_bucket
wal_az_storage_account gcp_credentials log_s3_bucket kube_iam_role irsa_role_arn aws_region additional_secret_mount
additional_secret_mount_path logical_backup_docker_image logical_backup_provider logical_backup_schedule
logical_backup_job_prefix logical_backup_s3_bucket logical_backup_s3_bucket_prefix logical_backup_s3_region
logical_backup_s3_endpoint logical_backup_s3_access_key_id logical_backup_s3_secret_access_key logical_backup_s3_sse
logical_backup_s3_retention_time logical_backup_google_application_credentials logical_backup_azure_storage_account_name
logical_backup_azure_storage_container logical_backup_azure_storage_account_key logical_backup_cronjob_environment_secret
logical_backup_cpu_request logical_backup_cpu_limit logical_backup_memory_request logical_backup_memory_limit
logical_backup_successful_jobs_history_limit logical_backup_failed_jobs_history_limit
logical_backup_ttl_seconds_after_finished enable_teams_api teams_api_url team_api_role_configuration enable_team_superuser
team_admin_role enable_admin_role_for_users pam_role_name pam_configuration protected_role_names postgres_superuser_teams
role_deletion_suffix enable_team_member_deprecation enable_postgres_team_crd enable_postgres_team_crd_superusers
connection_pooler_number_of_instances connection_pooler_schema connection_pooler_user connection_pooler_image
connection_pooler_max_db_connections connection_pooler_mode connection_pooler_default_cpu_request
connection_pooler_default_memory_request connection_pooler_default_cpu_limit connection_pooler_default_memory_limit
debug_logging enable_database_access api_port ring_log_lines cluster_history_entries
""".split()


def _configmap():
    with open(os.path.join(EXAMPLES, "configmap.yaml")) as f:
        return yaml.safe_load(f)


def _configmap_keys_incl_comments():
    keys = set()
    with open(os.path.join(EXAMPLES, "configmap.yaml")) as f:
        for line in f:
            match = re.match(r"^\s+#?\s*([a-z_0-9]+):", line)
            if match and match.group(1) not in ("data", "name"):
                keys.add(match.group(1))
    return keys


def _field(exc):
    return [e.field for e in exc.value.errors]


@pytest.mark.parametrize("key", SPEC9_KEYS)
def test_every_spec9_key_has_a_default(key):
    assert key in opconfig.DEFAULTS


def test_every_configmap_key_has_a_default_including_commented_ones():
    missing = _configmap_keys_incl_comments() - set(opconfig.DEFAULTS)
    assert not missing


def test_defaults_are_typed():
    d = opconfig.DEFAULTS
    assert d["workers"] == 8 and d["resync_period"] == 1800 and d["repair_period"] == 300
    assert d["pod_terminate_grace_period"] == 300 and d["master_pod_move_timeout"] == 1200
    assert d["kubernetes_use_configmaps"] is True and d["enable_pgversion_env_var"] is True
    assert d["cluster_labels"] == {"application": "spilo"}
    assert d["protected_role_names"] == ["admin", "cron_admin"]
    assert d["persistent_volume_claim_retention_policy"] == {"when_deleted": "retain", "when_scaled": "retain"}
    assert (d["default_cpu_request"], d["default_memory_request"], d["default_cpu_limit"], d["default_memory_limit"]) == \
        ("100m", "100Mi", "1", "500Mi")
    assert (d["min_cpu_limit"], d["min_memory_limit"]) == ("250m", "250Mi")
    assert d["min_instances"] == -1 and d["max_instances"] == -1
    assert d["spilo_fsgroup"] is None
    assert d["docker_image"] == "ghcr.io/zalando/spilo-18:4.1-p2"


def test_load_none_gives_every_key():
    cfg = opconfig.load()
    for key in opconfig.DEFAULTS:
        assert cfg[key] == opconfig.DEFAULTS[key]
    assert cfg["_unknown"] == {} and cfg["_warnings"] == []


def test_load_does_not_share_mutable_defaults():
    cfg = opconfig.load()
    cfg["cluster_labels"]["x"] = "y"
    cfg["protected_role_names"].append("z")
    assert opconfig.load()["cluster_labels"] == {"application": "spilo"}
    assert opconfig.DEFAULTS["protected_role_names"] == ["admin", "cron_admin"]


def test_shipped_configmap_whole_object_and_data_give_the_same():
    cm = _configmap()
    whole = opconfig.load(cm)
    data = opconfig.load(cm["data"])
    assert whole == data
    assert whole["_warnings"] == []
    assert whole["kubernetes_use_configmaps"] is False
    assert whole["watched_namespace"] == "*"
    assert whole["resync_period"] == 1800
    assert whole["ready_wait_interval"] == 3
    assert whole["persistent_volume_claim_retention_policy"] == {"when_deleted": "retain", "when_scaled": "retain"}
    assert whole["team_api_role_configuration"] == {"log_statement": "all"}
    assert whole["enable_spilo_wal_path_compat"] is True
    assert whole["api_port"] == 8080
    assert whole["crd_categories"] == ["all"]


def test_load_is_idempotent():
    cfg = opconfig.load(_configmap())
    assert opconfig.load(cfg) == cfg
    cfg2 = opconfig.load({"nope": "1", "workers": "3"})
    assert opconfig.load(cfg2) == cfg2


@pytest.mark.parametrize("raw,seconds", [
    ("5m", 300), ("10s", 10), ("1h", 3600), ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5),
    ("0", 0), ("90", 90), (45, 45), ("2h0m0s", 7200), ("1m30s", 90),
])
def test_durations(raw, seconds):
    assert opconfig.load({"resync_period": raw})["resync_period"] == seconds
    assert opconfig.parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["5 minutes", "m5", "-5m", "5x", "1h-3m", True, "h"])
def test_bad_durations(raw):
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"resync_period": raw})
    assert _field(exc) == ["config.resync_period"]
    assert "duration" in str(exc.value)


@pytest.mark.parametrize("raw,value", [("true", True), ("false", False), ("True", True), ("FALSE", False),
                                       ("1", True), ("0", False), (True, True), (False, False), ("t", True)])
def test_bools(raw, value):
    assert opconfig.load({"enable_sidecars": raw})["enable_sidecars"] is value


def test_bad_bool_names_the_key():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"enable_sidecars": "maybe"})
    assert _field(exc) == ["config.enable_sidecars"]
    assert '"true" or "false"' in str(exc.value)


def test_ints():
    cfg = opconfig.load({"workers": "4", "min_instances": "-1", "max_instances": 5, "spilo_fsgroup": "103",
                         "spilo_runasuser": "", "api_port": ""})
    assert cfg["workers"] == 4 and cfg["min_instances"] == -1 and cfg["max_instances"] == 5
    assert cfg["spilo_fsgroup"] == 103 and cfg["spilo_runasuser"] is None and cfg["api_port"] == 8080


@pytest.mark.parametrize("key,raw", [("workers", "eight"), ("workers", "1.5"), ("spilo_fsgroup", "x"), ("workers", True),
                                     ("min_instances", "-2"), ("connection_pooler_number_of_instances", "0")])
def test_bad_ints(key, raw):
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({key: raw})
    assert _field(exc) == ["config.%s" % key]


def test_lists_and_maps():
    cfg = opconfig.load({
        "inherited_labels": "application, environment,,",
        "protected_role_names": "",
        "additional_pod_capabilities": ["SYS_NICE", " CHOWN "],
        "cluster_labels": "application:spilo,tier:db",
        "toleration": "key:db-only,operator:Exists,effect:NoSchedule",
        "custom_pod_annotations": "a:b:c, d:",
        "node_readiness_label": {"status": "ready"},
        "custom_service_annotations": '{"x": "y"}',
        "maintenance_windows": "Sat:22:00-23:59,Sun:00:00-01:00",
    })
    assert cfg["inherited_labels"] == ["application", "environment"]
    assert cfg["protected_role_names"] == []
    assert cfg["additional_pod_capabilities"] == ["SYS_NICE", "CHOWN"]
    assert cfg["cluster_labels"] == {"application": "spilo", "tier": "db"}
    assert cfg["toleration"] == {"key": "db-only", "operator": "Exists", "effect": "NoSchedule"}
    assert cfg["custom_pod_annotations"] == {"a": "b:c", "d": ""}
    assert cfg["node_readiness_label"] == {"status": "ready"}
    assert cfg["custom_service_annotations"] == {"x": "y"}
    assert cfg["maintenance_windows"] == ["Sat:22:00-23:59", "Sun:00:00-01:00"]


@pytest.mark.parametrize("key,raw", [("cluster_labels", "application"), ("cluster_labels", ":x"),
                                     ("toleration", {"a": {"b": "c"}}), ("inherited_labels", [{"a": 1}]),
                                     ("custom_pod_annotations", "[1]")])
def test_bad_maps_and_lists(key, raw):
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({key: raw})
    assert _field(exc) == ["config.%s" % key]


@pytest.mark.parametrize("key,raw,ok", [
    ("default_cpu_request", "250m", True), ("default_cpu_request", "1.5", True), ("default_cpu_request", "1Gi", False),
    ("default_memory_limit", "1Gi", True), ("default_memory_limit", "500M", True), ("default_memory_limit", "lots", False),
    ("max_memory_request", "", True), ("logical_backup_cpu_limit", "", True), ("min_cpu_limit", "0.1234", False),
])
def test_quantities(key, raw, ok):
    if ok:
        assert opconfig.load({key: raw})[key] == raw
    else:
        with pytest.raises(ManifestErrors) as exc:
            opconfig.load({key: raw})
        assert _field(exc) == ["config.%s" % key]


@pytest.mark.parametrize("key,raw", [("pod_management_policy", "random"), ("node_readiness_label_merge", "XOR"),
                                     ("major_version_upgrade_mode", "auto"), ("storage_resize_mode", "grow"),
                                     ("connection_pooler_mode", "statement"), ("logical_backup_provider", "ftp"),
                                     ("external_traffic_policy", "Global"),
                                     ("persistent_volume_claim_retention_policy", "when_deleted:keep"),
                                     ("persistent_volume_claim_retention_policy", "when_moved:retain")])
def test_choices(key, raw):
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({key: raw})
    assert _field(exc) == ["config.%s" % key]


def test_all_bad_keys_are_reported_at_once():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"workers": "x", "enable_sidecars": "sometimes", "resync_period": "z"})
    assert sorted(_field(exc)) == ["config.enable_sidecars", "config.resync_period", "config.workers"]


def test_min_above_max_instances():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"min_instances": "3", "max_instances": "2"})
    assert _field(exc) == ["config.min_instances"]


def test_bad_downscaler_regex():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"downscaler_annotations": "downscaler/(*"})
    assert _field(exc) == ["config.downscaler_annotations"]


def test_unknown_keys_are_kept_and_warned():
    cfg = opconfig.load({"made_up_key": "1", "workers": "2"})
    assert cfg["_unknown"] == {"made_up_key": "1"}
    assert cfg["_warnings"] == ["config.made_up_key: unknown operator configuration key, ignored"]
    assert "made_up_key" not in cfg


def test_structured_values():
    cfg = opconfig.load({
        "sidecars": '[{"name": "log", "image": "busybox"}]',
        "liveness_probe": "httpGet: {path: /liveness, port: 8008}\nperiodSeconds: 10",
        "infrastructure_roles_secrets": "secretname:monitoring-roles,userkey:user,passwordkey:password,rolekey:inrole",
    })
    assert cfg["sidecars"] == [{"name": "log", "image": "busybox"}]
    assert cfg["liveness_probe"]["httpGet"]["port"] == 8008
    assert cfg["infrastructure_roles_secrets"] == [{"secretname": "monitoring-roles", "userkey": "user",
                                                    "passwordkey": "password", "rolekey": "inrole"}]
    typed = opconfig.load({"infrastructure_roles_secrets": [{"secretname": "a"}]})
    assert typed["infrastructure_roles_secrets"] == [{"secretname": "a"}]


def test_bad_structured_values():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load({"sidecars": '[{"name": "log"}]', "liveness_probe": "[1, 2]"})
    assert sorted(_field(exc)) == ["config.liveness_probe", "config.sidecars[0]"]


def test_operator_configuration_object_is_flattened():
    cfg = opconfig.load({
        "apiVersion": "acid.zalan.do/v1",
        "kind": "OperatorConfiguration",
        "metadata": {"name": "postgresql-operator-default-configuration"},
        "configuration": {
            "docker_image": "spilo:x",
            "workers": 4,
            "kubernetes": {"cluster_labels": {"application": "db"}, "pod_terminate_grace_period": "1m"},
            "postgres_pod_resources": {"default_cpu_request": "200m"},
            "timeouts": {"pod_label_wait_timeout": "5m"},
            "teams_api": {"enable_teams_api": False},
            "patroni": {"enable_patroni_failsafe_mode": True},
        },
    })
    assert cfg["docker_image"] == "spilo:x" and cfg["workers"] == 4
    assert cfg["cluster_labels"] == {"application": "db"}
    assert cfg["pod_terminate_grace_period"] == 60 and cfg["pod_label_wait_timeout"] == 300
    assert cfg["default_cpu_request"] == "200m"
    assert cfg["enable_patroni_failsafe_mode"] is True


def test_not_a_mapping():
    with pytest.raises(ManifestErrors) as exc:
        opconfig.load(["workers"])
    assert _field(exc) == ["config"]


def test_to_configmap_data_round_trips():
    cfg = opconfig.load(_configmap())
    data = opconfig.to_configmap_data(cfg)
    assert all(isinstance(v, str) for v in data.values())
    again = opconfig.load(data)
    for key in opconfig.DEFAULTS:
        assert again[key] == cfg[key], key


# --------------------------------------------------------------------------------------------
# Settings we read but do not implement (issue 9 item 13)


def test_every_not_implemented_key_is_a_known_key():
    assert set(opconfig.NOT_IMPLEMENTED) <= set(opconfig.DEFAULTS)


def test_defaults_give_no_not_implemented_warning():
    assert [w for w in opconfig.load(None)["_warnings"] if "not implemented" in w] == []


@pytest.mark.parametrize("key, value, implemented", [
    ("major_version_upgrade_mode", "full", True),
    ("ignored_annotations", "foo/bar", False),
    ("enable_finalizers", "true", False),
    ("enable_teams_api", "true", True),
    ("infrastructure_roles_secret_name", "infra", True),
    ("infrastructure_roles_secrets", "secretname:monitoring-roles,userkey:user,passwordkey:password", True),
])
def test_a_set_but_not_implemented_key_warns_by_name(key, value, implemented):
    warnings = opconfig.load({key: value})["_warnings"]
    named = [w for w in warnings if w.startswith("config.%s: read but not implemented" % key)]
    assert not named if implemented else named, warnings
