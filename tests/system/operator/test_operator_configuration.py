"""The operator configuration as an OperatorConfiguration object (Zalando's Helm chart) or as the
ConfigMap: the same settings in either form give the same typed configuration and the same model.

The object is built from the reference ConfigMap the way the reference operator's CRD groups the
keys (a few at the top of ``configuration``, the rest in groups) with typed values - booleans,
numbers, lists and maps instead of strings. Both are stored in the API double and read over HTTP by
the code the reconcile runs (``k8s/state.read_state``), as POSTGRES_OPERATOR_CONFIGURATION_OBJECT
or CONFIG_MAP_NAME name them.
"""

import copy

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import Api
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import read_state
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig
from k8s_double import KubeDouble

from conftest import CRD_FILE, OPERATOR_NS, REPO, load_yaml, manifest, operator_configmap

pytestmark = [pytest.mark.k8s]

OPCONFIG_CRD = REPO + "/operator/config/crd/bases/acid.zalan.do_operatorconfigurations.yaml"

TOP = {"docker_image", "workers", "resync_period", "repair_period", "watched_namespace", "enable_crd_registration",
       "crd_categories", "etcd_host", "kubernetes_use_configmaps", "enable_pgversion_env_var",
       "enable_spilo_wal_path_compat", "enable_lazy_spilo_upgrade", "enable_team_id_clustername_prefix",
       "enable_shm_volume", "min_instances", "max_instances", "ignore_instance_limits_annotation_key",
       "ignore_resources_limits_annotation_key", "set_memory_request_to_limit", "enable_maintenance_windows",
       "maintenance_windows", "sidecar_docker_images", "sidecars"}
GROUPS = (
    ("users", ("super_username", "replication_username", "additional_owner_roles", "enable_password_rotation",
               "password_rotation_")),
    ("major_version_upgrade", ("major_version_upgrade_", "minimal_major_version", "target_major_version")),
    ("postgres_pod_resources", ("default_cpu_", "default_memory_", "min_cpu_limit", "min_memory_limit",
                                "max_cpu_request", "max_memory_request")),
    ("timeouts", ("patroni_api_check_", "resource_check_", "pod_label_wait_timeout", "pod_deletion_wait_timeout",
                  "ready_wait_")),
    ("connection_pooler", ("connection_pooler_",)),
    ("logical_backup", ("logical_backup_",)),
    ("load_balancer", ("enable_master_load_balancer", "enable_replica_load_balancer", "enable_master_pooler_load",
                       "enable_replica_pooler_load", "custom_service_annotations", "db_hosted_zone",
                       "external_traffic_policy", "master_dns_name_format", "replica_dns_name_format",
                       "master_legacy_dns_name_format", "replica_legacy_dns_name_format")),
    ("aws_or_gcp", ("wal_", "gcp_credentials", "log_s3_bucket", "kube_iam_role", "irsa_role_arn", "aws_region",
                    "additional_secret_mount", "enable_ebs_gp3_migration")),
    ("debug", ("debug_logging", "enable_database_access")),
    ("teams_api", ("enable_teams_api", "teams_api_url", "team_api_role_configuration", "enable_team_superuser",
                   "team_admin_role", "enable_admin_role_for_users", "pam_", "protected_role_names",
                   "postgres_superuser_teams", "role_deletion_suffix", "enable_team_member_deprecation",
                   "enable_postgres_team_crd")),
    ("logging_rest_api", ("api_port", "ring_log_lines", "cluster_history_entries")),
    ("patroni", ("enable_patroni_failsafe_mode",)),
)


def group_of(key):
    if key in TOP:
        return None
    for group, prefixes in GROUPS:
        if any(key == p or key.startswith(p) for p in prefixes):
            return group
    return "kubernetes"


def typed(key, value):
    """The value as a Helm chart writes it into the object: YAML types instead of ConfigMap strings."""
    kind = opconfig.KINDS.get(key)
    if kind == opconfig.BOOL:
        return opconfig.parse_bool(value)
    if kind == opconfig.INT:
        return opconfig.parse_int(value)
    if kind == opconfig.LIST:
        return opconfig.parse_list(value)
    if kind == opconfig.MAP:
        return opconfig.parse_map(value)
    return value


def operator_configuration(data, name="postgresql-operator-default-configuration"):
    configuration = {}
    for key, value in sorted(data.items()):
        group = group_of(key)
        target = configuration if group is None else configuration.setdefault(group, {})
        target[key] = typed(key, value)
    return {"apiVersion": "acid.zalan.do/v1", "kind": "OperatorConfiguration",
            "metadata": {"name": name, "namespace": OPERATOR_NS}, "configuration": configuration}


def without_passwords(value):
    if isinstance(value, dict):
        return dict((k, without_passwords(v)) for k, v in value.items() if k != "password")
    if isinstance(value, list):
        return [without_passwords(v) for v in value]
    return value


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    double = KubeDouble(controllers=False).start()
    kubeconfig = double.write_kubeconfig(str(tmp_path_factory.mktemp("opconfig") / "kubeconfig"))
    for obj in (load_yaml(CRD_FILE), load_yaml(OPCONFIG_CRD),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}):
        double.put_object(obj)
    try:
        yield double, Api({"kubeconfig": kubeconfig})
    finally:
        double.stop()


# settings away from the defaults, of every value kind, so that a key read wrong shows
OVERRIDES = {"enable_owner_references": "true", "workers": "4", "resync_period": "10m",
             "cluster_labels": "application:spilo,team:dba", "inherited_labels": "environment,cost-center",
             "protected_role_names": "admin,cron_admin,auditor", "connection_pooler_number_of_instances": "3",
             "pod_label_wait_timeout": "7m", "default_memory_limit": "700Mi", "enable_patroni_failsafe_mode": "true",
             "debug_logging": "false", "api_port": "8081", "min_instances": "2",
             "persistent_volume_claim_retention_policy": "when_deleted:delete,when_scaled:retain"}


def test_both_forms_give_the_same_configuration_and_model(api):
    double, client = api
    cm = operator_configmap(OVERRIDES)
    oc = operator_configuration(cm["data"])
    assert oc["configuration"]["kubernetes"]["enable_owner_references"] is True
    assert oc["configuration"]["connection_pooler"]["connection_pooler_number_of_instances"] == 3
    double.put_object(cm)
    double.put_object(oc)
    cr = manifest("acid-opconfig", "default", enableConnectionPooler=True)
    from_cm = read_state(client, manifest=cr, configmap=cm["metadata"]["name"], operator_namespace=OPERATOR_NS,
                         configmap_required=True, read_objects=False)
    from_oc = read_state(client, manifest=cr, configmap=cm["metadata"]["name"], operator_namespace=OPERATOR_NS,
                         configmap_required=True, read_objects=False,
                         configuration_object=oc["metadata"]["name"])
    assert from_cm["config_source"] == "ConfigMap %s/postgres-operator" % OPERATOR_NS
    assert from_oc["config_source"] == "OperatorConfiguration %s/%s" % (OPERATOR_NS, oc["metadata"]["name"])
    assert from_cm["invalid"] is None and from_oc["invalid"] is None, (from_cm["invalid"], from_oc["invalid"])
    assert from_oc["config"] == from_cm["config"]
    assert from_oc["config"]["workers"] == 4 and from_oc["config"]["enable_owner_references"] is True
    assert from_oc["config"]["pod_label_wait_timeout"] == 420
    assert from_oc["model_warnings"] == from_cm["model_warnings"]
    from ansible_collections.pgfleet.postgres.plugins.module_utils.model.manifest import build_model

    raw_cm = cm["data"]
    raw_oc = {"kind": "OperatorConfiguration", "configuration": copy.deepcopy(oc["configuration"])}
    assert without_passwords(build_model(cr, raw_oc)) == without_passwords(build_model(cr, raw_cm))


def test_a_missing_or_malformed_object_is_an_error_not_the_defaults(api):
    double, client = api
    with pytest.raises(KubernetesError) as err:
        read_state(client, manifest=manifest("acid-x"), operator_namespace=OPERATOR_NS, configmap_required=True,
                   read_objects=False, configuration_object="no-such-config")
    assert "POSTGRES_OPERATOR_CONFIGURATION_OBJECT" in str(err.value)
    bad = {"apiVersion": "acid.zalan.do/v1", "kind": "OperatorConfiguration",
           "metadata": {"name": "flat", "namespace": OPERATOR_NS}, "configuration": "workers: 4"}
    double.put_object(bad)
    with pytest.raises(KubernetesError) as err:
        read_state(client, manifest=manifest("acid-x"), operator_namespace=OPERATOR_NS, read_objects=False,
                   configuration_object="%s/flat" % OPERATOR_NS)
    assert "configuration" in str(err.value)
