# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re
from decimal import Decimal

import pytest
import yaml
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestErrors
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import manifest as m
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import opconfig
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets as pgsecrets
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import parse_quantity
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.roles import normalize_flags
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.windows import parse_maintenance_window

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "..", "..", "examples")  # verbatim copies of the reference manifests
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "manifests")


def _yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def ref(name):
    return _yaml(os.path.join(EXAMPLES, name))


def fixture(name):
    return _yaml(os.path.join(FIXTURES, name))


CONFIGMAP = ref("configmap.yaml")
COMPLETE = ref("complete-postgres-manifest.yaml")
MINIMAL = ref("minimal-postgres-manifest.yaml")


def minimal(**spec):
    cr = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
          "metadata": {"name": "acid-test", "namespace": "db"},
          "spec": {"teamId": "acid", "numberOfInstances": 2, "postgresql": {"version": "18"}, "volume": {"size": "1Gi"}}}
    cr["spec"].update(spec)
    return cr


def build(cr, config=None, existing=None):
    return m.build_model(cr, config, existing)


def errors_of(cr, config=None):
    with pytest.raises(ManifestErrors) as exc:
        build(cr, config)
    return exc.value


def roles_by_name(model):
    return dict((r["name"], r) for r in model["roles"])


# --------------------------------------------------------------------------------------------
# Reference manifests

@pytest.mark.parametrize("name", ["complete-postgres-manifest.yaml", "minimal-postgres-manifest.yaml"])
@pytest.mark.parametrize("config", [None, "configmap"])
def test_reference_manifests_build_without_errors_or_warnings(name, config):
    model = build(ref(name), CONFIGMAP if config else None)
    assert model["warnings"] == []
    assert model["pg_version"] == "18"
    assert model["instances"] == 2
    assert model["labels"]["selector"] == {"application": "spilo", "cluster-name": model["name"]}
    assert model["labels"]["object"]["team"] == "acid"


@pytest.mark.parametrize("name", ["edge-everything.yaml", "standby.yaml", "clone.yaml"])
@pytest.mark.parametrize("config", [None, "configmap"])
def test_own_fixtures_build(name, config):
    model = build(fixture(name), CONFIGMAP if config else None)
    assert model["name"].startswith("acid-")


def test_model_has_every_contract_key():
    model = build(MINIMAL)
    for key in ("name", "namespace", "uid", "generation", "cr_labels", "cr_annotations", "team", "config", "spec",
                "instances", "pg_version", "labels", "annotations", "resources", "dcs", "standby", "maintenance_windows",
                "pooler", "logical_backup", "roles", "databases", "prepared_databases", "secrets", "warnings", "names"):
        assert key in model, key
    for key in ("master", "replica", "user", "schema", "mode", "instances", "max_db_connections", "image", "resources"):
        assert key in model["pooler"]
    for role in model["roles"]:
        assert set(role) == {"name", "origin", "flags", "member_of", "admin", "parameters", "password", "secret", "is_db_owner"}
    for secret in model["secrets"]:
        assert set(secret) == {"name", "namespace", "username", "password", "role", "labels", "annotations"}


def test_complete_manifest_model():
    model = build(COMPLETE, CONFIGMAP)
    assert model["name"] == "acid-test-cluster" and model["namespace"] == "default" and model["uid"] is None
    assert model["dcs"] == "endpoints"  # the shipped ConfigMap says kubernetes_use_configmaps: "false"
    assert model["resources"] == {"requests": {"cpu": "10m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}}
    assert model["spec"]["postgresql"]["parameters"] == {"shared_buffers": "32MB", "max_connections": "10", "log_statement": "all"}
    assert model["spec"]["users"] == {"zalando": ["CREATEDB", "LOGIN", "SUPERUSER"], "foo_user": ["LOGIN"]}
    assert model["databases"] == {"foo": "zalando", "bar": "bar_owner"}
    assert model["tls"] is None  # secretName ""
    assert model["pooler"]["master"] is False and model["pooler"]["replica"] is False
    assert model["spec"]["patroni"]["initdb"] == {"encoding": "UTF8", "locale": "en_US.UTF-8", "data-checksums": "true"}
    prepared = model["prepared_databases"][0]
    assert prepared == {"name": "bar", "default_users": True, "extensions": {"pg_partman": "public", "pgcrypto": "public"},
                        "schemas": [{"name": "data", "default_roles": True, "default_users": False},
                                    {"name": "history", "default_roles": True, "default_users": False}],
                        "owner": "bar_owner", "secret_namespace": None}
    names = set(s["role"] for s in model["secrets"])
    assert names == {"postgres", "standby", "zalando", "foo_user", "bar_owner_user", "bar_reader_user", "bar_writer_user"}


def test_minimal_manifest_without_config_uses_v2_defaults():
    model = build(MINIMAL)
    assert model["dcs"] == "configmaps"
    assert model["resources"] == {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "500Mi"}}
    assert model["maintenance_windows"] == []
    assert model["standby"] is False and model["logical_backup"] is False
    assert model["logical_backup_schedule"] == "30 00 * * *"


# --------------------------------------------------------------------------------------------
# Normalisation


def test_deprecated_aliases_are_mapped_and_removed():
    cr = minimal(useLoadBalancer=True, replicaLoadBalancer=False, init_containers=[{"name": "i", "image": "busybox"}],
                 pod_priority_class_name="high")
    model = build(cr)
    spec = model["spec"]
    assert spec["enableMasterLoadBalancer"] is True and spec["enableReplicaLoadBalancer"] is False
    assert spec["initContainers"] == [{"name": "i", "image": "busybox"}]
    assert spec["podPriorityClassName"] == "high"
    for old in ("useLoadBalancer", "replicaLoadBalancer", "init_containers", "pod_priority_class_name"):
        assert old not in spec
        assert any(old in w for w in model["warnings"])


def test_v2_name_wins_over_alias():
    model = build(minimal(useLoadBalancer=True, enableMasterLoadBalancer=False))
    assert model["spec"]["enableMasterLoadBalancer"] is False
    assert any("useLoadBalancer" in w and "wins" in w for w in model["warnings"])


def test_input_is_not_modified():
    cr = minimal(useLoadBalancer=True, users={"a": ["login"]})
    before = copy.deepcopy(cr)
    build(cr)
    assert cr == before


def test_optional_lists_and_maps_default():
    spec = build(minimal())["spec"]
    for key in ("env", "sidecars", "initContainers", "additionalVolumes", "tolerations", "maintenanceWindows", "streams",
                "topologySpreadConstraints", "envFrom"):
        assert spec[key] == [], key
    for key in ("users", "databases", "podAnnotations", "serviceAnnotations", "patroni", "preparedDatabases"):
        assert spec[key] == {}, key
    assert spec["postgresql"]["parameters"] == {}


def test_parameters_become_strings():
    params = {"max_connections": 100, "fsync": False, "random_page_cost": 1.1, "x": None}
    model = build(minimal(postgresql={"version": 16, "parameters": params}))
    assert model["pg_version"] == "16" and model["spec"]["postgresql"]["version"] == "16"
    assert model["spec"]["postgresql"]["parameters"] == {"max_connections": "100", "fsync": "off", "random_page_cost": "1.1", "x": ""}


@pytest.mark.parametrize("flags,expected", [
    ([], ["LOGIN"]),
    (None, ["LOGIN"]),
    (["createdb"], ["CREATEDB", "LOGIN"]),
    (["superuser", "createdb"], ["CREATEDB", "LOGIN", "SUPERUSER"]),
    (["nologin"], []),
    (["NOLOGIN", "createrole"], ["CREATEROLE"]),
    (["login", "LOGIN", "Login"], ["LOGIN"]),
    (["noinherit", "replication", "bypassrls"], ["BYPASSRLS", "LOGIN", "NOINHERIT", "REPLICATION"]),
    (["nosuperuser", "nocreatedb", "nocreaterole", "noreplication", "nobypassrls"],
     ["LOGIN", "NOBYPASSRLS", "NOCREATEDB", "NOCREATEROLE", "NOREPLICATION", "NOSUPERUSER"]),
])
def test_flag_normalisation(flags, expected):
    assert normalize_flags(flags) == expected
    assert build(minimal(users={"u": flags}))["spec"]["users"]["u"] == expected


@pytest.mark.parametrize("flags,needle", [
    (["login", "nologin"], "LOGIN and NOLOGIN"),
    (["superuser", "NOSUPERUSER"], "SUPERUSER and NOSUPERUSER"),
    (["createdb", "nocreatedb"], "CREATEDB and NOCREATEDB"),
    (["admin"], "unknown flag"),
    (["create db"], "not alphanumeric"),
    ([1], "not alphanumeric"),
    ("login", "must be a list"),
])
def test_flag_errors(flags, needle):
    err = errors_of(minimal(users={"app": flags}))
    assert any(f.startswith("spec.users.app") for f in err.context["fields"])
    assert needle in err.msg


# --------------------------------------------------------------------------------------------
# Quantities and resources


@pytest.mark.parametrize("text,value", [
    ("1", Decimal(1)), ("1000m", Decimal(1)), ("250m", Decimal("0.25")), ("0.5", Decimal("0.5")),
    ("1Ki", Decimal(1024)), ("1Mi", Decimal(1048576)), ("1Gi", Decimal(1073741824)), ("1G", Decimal(10 ** 9)),
    ("500M", Decimal(500 * 10 ** 6)), ("1k", Decimal(1000)), ("1e3", Decimal(1000)), ("1.5Gi", Decimal(1610612736)),
    ("2E", Decimal(2 * 10 ** 18)), (3, Decimal(3)),
])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1 Gi", "1GB", "--1", True])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_quantities_compare_numerically():
    assert parse_quantity("1") == parse_quantity("1000m")
    assert parse_quantity("1024Mi") == parse_quantity("1Gi")


def cfg(**kw):
    return opconfig.load(dict(kw))


def test_resources_defaults_fill_empty_zero_and_null():
    res = m.container_resources({"requests": {"cpu": "0", "memory": "null"}, "limits": {"cpu": "", "memory": None}}, cfg())
    assert res == {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "500Mi"}}


def test_resources_raise_limits_to_minimum_with_warning():
    warnings = []
    res = m.container_resources({"requests": {"cpu": "10m", "memory": "10Mi"}, "limits": {"cpu": "100m", "memory": "100Mi"}},
                                cfg(), warnings=warnings)
    assert res["limits"] == {"cpu": "250m", "memory": "250Mi"}
    assert len(warnings) == 2 and "min_cpu_limit" in warnings[0]


def test_resources_numeric_comparison_keeps_equal_values():
    res = m.container_resources({"limits": {"cpu": "0.25", "memory": "262144Ki"}}, cfg())
    assert res["limits"] == {"cpu": "0.25", "memory": "262144Ki"}


def test_resources_limit_below_request_is_raised():
    res = m.container_resources({"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1500m", "memory": "512Mi"}}, cfg())
    assert res["limits"] == {"cpu": "2", "memory": "1Gi"}


def test_resources_memory_request_to_limit_then_max_caps():
    config = cfg(set_memory_request_to_limit="true", max_memory_request="1Gi", max_cpu_request="500m")
    res = m.container_resources({"requests": {"cpu": "1", "memory": "100Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}, config)
    assert res["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert res["limits"] == {"cpu": "2", "memory": "2Gi"}


def test_resources_ignore_annotation_skips_min_and_max():
    config = {"ignore_resources_limits_annotation_key": "ignore-limits", "max_cpu_request": "100m"}
    res_in = {"requests": {"cpu": "200m"}, "limits": {"cpu": "200m", "memory": "100Mi"}}
    cr = minimal(resources=res_in)
    cr["metadata"]["annotations"] = {"ignore-limits": "true"}
    assert build(cr, config)["resources"]["limits"] == {"cpu": "200m", "memory": "100Mi"}
    assert build(cr, config)["resources"]["requests"]["cpu"] == "200m"
    cr["metadata"]["annotations"] = {"ignore-limits": "false"}
    model = build(cr, config)
    assert model["resources"]["limits"]["cpu"] == "250m" and model["resources"]["requests"]["cpu"] == "100m"
    assert any("max_cpu_request" in w for w in model["warnings"])


def test_resources_hugepages_are_copied():
    res = m.container_resources({"requests": {"hugepages-2Mi": "128Mi"}, "limits": {"hugepages-1Gi": "1Gi"}}, cfg())
    assert res["requests"]["hugepages-2Mi"] == "128Mi" and res["limits"]["hugepages-1Gi"] == "1Gi"


def test_sidecar_and_pooler_resources_skip_min_and_max():
    config = cfg(max_cpu_request="50m")
    side = m.container_resources({"limits": {"cpu": "100m"}}, config, "sidecar")
    assert side == {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "100m", "memory": "500Mi"}}
    pool = m.container_resources(None, config, "pooler")
    assert pool == {"requests": {"cpu": "500m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "100Mi"}}
    lb = m.container_resources({}, cfg(logical_backup_cpu_request="300m", logical_backup_memory_limit="1Gi"), "logical_backup")
    assert lb == {"requests": {"cpu": "300m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def test_empty_default_leaves_the_value_out():
    res = m.container_resources({}, cfg(default_cpu_limit="", default_memory_limit="", min_cpu_limit="", min_memory_limit=""))
    assert res == {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {}}


def test_missing_limit_is_raised_to_the_minimum_like_zalando():
    warnings = []
    res = m.container_resources({}, cfg(default_cpu_limit="", default_memory_limit=""), warnings=warnings)
    assert res["limits"] == {"cpu": "250m", "memory": "250Mi"}
    assert "unset is below min_cpu_limit" in warnings[0]
    assert m.container_resources({}, cfg(default_cpu_limit=""), "sidecar")["limits"] == {"memory": "500Mi"}


# --------------------------------------------------------------------------------------------
# Instances, labels, annotations, DCS, standby


@pytest.mark.parametrize("n,lo,hi,expected", [(2, -1, -1, 2), (1, 2, -1, 2), (5, -1, 3, 3), (0, 1, 3, 1), (0, -1, -1, 0)])
def test_instance_clamp(n, lo, hi, expected):
    model = build(minimal(numberOfInstances=n), {"min_instances": str(lo), "max_instances": str(hi)})
    assert model["instances"] == expected
    assert (expected != n) == any("numberOfInstances" in w for w in model["warnings"])


def test_instance_clamp_skipped_by_annotation():
    config = {"min_instances": "2", "max_instances": "3", "ignore_instance_limits_annotation_key": "ignore-instance-limits"}
    cr = minimal(numberOfInstances=7)
    cr["metadata"]["annotations"] = {"ignore-instance-limits": "true"}
    assert build(cr, config)["instances"] == 7
    cr["metadata"]["annotations"] = {"ignore-instance-limits": "yes"}
    assert build(cr, config)["instances"] == 3


def test_single_pod_standby_is_exempt_from_limits():
    config = {"min_instances": "2"}
    assert build(fixture("standby.yaml"), config)["instances"] == 1
    cr = fixture("standby.yaml")
    cr["spec"]["numberOfInstances"] = 0
    assert build(cr, config)["instances"] == 2


def test_labels():
    cr = minimal()
    cr["metadata"]["labels"] = {"environment": "demo", "other": "x", "cluster-name": "evil", "team": "evil"}
    model = build(cr, {"inherited_labels": "environment,cluster-name,team", "cluster_labels": "application:spilo,tier:db",
                       "cluster_name_label": "cluster"})
    assert model["labels"]["selector"] == {"application": "spilo", "tier": "db", "cluster": "acid-test"}
    assert model["labels"]["object"] == {"application": "spilo", "tier": "db", "cluster": "acid-test", "team": "acid",
                                         "environment": "demo", "cluster-name": "evil"}
    assert any("metadata.labels.team" in w for w in model["warnings"])


def test_annotations():
    cr = minimal(podAnnotations={"pod": "manifest", "shared": "manifest"})
    cr["metadata"]["annotations"] = {"owned-by": "me", "downscaler/uptime": "always", "deployment-time": "now", "x": "y",
                                     "shared": "inherited"}
    config = {"inherited_annotations": "owned-by,shared", "downscaler_annotations": "deployment-time,downscaler/*",
              "custom_pod_annotations": "custom:1,pod:config", "kube_iam_role": "arn:role"}
    ann = build(cr, config)["annotations"]
    assert ann["inherited"] == {"owned-by": "me", "shared": "inherited"}
    assert ann["statefulset"] == {"owned-by": "me", "shared": "inherited", "downscaler/uptime": "always", "deployment-time": "now"}
    assert ann["pod"] == {"custom": "1", "pod": "manifest", "shared": "inherited", "owned-by": "me", "iam.amazonaws.com/role": "arn:role"}


@pytest.mark.parametrize("config,dcs", [
    ({}, "configmaps"), ({"kubernetes_use_configmaps": "false"}, "endpoints"),
    ({"etcd_host": "etcd:2379"}, "etcd"), ({"etcd_host": "etcd:2379", "kubernetes_use_configmaps": "true"}, "etcd"),
])
def test_dcs_mode(config, dcs):
    assert build(minimal(), config)["dcs"] == dcs


@pytest.mark.parametrize("env,standby", [
    ([], False),
    ([{"name": "STANDBY_WALE_S3_PREFIX", "value": "s3://b/p"}], True),
    ([{"name": "STANDBY_WALE_GS_PREFIX", "value": "gs://b/p"}], True),
    ([{"name": "STANDBY_WALE_GSC_PREFIX", "value": "x"}], True),
    ([{"name": "STANDBY_WALE_SWIFT_PREFIX", "value": "x"}], True),
    ([{"name": "standby_wale_s3_prefix", "value": "x"}], True),
    ([{"name": "STANDBY_WALE_S3_PREFIX", "value": ""}], False),
    ([{"name": "STANDBY_WALE_AZ_PREFIX", "value": "x"}], False),
])
def test_standby_from_env(env, standby):
    assert build(minimal(env=env))["standby"] is standby


def test_standby_section():
    model = build(fixture("standby.yaml"))
    assert model["standby"] is True
    assert model["spec"]["standby"]["standby_port"] == "5433"


# --------------------------------------------------------------------------------------------
# Maintenance windows


@pytest.mark.parametrize("text,window", [
    ("01:00-06:00", {"weekday": None, "start": "01:00", "end": "06:00"}),
    ("Sat:00:00-04:00", {"weekday": 5, "start": "00:00", "end": "04:00"}),
    ("Mon:1:5-2:7", {"weekday": 0, "start": "01:05", "end": "02:07"}),
    ("  Sun:22:00-23:59 ", {"weekday": 6, "start": "22:00", "end": "23:59"}),
    ("10:00-10:00", {"weekday": None, "start": "10:00", "end": "10:00"}),
    # issue 8: one parser for everybody; crossing midnight allowed, weekdays in any case
    ("22:00-02:00", {"weekday": None, "start": "22:00", "end": "02:00"}),
    ("Sat:22:00-02:00", {"weekday": 5, "start": "22:00", "end": "02:00"}),
    ("sat:01:00-02:00", {"weekday": 5, "start": "01:00", "end": "02:00"}),
    ("Saturday:01:00-02:00", {"weekday": 5, "start": "01:00", "end": "02:00"}),
])
def test_maintenance_window_parse(text, window):
    assert parse_maintenance_window(text) == window


@pytest.mark.parametrize("text,needle", [
    ("Foo:01:00-02:00", "unknown weekday"),
    ("Satx:01:00-02:00", "unknown weekday"),
    ("01:00-02:00\n", "not a maintenance window"),
    ("24:00-25:00", "not a time of day"),
    ("01:60-02:00", "not a time of day"),
    ("01:00", "not a maintenance window"),
    ("Sat:01:00-Sun:02:00", "not a maintenance window"),
    (5, "must be a string"),
])
def test_maintenance_window_errors(text, needle):
    with pytest.raises(ManifestErrors) as exc:
        parse_maintenance_window(text)
    assert needle in exc.value.msg


def test_maintenance_windows_from_manifest_else_config():
    config = {"maintenance_windows": "Sat:22:00-23:59,Sun:00:00-01:00"}
    assert [w["weekday"] for w in build(minimal(), config)["maintenance_windows"]] == [5, 6]
    assert build(minimal(maintenanceWindows=["01:00-02:00"]), config)["maintenance_windows"] == \
        [{"weekday": None, "start": "01:00", "end": "02:00"}]
    err = errors_of(minimal(), {"maintenance_windows": "23:00-01:99"})
    assert err.context["fields"] == ["config.maintenance_windows[0]"]


def test_maintenance_windows_switched_off_means_always():
    model = build(minimal(maintenanceWindows=["01:00-02:00"]), {"enable_maintenance_windows": "false"})
    assert model["maintenance_windows"] == []
    err = errors_of(minimal(maintenanceWindows=["02:00-25:00"]), {"enable_maintenance_windows": "false"})
    assert err.context["fields"] == ["spec.maintenanceWindows[0]"]


def test_a_window_crossing_midnight_is_kept_as_written():
    model = build(minimal(maintenanceWindows=["01:00-02:00", "fri:23:00-01:00"]))
    assert model["maintenance_windows"] == [{"weekday": None, "start": "01:00", "end": "02:00"},
                                            {"weekday": 4, "start": "23:00", "end": "01:00"}]


def test_a_bad_window_names_its_index():
    err = errors_of(minimal(maintenanceWindows=["01:00-02:00", "Fri:23:00-01:60"]))
    assert err.context["fields"] == ["spec.maintenanceWindows[1]"]


# --------------------------------------------------------------------------------------------
# Pooler and logical backup


@pytest.mark.parametrize("spec,master,replica", [
    ({}, False, False),
    ({"enableConnectionPooler": True}, True, False),
    ({"connectionPooler": {"mode": "session"}}, True, False),
    ({"connectionPooler": {}, "enableConnectionPooler": False}, False, False),
    ({"enableReplicaConnectionPooler": True}, False, True),
    ({"enableConnectionPooler": True, "enableReplicaConnectionPooler": True}, True, True),
    ({"connectionPooler": {}, "enableReplicaConnectionPooler": True}, True, True),
    ({"connectionPooler": {}, "enableConnectionPooler": False, "enableReplicaConnectionPooler": True}, False, True),
])
def test_pooler_enablement(spec, master, replica):
    pooler = build(minimal(**spec))["pooler"]
    assert (pooler["master"], pooler["replica"]) == (master, replica)


def test_pooler_settings_and_user():
    model = build(minimal(connectionPooler={"numberOfInstances": 3, "mode": "session", "schema": "pgb", "user": "bouncer",
                                            "maxDBConnections": 30, "dockerImage": "pgbouncer:x"}))
    pooler = model["pooler"]
    assert (pooler["instances"], pooler["mode"], pooler["schema"], pooler["user"], pooler["max_db_connections"], pooler["image"]) == \
        (3, "session", "pgb", "bouncer", 30, "pgbouncer:x")
    assert pooler["names"] == {"master": "acid-test-pooler", "replica": "acid-test-pooler-repl"}
    role = roles_by_name(model)["bouncer"]
    assert role["origin"] == "pooler" and role["flags"] == ["LOGIN"] and role["secret"]["name"].startswith("bouncer.acid-test.")
    secret = [s for s in model["secrets"] if s["role"] == "bouncer"][0]
    assert secret["labels"] == {"application": "db-connection-pooler", "cluster-name": "acid-test", "connection-pooler": "acid-test-pooler"}


def test_pooler_defaults_from_config():
    pooler = build(minimal(enableConnectionPooler=True), {"connection_pooler_number_of_instances": "4",
                                                          "connection_pooler_mode": "session"})["pooler"]
    assert pooler["instances"] == 4 and pooler["mode"] == "session" and pooler["user"] == "pooler"
    assert pooler["resources"] == {"requests": {"cpu": "500m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "100Mi"}}


def test_pooler_user_wins_over_manifest_user():
    model = build(minimal(enableConnectionPooler=True, users={"pooler": ["createdb"]}))
    assert roles_by_name(model)["pooler"]["origin"] == "pooler"
    assert any("pooler" in w and "wins" in w for w in model["warnings"])


def test_logical_backup():
    model = build(minimal(enableLogicalBackup=True, logicalBackupSchedule="*/5 * * * *"))
    assert model["logical_backup"] is True and model["logical_backup_schedule"] == "*/5 * * * *"
    model = build(minimal(), {"logical_backup_schedule": "0 1 * * *"})
    assert model["logical_backup"] is False and model["logical_backup_schedule"] == "0 1 * * *"


# --------------------------------------------------------------------------------------------
# Roles, databases, prepared databases, secrets


def test_prepared_databases_empty_map_means_one_database_named_like_the_cluster():
    cr = minimal(preparedDatabases={})
    cr["metadata"]["name"] = "acid-my-db"
    model = build(cr)
    assert [d["name"] for d in model["prepared_databases"]] == ["acid_my_db"]
    db = model["prepared_databases"][0]
    assert db["schemas"] == [{"name": "data", "default_roles": True, "default_users": False}]
    assert db["owner"] == "acid_my_db_owner" and model["databases"] == {"acid_my_db": "acid_my_db_owner"}


def test_no_prepared_databases_when_absent():
    model = build(minimal())
    assert model["prepared_databases"] == [] and model["databases"] == {}


def test_prepared_database_role_table():
    schemas = {"data": {}, "hist": {"defaultUsers": True}, "raw": {"defaultRoles": False}}
    cr = minimal(preparedDatabases={"bar": {"defaultUsers": True, "schemas": schemas}})
    roles = roles_by_name(build(cr, {"additional_owner_roles": "cron_admin"}))
    db_path = '"$user", "data", "hist", "raw"'
    expect = {
        # name: (flags, member_of, admin, search_path, is_db_owner)
        "bar_owner": ([], ["cron_admin"], "admin", db_path, True),
        "bar_reader": ([], [], "bar_owner", db_path, False),
        "bar_writer": ([], ["bar_reader"], "bar_owner", db_path, False),
        "bar_owner_user": (["LOGIN"], ["bar_owner", "cron_admin"], "admin", db_path, True),
        "bar_reader_user": (["LOGIN"], ["bar_reader"], "bar_owner", db_path, False),
        "bar_writer_user": (["LOGIN"], ["bar_writer"], "bar_owner", db_path, False),
        "bar_data_owner": ([], ["cron_admin"], "bar_owner", '"$user", "data"', True),
        "bar_data_reader": ([], [], "bar_data_owner", '"$user", "data"', False),
        "bar_data_writer": ([], ["bar_data_reader"], "bar_data_owner", '"$user", "data"', False),
        "bar_hist_owner": ([], ["cron_admin"], "bar_owner", '"$user", "hist"', True),
        "bar_hist_reader": ([], [], "bar_hist_owner", '"$user", "hist"', False),
        "bar_hist_writer": ([], ["bar_hist_reader"], "bar_hist_owner", '"$user", "hist"', False),
        "bar_hist_owner_user": (["LOGIN"], ["bar_hist_owner", "cron_admin"], "bar_owner", '"$user", "hist"', True),
        "bar_hist_reader_user": (["LOGIN"], ["bar_hist_reader"], "bar_hist_owner", '"$user", "hist"', False),
        "bar_hist_writer_user": (["LOGIN"], ["bar_hist_writer"], "bar_hist_owner", '"$user", "hist"', False),
    }
    for name, (flags, member_of, admin, path, owner) in expect.items():
        role = roles[name]
        assert role["origin"] == "prepared", name
        assert role["flags"] == flags, name
        assert role["member_of"] == member_of, name
        assert role["admin"] == admin, name
        assert role["parameters"] == {"search_path": path}, name
        assert role["is_db_owner"] is owner, name
        assert (role["password"] is not None) == ("LOGIN" in flags), name
    assert not any(n.startswith("bar_raw") or n.startswith("bar_data_") and n.endswith("_user") for n in roles)
    assert roles["cron_admin"]["origin"] == "system" and roles["cron_admin"]["flags"] == []


def test_roles_are_ordered_after_their_dependencies():
    model = build(COMPLETE)
    seen = set()
    names = set(r["name"] for r in model["roles"])
    for role in model["roles"]:
        for dep in role["member_of"] + ([role["admin"]] if role["admin"] else []):
            if dep in names:
                assert dep in seen, (role["name"], dep)
        seen.add(role["name"])
    assert [r["name"] for r in model["roles"]][:2] == ["postgres", "standby"]


def test_system_and_manifest_roles():
    model = build(minimal(users={"app": ["createdb"], "robot": ["nologin"]}, databases={"appdb": "app"}))
    roles = roles_by_name(model)
    assert roles["postgres"]["flags"] == ["LOGIN", "SUPERUSER"] and roles["postgres"]["origin"] == "system"
    assert roles["standby"]["flags"] == ["LOGIN", "REPLICATION"]
    assert roles["app"] == dict(roles["app"], origin="manifest", flags=["CREATEDB", "LOGIN"], admin="admin", is_db_owner=True)
    assert roles["robot"]["flags"] == [] and roles["robot"]["password"] is None and roles["robot"]["secret"] is None
    assert model["databases"] == {"appdb": "app"}


def test_admin_role_for_users_switch():
    roles = roles_by_name(build(minimal(users={"app": []}), {"enable_admin_role_for_users": "false"}))
    assert roles["app"]["admin"] is None
    roles = roles_by_name(build(minimal(users={"app": []}), {"team_admin_role": "dba"}))
    assert roles["app"]["admin"] == "dba"


def test_protected_and_system_users_are_skipped_with_a_warning():
    model = build(minimal(users={"admin": [], "cron_admin": [], "postgres": ["superuser"], "standby": [], "ok": []}))
    assert model["spec"]["users"] == {"ok": ["LOGIN"]}
    assert roles_by_name(model)["postgres"]["origin"] == "system"
    assert len([w for w in model["warnings"] if "skipped" in w]) == 4


def test_stream_user():
    cr = minimal(streams=[{"applicationId": "a", "database": "foo", "tables": {"data.t": {"eventType": "e"}}}])
    role = roles_by_name(build(cr))["fes_user"]
    assert role["origin"] == "stream" and role["flags"] == ["LOGIN", "REPLICATION"]


def test_databases_override_prepared_owner():
    model = build(minimal(users={"app": []}, databases={"bar": "app"}, preparedDatabases={"bar": {}}))
    assert model["databases"]["bar"] == "app" and model["prepared_databases"][0]["owner"] == "app"
    assert any("spec.databases.bar" in w for w in model["warnings"])


def test_database_owner_unknown_is_refused():
    # was a warning; issue 9 item 6: render must refuse what local and reconcile cannot create
    err = errors_of(minimal(databases={"foo": "someone"}))
    assert err.context["fields"] == ["spec.databases.foo"] and "someone" in err.msg


def test_secrets_names_labels_and_generated_passwords():
    cr = minimal(users={"foo_user": []})
    cr["metadata"]["annotations"] = {"owned-by": "me"}
    model = build(cr, {"inherited_annotations": "owned-by"})
    by_role = dict((s["role"], s) for s in model["secrets"])
    assert set(by_role) == {"postgres", "standby", "foo_user"}
    s = by_role["foo_user"]
    assert s["name"] == "foo-user.acid-test.credentials.postgresql.acid.zalan.do" and s["namespace"] == "db"
    assert s["username"] == "foo_user" and re.match(r"^[A-Za-z0-9]{64}$", s["password"])
    assert s["labels"] == {"application": "spilo", "cluster-name": "acid-test", "team": "acid"}
    assert s["annotations"] == {"owned-by": "me"}
    assert roles_by_name(model)["foo_user"]["password"] == s["password"]
    assert roles_by_name(model)["foo_user"]["secret"] == {"name": s["name"], "namespace": "db"}


def test_passwords_are_stable_when_secrets_exist():
    cr = minimal(users={"foo_user": []})
    first = build(cr)
    existing = dict((s["name"], {"username": s["username"], "password": s["password"]}) for s in first["secrets"])
    second = build(cr, None, existing)
    assert [(s["name"], s["password"]) for s in first["secrets"]] == [(s["name"], s["password"]) for s in second["secrets"]]
    assert build(cr)["secrets"][0]["password"] != first["secrets"][0]["password"]


def test_existing_secrets_as_kubernetes_objects():
    cr = minimal(users={"foo_user": []})
    name = pgsecrets.secret_name("foo_user", "acid-test")
    obj = pgsecrets.credential_secret(name, "db", "foo_user", "kept-password")
    for existing in ([obj], {name: obj}, {"db/" + name: {"username": "foo_user", "password": "kept-password"}}):
        model = build(cr, None, existing)
        assert roles_by_name(model)["foo_user"]["password"] == "kept-password"


def test_existing_secret_with_a_rotated_username_is_kept():
    cr = minimal(users={"foo_user": []})
    name = pgsecrets.secret_name("foo_user", "acid-test")
    model = build(cr, None, {name: {"username": "foo_user250101", "password": "p"}})
    secret = [s for s in model["secrets"] if s["role"] == "foo_user"][0]
    assert secret["username"] == "foo_user250101" and secret["password"] == "p"
    # a rotated username is normal since password rotation exists: no warning on every reconcile
    assert not any("rotated" in w or "foo_user250101" in w for w in model["warnings"])


def test_cross_namespace_secrets():
    cr = minimal(users={"test.db_user": []}, preparedDatabases={"bar": {"defaultUsers": True, "secretNamespace": "apps"}})
    on = build(cr, {"enable_cross_namespace_secret": "true"})
    by_role = dict((s["role"], s) for s in on["secrets"])
    assert by_role["test.db_user"]["namespace"] == "test"
    assert by_role["test.db_user"]["name"] == "test.db-user.acid-test.credentials.postgresql.acid.zalan.do"
    assert by_role["bar_owner_user"]["namespace"] == "apps"
    assert by_role["bar_owner_user"]["name"] == "bar-owner-user.acid-test.credentials.postgresql.acid.zalan.do"
    assert by_role["postgres"]["namespace"] == "db"
    off = build(cr)
    assert set(s["namespace"] for s in off["secrets"]) == {"db"}
    assert any("secretNamespace is ignored" in w for w in off["warnings"])


def test_custom_secret_name_template():
    model = build(minimal(users={"app_user": []}), {"secret_name_template": "{cluster}-{username}"})
    assert set(s["name"] for s in model["secrets"]) == {"acid-test-postgres", "acid-test-standby", "acid-test-app-user"}


def test_secret_name_collision_is_an_error():
    err = errors_of(minimal(users={"app_user": [], "app-user": []}))
    assert "would hold the credentials of both" in err.msg


def test_tls_normalised():
    model = build(minimal(tls={"secretName": "my-tls", "caFile": "ca.crt", "caSecretName": "my-ca"}))
    assert model["tls"] == {"secretName": "my-tls", "certificateFile": "tls.crt", "privateKeyFile": "tls.key",
                            "caFile": "ca.crt", "caSecretName": "my-ca"}
    assert build(minimal(tls={"secretName": ""}))["tls"] is None


def test_clone_normalised():
    model = build(fixture("clone.yaml"))
    assert model["clone"]["cluster"] == "acid-minimal-cluster" and model["clone"]["timestamp"] == "2025-12-19T12:40:33+01:00"
    assert build(minimal(clone={"cluster": "acid-src"}))["clone"]["timestamp"] == ""


def test_edge_fixture_details():
    model = build(fixture("edge-everything.yaml"), {"inherited_labels": "environment", "inherited_annotations": "owned-by"})
    assert model["namespace"] == "edge" and model["uid"] == "5f6e2a9c-3b1d-4c2e-9a7f-0d1e2f3a4b5c" and model["generation"] == 3
    assert model["labels"]["object"]["environment"] == "demo"
    assert model["pooler"]["resources"]["limits"]["memory"] == "50Mi"  # raised to its request
    assert model["spec"]["patroni"]["initdb"]["data-checksums"] == "true"
    assert model["spec"]["initContainers"][0]["name"] == "init-perms"
    assert model["logical_backup"] is True
    assert [w for w in model["warnings"] if "targetContainers" in w] == []


def test_warnings_include_unknown_config_keys_and_unsupported_features():
    model = build(minimal(), {"no_such_key": "1", "enable_finalizers": "true", "ignored_annotations": "a/b"})
    text = " ".join(model["warnings"])
    assert "config.no_such_key" in text and "config.enable_finalizers" in text and "config.ignored_annotations" in text


def test_rotation_lists_naming_unknown_users_warn():
    model = build(minimal(users={"a": []}, usersWithSecretRotation=["a", "ghost"]))
    assert any("ghost" in w for w in model["warnings"]) and not any("'a'" in w for w in model["warnings"])


# --------------------------------------------------------------------------------------------
# Validation: a table of invalid manifests, each checked for the field in the message

LONG = "x" * 64


def _without(key):
    cr = minimal()
    del cr["spec"][key]
    return cr


def _named(name, **spec):
    cr = minimal(**spec)
    cr["metadata"]["name"] = name
    return cr


INVALID = [
    # (id, manifest, config, field expected in the message)
    ("name-uppercase", _named("Acid-Test"), None, "metadata.name"),
    ("name-underscore", _named("acid_test"), None, "metadata.name"),
    ("name-trailing-dash", _named("acid-"), None, "metadata.name"),
    ("name-leading-digit", _named("1acid"), None, "metadata.name"),
    ("name-too-long", _named("acid-" + "a" * 54), None, "metadata.name"),
    ("name-missing", _named(None), None, "metadata.name"),
    ("name-team-prefix", _named("other-cluster"), {"enable_team_id_clustername_prefix": "true"}, "metadata.name"),
    ("name-team-prefix-only", _named("acid-"), {"enable_team_id_clustername_prefix": "true"}, "metadata.name"),
    ("team-missing", _without("teamId"), None, "spec.teamId"),
    ("team-bad-label", minimal(teamId="acid team!"), None, "spec.teamId"),
    ("instances-missing", _without("numberOfInstances"), None, "spec.numberOfInstances"),
    ("instances-negative", minimal(numberOfInstances=-1), None, "spec.numberOfInstances"),
    ("instances-string", minimal(numberOfInstances="2"), None, "spec.numberOfInstances"),
    ("instances-bool", minimal(numberOfInstances=True), None, "spec.numberOfInstances"),
    ("postgresql-missing", _without("postgresql"), None, "spec.postgresql"),
    ("version-missing", minimal(postgresql={}), None, "spec.postgresql.version"),
    ("version-too-old", minimal(postgresql={"version": "12"}), None, "spec.postgresql.version"),
    ("version-too-new", minimal(postgresql={"version": "19"}), None, "spec.postgresql.version"),
    ("parameters-not-map", minimal(postgresql={"version": "18", "parameters": ["a"]}), None, "spec.postgresql.parameters"),
    ("parameter-nested", minimal(postgresql={"version": "18", "parameters": {"a": {"b": 1}}}), None, "spec.postgresql.parameters.a"),
    ("volume-missing", _without("volume"), None, "spec.volume"),
    ("volume-size-missing", minimal(volume={}), None, "spec.volume.size"),
    ("volume-size-bad", minimal(volume={"size": "1GB"}), None, "spec.volume.size"),
    ("volume-iops", minimal(volume={"size": "1Gi", "iops": 90000}), None, "spec.volume.iops"),
    ("volume-throughput", minimal(volume={"size": "1Gi", "throughput": 2001}), None, "spec.volume.throughput"),
    ("cpu-bad", minimal(resources={"requests": {"cpu": "1Gi"}}), None, "spec.resources.requests.cpu"),
    ("cpu-too-precise", minimal(resources={"limits": {"cpu": "0.0001"}}), None, "spec.resources.limits.cpu"),
    ("memory-bad", minimal(resources={"limits": {"memory": "lots"}}), None, "spec.resources.limits.memory"),
    ("hugepages-bad", minimal(resources={"limits": {"hugepages-2Mi": "x"}}), None, "spec.resources.limits.hugepages-2Mi"),
    ("user-uppercase", minimal(users={"Foo": []}), None, "spec.users.Foo"),
    ("user-trailing-underscore", minimal(users={"foo_": []}), None, "spec.users.foo_"),
    ("user-too-long", minimal(users={LONG: []}), None, "spec.users." + LONG),
    ("user-login-nologin", minimal(users={"foo": ["LOGIN", "NOLOGIN"]}), None, "spec.users.foo"),
    ("user-unknown-flag", minimal(users={"foo": ["superduper"]}), None, "spec.users.foo[0]"),
    ("database-too-long", minimal(databases={"d" * 64: "zalando"}), None, "spec.databases." + "d" * 64),
    ("database-owner", minimal(databases={"foo": ["a"]}), None, "spec.databases.foo"),
    ("prepared-extension-schema", minimal(preparedDatabases={"foo": {"extensions": {"pgcrypto": "pub lic"}}}), None,
     "spec.preparedDatabases.foo.extensions.pgcrypto"),
    ("prepared-generated-role-too-long", minimal(preparedDatabases={"d" * 40: {"schemas": {"s" * 20: {"defaultUsers": True}}}}),
     None, "spec.preparedDatabases.%s.schemas.%s" % ("d" * 40, "s" * 20)),
    ("prepared-db-role-too-long", minimal(preparedDatabases={"d" * 55: {"defaultUsers": True}}), None,
     "spec.preparedDatabases." + "d" * 55),
    ("prepared-default-users-type", minimal(preparedDatabases={"foo": {"defaultUsers": "yes"}}), None,
     "spec.preparedDatabases.foo.defaultUsers"),
    ("window-syntax", minimal(maintenanceWindows=["Sat 01:00-02:00"]), None, "spec.maintenanceWindows[0]"),
    ("window-weekday", minimal(maintenanceWindows=["Xyz:23:00-01:00"]), None, "spec.maintenanceWindows[0]"),
    ("schedule-range", minimal(logicalBackupSchedule="0 1-5 * * *"), None, "spec.logicalBackupSchedule"),
    ("schedule-fields", minimal(logicalBackupSchedule="0 1 * *"), None, "spec.logicalBackupSchedule"),
    ("clone-cluster-missing", minimal(clone={"timestamp": "2025-12-19T12:40:33+01:00"}), None, "spec.clone.cluster"),
    ("clone-cluster-bad-service", minimal(clone={"cluster": "Acid_Src"}), None, "spec.clone.cluster"),
    ("clone-timestamp-z", minimal(clone={"cluster": "a", "timestamp": "2025-12-19T12:40:33Z"}), None, "spec.clone.timestamp"),
    ("clone-timestamp-no-offset", minimal(clone={"cluster": "a", "timestamp": "2025-12-19T12:40:33"}), None, "spec.clone.timestamp"),
    ("clone-timestamp-bad-date", minimal(clone={"cluster": "a", "timestamp": "2025-13-19T12:40:33+01:00"}), None,
     "spec.clone.timestamp"),
    ("clone-timestamp-bad-offset", minimal(clone={"cluster": "a", "timestamp": "2025-12-19T12:40:33+25:00"}), None,
     "spec.clone.timestamp"),
    ("clone-timestamp-feb-30", minimal(clone={"cluster": "a", "timestamp": "2025-02-30T12:40:33+01:00"}), None,
     "spec.clone.timestamp"),
    ("node-affinity-type", minimal(nodeAffinity=["x"]), None, "spec.nodeAffinity"),
    ("liveness-probe-type", minimal(livenessProbe="http"), None, "spec.livenessProbe"),
    ("clone-uid", minimal(clone={"cluster": "a", "uid": "not-a-uuid"}), None, "spec.clone.uid"),
    ("source-range", minimal(allowedSourceRanges=["10.0.0.1"]), None, "spec.allowedSourceRanges[0]"),
    ("source-range-bad", minimal(allowedSourceRanges=["127.0.0.1/32", "300.0.0.0/8"]), None, "spec.allowedSourceRanges[1]"),
    ("sidecar-no-image", minimal(sidecars=[{"name": "s"}]), None, "spec.sidecars[0].image"),
    ("sidecar-no-name", minimal(sidecars=[{"image": "busybox"}]), None, "spec.sidecars[0].name"),
    ("sidecar-named-postgres", minimal(sidecars=[{"name": "postgres", "image": "x"}]), None, "spec.sidecars[0].name"),
    ("sidecar-disabled", minimal(sidecars=[{"name": "s", "image": "x"}]), {"enable_sidecars": "false"}, "spec.sidecars"),
    ("sidecar-bad-resources", minimal(sidecars=[{"name": "s", "image": "x", "resources": {"limits": {"cpu": "x"}}}]), None,
     "spec.sidecars[0].resources.limits.cpu"),
    ("init-no-name", minimal(initContainers=[{"image": "busybox"}]), None, "spec.initContainers[0].name"),
    ("init-disabled", minimal(initContainers=[{"name": "i", "image": "x"}]), {"enable_init_containers": "false"}, "spec.initContainers"),
    ("init-duplicate-name", minimal(initContainers=[{"name": "i", "image": "x"}], sidecars=[{"name": "i", "image": "x"}]), None,
     "spec.sidecars[0].name"),
    ("volume-no-source", minimal(additionalVolumes=[{"name": "v", "mountPath": "/v"}]), None, "spec.additionalVolumes[0].volumeSource"),
    ("volume-no-name", minimal(additionalVolumes=[{"mountPath": "/v", "volumeSource": {"emptyDir": {}}}]), None,
     "spec.additionalVolumes[0].name"),
    ("volume-all-mixed", minimal(additionalVolumes=[{"name": "v", "mountPath": "/v", "targetContainers": ["all", "postgres"],
                                                     "volumeSource": {"emptyDir": {}}}]), None, "spec.additionalVolumes[0].targetContainers"),
    ("volume-reserved-name", minimal(additionalVolumes=[{"name": "dshm", "mountPath": "/v", "volumeSource": {"emptyDir": {}}}]), None,
     "spec.additionalVolumes[0].name"),
    ("tls-secret-missing", minimal(tls={"caFile": "ca.crt"}), None, "spec.tls.secretName"),
    ("tls-secret-bad", minimal(tls={"secretName": "My_Secret"}), None, "spec.tls.secretName"),
    ("pooler-mode", minimal(connectionPooler={"mode": "statement"}), None, "spec.connectionPooler.mode"),
    ("pooler-instances", minimal(connectionPooler={"numberOfInstances": 0}), None, "spec.connectionPooler.numberOfInstances"),
    ("pooler-user-superuser", minimal(connectionPooler={"user": "postgres"}), None, "spec.connectionPooler.user"),
    ("pooler-user-invalid", minimal(enableConnectionPooler=True, connectionPooler={"user": "Pool"}), None, "spec.connectionPooler.user"),
    ("pooler-schema", minimal(connectionPooler={"schema": "my-schema"}), None, "spec.connectionPooler.schema"),
    ("pooler-max-conn-type", minimal(connectionPooler={"maxDBConnections": "60"}), None, "spec.connectionPooler.maxDBConnections"),
    ("standby-empty", minimal(standby={}), None, "spec.standby"),
    ("standby-s3-and-gs", minimal(standby={"s3_wal_path": "s3://a", "gs_wal_path": "gs://b"}), None, "spec.standby"),
    ("standby-port", minimal(standby={"standby_host": "h", "standby_port": "port"}), None, "spec.standby.standby_port"),
    ("env-no-name", minimal(env=[{"value": "x"}]), None, "spec.env[0].name"),
    ("topology-spread", minimal(topologySpreadConstraints=[{"maxSkew": 1}]), None, "spec.topologySpreadConstraints[0].topologyKey"),
    ("streams-table-event", minimal(streams=[{"applicationId": "a", "database": "d", "tables": {"t": {}}}]), None,
     "spec.streams[0].tables.t.eventType"),
    ("lb-flag-type", minimal(enableMasterLoadBalancer="yes"), None, "spec.enableMasterLoadBalancer"),
    ("run-as-user", minimal(spiloRunAsUser=-1), None, "spec.spiloRunAsUser"),
    ("patroni-ttl", minimal(patroni={"ttl": "30"}), None, "spec.patroni.ttl"),
    ("patroni-sync-mode", minimal(patroni={"synchronous_mode": "on"}), None, "spec.patroni.synchronous_mode"),
    ("patroni-slot", minimal(patroni={"slots": {"s": {"type": "logical"}}}), None, "spec.patroni.slots.s"),
    ("patroni-pg-hba", minimal(patroni={"pg_hba": "host all all 0.0.0.0/0 md5"}), None, "spec.patroni.pg_hba"),
    ("users-not-map", minimal(users=["a"]), None, "spec.users"),
    ("tolerations-not-list", minimal(tolerations={"key": "x"}), None, "spec.tolerations"),
    ("annotations-nested", minimal(podAnnotations={"a": {"b": "c"}}), None, "spec.podAnnotations.a"),
    ("config-bad-value", minimal(), {"workers": "x"}, "config.workers"),
    ("config-pooler-user-protected", minimal(enableConnectionPooler=True), {"connection_pooler_user": "admin"},
     "config.connection_pooler_user"),
    ("config-additional-owner-too-long", minimal(databases={"foo": "postgres"}), {"additional_owner_roles": LONG},
     "config.additional_owner_roles"),
    ("rotation-list-item", minimal(usersWithSecretRotation=[{"a": 1}]), None, "spec.usersWithSecretRotation[0]"),
    ("env-from-item", minimal(envFrom=["x"]), None, "spec.envFrom[0]"),
    ("toleration-item", minimal(tolerations=["x"]), None, "spec.tolerations[0]"),
    ("storage-class-type", minimal(volume={"size": "1Gi", "storageClass": 5}), None, "spec.volume.storageClass"),
    ("volume-selector-type", minimal(volume={"size": "1Gi", "selector": "x"}), None, "spec.volume.selector"),
    ("streams-database", minimal(streams=[{"applicationId": "a", "database": "my-db", "tables": {"t": {"eventType": "e"}}}]), None,
     "spec.streams[0].database"),
    ("streams-application", minimal(streams=[{"database": "d", "tables": {"t": {"eventType": "e"}}}]), None,
     "spec.streams[0].applicationId"),
    ("tls-ca-secret", minimal(tls={"secretName": "ok", "caSecretName": "Not_OK"}), None, "spec.tls.caSecretName"),
    ("volume-duplicate-name", minimal(additionalVolumes=[{"name": "a", "mountPath": "/a", "volumeSource": {"emptyDir": {}}},
                                                         {"name": "a", "mountPath": "/b", "volumeSource": {"emptyDir": {}}}]),
     None, "spec.additionalVolumes[1].name"),
    ("volume-targets-type", minimal(additionalVolumes=[{"name": "a", "mountPath": "/a", "targetContainers": "all",
                                                        "volumeSource": {"emptyDir": {}}}]), None, "spec.additionalVolumes[0].targetContainers"),
    ("docker-image-type", minimal(dockerImage=["x"]), None, "spec.dockerImage"),
    ("prepared-secret-namespace", minimal(preparedDatabases={"foo": {"secretNamespace": "Bad_NS"}}), None,
     "spec.preparedDatabases.foo.secretNamespace"),
    ("prepared-extension-name", minimal(preparedDatabases={"foo": {"extensions": {"bad ext": "public"}}}), None,
     "spec.preparedDatabases.foo.extensions.bad ext"),
    ("prepared-schema-flag-type", minimal(preparedDatabases={"foo": {"schemas": {"s": {"defaultRoles": "no"}}}}), None,
     "spec.preparedDatabases.foo.schemas.s.defaultRoles"),
    ("slot-name", minimal(patroni={"slots": {"Bad-Slot": {"type": "physical"}}}), None, "spec.patroni.slots.Bad-Slot"),
    ("initdb-type", minimal(patroni={"initdb": ["x"]}), None, "spec.patroni.initdb"),
    ("secret-template-invalid", minimal(), {"secret_name_template": "{username}_{cluster}"}, "config.secret_name_template"),
    ("labels-nested", dict(minimal(), metadata={"name": "acid-x", "labels": {"a": ["b"]}}), None, "metadata.labels.a"),
    ("api-version", dict(minimal(), apiVersion="acid.zalan.do/v2"), None, "apiVersion"),
    ("kind", dict(minimal(), kind="Postgresql"), None, "kind"),
    ("spec-missing", {"metadata": {"name": "acid-x"}}, None, "spec"),
]


@pytest.mark.parametrize("cr,config,field", [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_manifests_name_the_field(cr, config, field):
    err = errors_of(cr, config)
    assert field in err.context["fields"], (field, err.msg)
    assert field + ":" in err.msg
    error = [e for e in err.errors if e.field == field][0]
    assert error.fix, "every error says how to fix it"


#: Items Zalando skips: the cluster is reconciled without them and a warning names the field and
#: the fix (id, manifest, field the warning names, what must be absent from the model).
SKIPPED = [
    ("database-name", minimal(databases={"foo-bar": "zalando"}), "spec.databases.foo-bar",
     lambda m: "foo-bar" not in m["databases"]),
    ("database-digit", minimal(databases={"1db": "zalando"}), "spec.databases.1db", lambda m: "1db" not in m["databases"]),
    ("prepared-db-name", minimal(preparedDatabases={"foo-bar": {}}), "spec.preparedDatabases.foo-bar",
     lambda m: "foo-bar" not in [d["name"] for d in m["prepared_databases"]]),
    ("prepared-schema-name", minimal(preparedDatabases={"foo": {"schemas": {"my-schema": {}, "ok": {}}}}),
     "spec.preparedDatabases.foo.schemas.my-schema",
     lambda m: [s["name"] for d in m["prepared_databases"] for s in d["schemas"]] == ["ok"]),
    ("prepared-extension-schema", minimal(preparedDatabases={"foo": {"extensions": {"pgcrypto": "my-schema"}}}),
     "spec.preparedDatabases.foo.extensions.pgcrypto", lambda m: m["prepared_databases"][0]["extensions"] == {}),
    ("volume-pgdata-path", minimal(additionalVolumes=[{"name": "v", "mountPath": "/home/postgres/pgdata", "volumeSource": {"emptyDir": {}}}]),
     "spec.additionalVolumes[0]", lambda m: m["spec"]["additionalVolumes"] == []),
    ("volume-repeated-path", minimal(additionalVolumes=[{"name": "a", "mountPath": "/v", "volumeSource": {"emptyDir": {}}},
                                                        {"name": "b", "mountPath": "/v", "volumeSource": {"emptyDir": {}}}]),
     "spec.additionalVolumes[1]", lambda m: [v["name"] for v in m["spec"]["additionalVolumes"]] == ["a"]),
    ("node-port", minimal(masterNodePort=80, enableMasterNodePort=True), "spec.masterNodePort",
     lambda m: m["spec"].get("masterNodePort") is None),
    ("pooler-max-conn-0", minimal(enableConnectionPooler=True, connectionPooler={"maxDBConnections": 0}),
     "spec.connectionPooler.maxDBConnections", lambda m: m["pooler"]["max_db_connections"] == 60),
]


@pytest.mark.parametrize("cr,field,absent", [row[1:] for row in SKIPPED], ids=[row[0] for row in SKIPPED])
def test_items_zalando_skips_are_skipped_with_a_warning(cr, field, absent):
    model = build(cr)
    warned = [w for w in model["warnings"] if w.startswith(field + ":")]
    assert warned and "skipped" in warned[0] and "; " in warned[0], model["warnings"]
    assert absent(model)


def test_a_hostile_name_is_still_refused_not_skipped():
    for cr, field in ((minimal(databases={"foo\nbar": "zalando"}), "spec.databases.foo\nbar"),
                      (minimal(preparedDatabases={"foo": {"schemas": {"a'; DROP": {}}}}),
                       "spec.preparedDatabases.foo.schemas.a'; DROP")):
        assert field in errors_of(cr, None).context["fields"]


def test_all_problems_are_reported_at_once():
    cr = _named("Bad_Name", numberOfInstances=-3, users={"Foo": [], "bar": ["login", "nologin"]},
                databases={"x y": "bar"}, maintenanceWindows=["25:00-26:00"], postgresql={"version": "9"})
    err = errors_of(cr, {"workers": "many"})
    assert set(err.context["fields"]) >= {"metadata.name", "spec.numberOfInstances", "spec.users.Foo", "spec.users.bar",
                                          "spec.databases.x y", "spec.maintenanceWindows[0]", "spec.postgresql.version",
                                          "config.workers"}
    assert err.msg.startswith("invalid postgresql manifest (")


def test_not_a_mapping():
    with pytest.raises(ManifestErrors) as exc:
        build(["not", "a", "manifest"])
    assert exc.value.context["fields"] == ["manifest"]


def test_valid_edge_values():
    model = build(minimal(users={"a": [], "a1.b-c_d": [], "0": []}, allowedSourceRanges=["fd00::/8", "0.0.0.0/0"],
                          databases={"_db": "a", "DB2": "a"}, logicalBackupSchedule="*/5 */2 1 1 0",
                          clone={"cluster": "src", "timestamp": "2025-12-19T12:40:33.1-05:30"}))
    assert model["spec"]["users"]["a1.b-c_d"] == ["LOGIN"]
    name = "a" + "-" * 56 + "z"
    assert build(_named(name))["name"] == name  # 58 characters is fine
    assert build(_named("acid-x"), {"enable_team_id_clustername_prefix": "true"})["name"] == "acid-x"
    assert build(_named("ACID-x".lower()), {"enable_team_id_clustername_prefix": "true"})


def test_patroni_values_patroni_would_adjust_are_warnings():
    model = build(minimal(patroni={"ttl": 10, "loop_wait": 10, "retry_timeout": 2}))
    text = " ".join(model["warnings"])
    assert "ttl: 10 is below" in text and "retry_timeout: 2 is below" in text and "exceeds ttl" in text


def test_unknown_volume_target_is_a_warning():
    vol = {"name": "a", "mountPath": "/a", "targetContainers": ["ghost"], "volumeSource": {"emptyDir": {}}}
    model = build(minimal(additionalVolumes=[vol]))
    assert any("ghost" in w for w in model["warnings"])
    model = build(minimal(additionalVolumes=[vol]), {"sidecars": [{"name": "ghost", "image": "x"}]})
    assert not any("ghost" in w for w in model["warnings"])


def test_unknown_resource_keys_are_warnings():
    model = build(minimal(resources={"requests": {"gpu": "1"}, "extra": {}}))
    assert any("requests.gpu" in w for w in model["warnings"]) and any("resources.extra" in w for w in model["warnings"])


def test_pooler_settings_shown_when_disabled():
    pooler = build(minimal(connectionPooler={"user": "pgb"}, enableConnectionPooler=False))["pooler"]
    assert pooler["master"] is False and pooler["user"] == "pgb" and pooler["resources"] is None


def test_scalar_coercions_for_hand_written_manifests():
    model = build(minimal(patroni={"initdb": {"data-checksums": True, "encoding": "UTF8"}},
                          standby={"standby_host": "src", "standby_port": 5433}))
    assert model["spec"]["patroni"]["initdb"] == {"data-checksums": "true", "encoding": "UTF8"}
    assert model["spec"]["standby"]["standby_port"] == "5433"


def test_team_prefix_is_case_insensitive():
    cr = _named("acid-db", teamId="ACID")
    assert build(cr, {"enable_team_id_clustername_prefix": "true"})["team"] == "ACID"


def test_own_fixtures_are_valid_for_the_crd_too():
    """Our fixtures hold only values the API server accepts (strings where the CRD says string)."""
    for name in ("edge-everything.yaml", "standby.yaml", "clone.yaml"):
        cr = fixture(name)
        assert all(isinstance(v, str) for v in cr["spec"]["postgresql"].get("parameters", {}).values())
        assert all(isinstance(v, str) for v in cr["spec"].get("patroni", {}).get("initdb", {}).values())


# --------------------------------------------------------------------------------------------
# Reserved names are refused at the door (issue 9 item 6): render, local and reconcile agree


@pytest.mark.parametrize("user", ["pg_signal_backend", "pg_monitor", "public", "none", "current_user"])
def test_reserved_user_names_are_refused_naming_spec_users(user):
    err = errors_of(minimal(users={"app": [], user: []}))
    assert err.context["fields"] == ["spec.users.%s" % user]
    assert "reserved" in err.msg and "roles[" not in err.msg


@pytest.mark.parametrize("db", ["template0", "template1", "postgres"])
def test_reserved_databases_are_refused_naming_spec_databases(db):
    err = errors_of(minimal(users={"app": []}, databases={db: "app"}))
    assert err.context["fields"] == ["spec.databases.%s" % db]


def test_reserved_prepared_database_is_refused():
    err = errors_of(minimal(preparedDatabases={"template1": {}}))
    assert err.context["fields"] == ["spec.preparedDatabases.template1"]


def test_a_database_owner_that_is_no_role_is_refused():
    err = errors_of(minimal(users={"app": []}, databases={"foo": "nobody"}))
    assert err.context["fields"] == ["spec.databases.foo"]
    assert "spec.users" in err.msg


def test_database_owners_may_be_system_or_prepared_roles():
    model = build(minimal(databases={"a": "postgres", "b": "shop_owner"}, preparedDatabases={"shop": {}}))
    assert model["databases"]["a"] == "postgres" and model["databases"]["b"] == "shop_owner"


def test_reserved_vocabulary_is_one_definition():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.model import roles
    assert roles.reserved_role_problem("pg_x") and roles.reserved_role_problem("PUBLIC")
    assert roles.reserved_role_problem("app") is None
    assert roles.reserved_database_problem("template0") and roles.reserved_database_problem("app") is None


# --------------------------------------------------------------------------------------------
# Names: decided once in model/names.py, carried in the model


def test_names_follow_the_operator_configuration():
    names = build(minimal(), {"pdb_name_format": "pdb-{cluster}-x", "logical_backup_job_prefix": "lb-"})["names"]
    assert names["pdb_primary"] == "pdb-acid-test-x" and names["pdb_critical_op"] == "postgres-acid-test-critical-op-pdb"
    assert names["pooler"] == {"master": "acid-test-pooler", "replica": "acid-test-pooler-repl"}
    assert names["pooler_auth_secret"] == {"master": "acid-test-pooler-u", "replica": "acid-test-pooler-repl-u"}
    assert names["logical_backup_job"] == "lb-acid-test"
    assert names["service_replica"] == "acid-test-repl" and names["service_config"] == "acid-test-config"
    assert names["dcs"] == ["acid-test-config", "acid-test-leader", "acid-test-sync", "acid-test-failover"]


def test_default_names_and_the_cronjob_name_limit():
    cr = minimal()
    cr["metadata"]["name"] = "acid-" + "x" * 50 + "-y"
    names = build(cr)["names"]
    assert names["pdb_primary"] == "postgres-%s-pdb" % cr["metadata"]["name"]
    assert len(names["logical_backup_job"]) <= 52 and not names["logical_backup_job"].endswith("-")


# --------------------------------------------------------------------------------------------
# The model is built without secrets; a separate pure step attaches credentials


def test_the_model_without_credentials_holds_no_password():
    model = m.build_model_without_credentials(minimal(users={"app": []}))
    assert all(s["password"] is None for s in model["secrets"]) and all(r["password"] is None for r in model["roles"])


def test_attach_credentials_reuses_existing_and_generates_the_rest_without_touching_the_model():
    model = m.build_model_without_credentials(minimal(users={"app": []}))
    name = pgsecrets.secret_name("app", "acid-test")
    full = m.attach_credentials(model, {name: {"username": "app", "password": "kept"}})
    by_role = dict((s["role"], s) for s in full["secrets"])
    assert by_role["app"]["password"] == "kept" and by_role["postgres"]["password"]
    assert dict((r["name"], r["password"]) for r in full["roles"])["app"] == "kept"
    assert all(s["password"] is None for s in model["secrets"])  # the input stays secret-free
    assert [s["name"] for s in full["secrets"]] == [s["name"] for s in model["secrets"]]


def test_build_model_is_the_model_plus_credentials():
    a = m.build_model(minimal(users={"app": []}), None, None, credentials=False)
    assert all(s["password"] is None for s in a["secrets"])
    b = m.build_model(minimal(users={"app": []}))
    assert all(s["password"] for s in b["secrets"])


@pytest.mark.parametrize("mode, version, expected", [("full", "13", "18"), ("full", "15", "15"), ("manual", "13", "13"),
                                                     ("off", "13", "13")])
def test_full_upgrade_mode_runs_a_major_below_minimal_as_target(mode, version, expected):
    config = {"major_version_upgrade_mode": mode, "minimal_major_version": "14", "target_major_version": "18"}
    model = build(minimal(postgresql={"version": version}), config)
    assert model["pg_version"] == expected
    warned = [w for w in model["warnings"] if w.startswith("spec.postgresql.version: %s is below" % version)]
    assert bool(warned) == (expected != version)
