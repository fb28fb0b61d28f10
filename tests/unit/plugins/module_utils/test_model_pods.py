# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""model["pod"], model["pooler"]["security_context"], model["logical_backup_pod"]: decided once in model/pods.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.pgfleet.postgres.tests.unit.plugins.module_utils.model_cases import small_model


def _model(config=None, **spec):
    return small_model(config, **spec)


def test_defaults():
    model = _model()
    pod = model["pod"]
    assert pod["image"] == model["config"]["docker_image"]
    assert pod["security_context"] == {} and pod["priority_class_name"] is None
    assert pod["scheduler_name"] == "default-scheduler" and pod["pod_management_policy"] == "OrderedReady"
    assert pod["pvc_retention_policy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert pod["postgres_security_context"] == {"allowPrivilegeEscalation": True, "privileged": False, "readOnlyRootFilesystem": False}
    assert pod["volume_claim_spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                                        "volumeMode": "Filesystem"}
    assert model["pooler"]["security_context"] == {"runAsUser": 100, "runAsGroup": 101}
    assert model["logical_backup_pod"]["image"] == model["config"]["logical_backup_docker_image"]


def test_manifest_wins_over_the_operator_config_even_with_zero():
    config = {"spilo_runasuser": "101", "spilo_runasgroup": "103", "spilo_fsgroup": "103",
              "pod_priority_class_name": "config-priority", "docker_image": "example.org/spilo:1"}
    pod = _model(config)["pod"]
    assert pod["security_context"] == {"runAsUser": 101, "runAsGroup": 103, "fsGroup": 103}
    assert pod["priority_class_name"] == "config-priority" and pod["image"] == "example.org/spilo:1"
    model = _model(config, spiloRunAsUser=0, spiloFSGroup=0, podPriorityClassName="own", dockerImage="example.org/own:2",
                   schedulerName="custom")
    assert model["pod"]["security_context"] == {"runAsUser": 0, "runAsGroup": 103, "fsGroup": 0}
    assert model["pod"]["priority_class_name"] == "own" and model["pod"]["image"] == "example.org/own:2"
    assert model["pod"]["scheduler_name"] == "custom"
    assert model["pooler"]["security_context"] == {"runAsUser": 100, "runAsGroup": 101, "fsGroup": 0}
    # an empty priority class in the manifest falls back to the operator's
    assert _model(config, podPriorityClassName="")["pod"]["priority_class_name"] == "config-priority"


def test_policies_capabilities_and_claim():
    config = {"pod_management_policy": "parallel", "persistent_volume_claim_retention_policy": "when_deleted:delete,when_scaled:retain",
              "additional_pod_capabilities": "sys_nice", "spilo_privileged": "true"}
    pod = _model(config, volume={"size": "2Gi", "storageClass": "fast", "selector": {"matchLabels": {"tier": "db"}}})["pod"]
    assert pod["pod_management_policy"] == "Parallel"
    assert pod["pvc_retention_policy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert pod["postgres_security_context"]["capabilities"] == {"add": ["SYS_NICE"]} and pod["postgres_security_context"]["privileged"]
    assert list(pod["volume_claim_spec"]) == ["accessModes", "resources", "storageClassName", "volumeMode", "selector"]


def test_logical_backup_pod_scheduling():
    config = {"toleration": "key:db,effect:NoSchedule", "node_readiness_label": "zone:a,status:ready",
              "image_pull_secrets": "a,b", "additional_secret_mount": "creds", "additional_secret_mount_path": "/meta"}
    pod = _model(config, imagePullSecrets=[{"name": "b"}, {"name": "c"}])["logical_backup_pod"]
    assert pod["tolerations"] == [{"key": "db", "effect": "NoSchedule"}]
    assert pod["image_pull_secrets"] == [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    # Zalando's selector: every label of the backup pod
    assert pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"] == \
        {"matchLabels": {"cluster-name": "acid-test", "application": "spilo-logical-backup", "team": "acid"}}
    assert pod["labels"] == {"cluster-name": "acid-test", "application": "spilo-logical-backup", "team": "acid"}
    assert pod["topology_spread_constraints"] == []
    assert [e["key"] for e in pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchExpressions"]] == ["status", "zone"]
    assert pod["volumes"] == [{"name": "creds", "secret": {"secretName": "creds", "defaultMode": 420}}]
    assert pod["volume_mounts"] == [{"name": "creds", "mountPath": "/meta"}]
    spec_tolerations = [{"key": "postgres", "operator": "Exists"}]
    assert _model(config, tolerations=spec_tolerations)["logical_backup_pod"]["tolerations"] == spec_tolerations


def test_logical_backup_pod_is_built_like_the_spilo_pod():
    config = {"spilo_runasuser": "101", "spilo_runasgroup": "103", "spilo_fsgroup": "103", "spilo_privileged": "true",
              "spilo_allow_privilege_escalation": "false", "additional_pod_capabilities": "sys_nice",
              "cluster_labels": "application:spilo,tier:db"}
    constraints = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                   {"maxSkew": 1, "topologyKey": "host", "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"own": "x"}}}]
    given = copy.deepcopy(constraints)
    model = _model(config, spiloFSGroup=0, topologySpreadConstraints=given)
    pod = model["logical_backup_pod"]
    # one decision for both pods: the manifest's spiloRunAs*/spiloFSGroup over the operator's
    assert pod["security_context"] == model["pod"]["security_context"] == {"runAsUser": 101, "runAsGroup": 103, "fsGroup": 0}
    # the postgres container's context without its capabilities (Zalando adds none to the backup container)
    assert pod["container_security_context"] == {"allowPrivilegeEscalation": False, "privileged": True, "readOnlyRootFilesystem": False}
    assert model["pod"]["postgres_security_context"]["capabilities"] == {"add": ["SYS_NICE"]}
    assert pod["ports"] == [{"containerPort": 8008, "protocol": "TCP"}, {"containerPort": 5432, "protocol": "TCP"},
                            {"containerPort": 8080, "protocol": "TCP"}]
    # the backup application label replaces the cluster_labels one; the selector is all of the pod's labels
    assert pod["labels"] == {"application": "spilo-logical-backup", "tier": "db", "cluster-name": "acid-test", "team": "acid"}
    term = pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["labelSelector"] == {"matchLabels": pod["labels"]}
    # a constraint without a selector gets the backup pod's labels; one with its own keeps it
    assert pod["topology_spread_constraints"] == [dict(constraints[0], labelSelector={"matchLabels": pod["labels"]}),
                                                  constraints[1]]
    assert given == constraints  # the manifest is not changed
    # the Spilo pod spreads over the cluster's selector labels (same rule, other labels)
    from ansible_collections.pgfleet.postgres.plugins.module_utils.model import pods
    assert pods.topology_spread_constraints({"topologySpreadConstraints": constraints}, model["labels"]["selector"])[0][
        "labelSelector"] == {"matchLabels": {"application": "spilo", "tier": "db", "cluster-name": "acid-test"}}


def test_pooler_pods_only_for_enabled_roles_with_sizes_and_hosts():
    model = _model(None, enableConnectionPooler=True, enableReplicaConnectionPooler=False,
                   connectionPooler={"numberOfInstances": 3, "maxDBConnections": 100})
    pods = model["pooler"]["pods"]
    assert list(pods) == ["master"]
    pod = pods["master"]
    assert pod["replicas"] == 3 and pod["max_db_connections"] == "33" and pod["default_size"] == "16" and pod["min_size"] == "8"
    assert pod["pghost"] == "acid-test" and pod["name"] == "acid-test-pooler"
    assert pod["user_secret"] == "pooler.acid-test.credentials.postgresql.acid.zalan.do"
    assert pod["selector"] == {"application": "db-connection-pooler", "cluster-name": "acid-test", "connection-pooler": "acid-test-pooler"}
    assert pod["labels"]["spilo-role"] == "master" and pod["labels"]["team"] == "acid"
    assert pod["volumes"] == [{"name": "userlist", "secret": {"secretName": "acid-test-pooler-u", "defaultMode": 420}}]
    assert pod["tls_env"] == [] and pod["affinity"] == {} and pod["infrastructure_roles"] == ""
    assert _model()["pooler"]["pods"] == {}
    assert _model(None, enableReplicaConnectionPooler=True)["pooler"]["pods"]["replica"]["pghost"] == "acid-test-repl"


def test_pooler_pod_tls_and_readiness_label_merge_leave_the_spec_alone():
    node_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "postgres-operator", "operator": "In", "values": ["enabled"]}]}]}}
    config = {"node_readiness_label": "status:ready", "node_readiness_label_merge": "AND", "enable_pod_antiaffinity": "true"}
    model = _model(config, enableConnectionPooler=True, nodeAffinity=copy.deepcopy(node_affinity),
                   tls={"secretName": "pg-tls", "caFile": "ca.crt", "caSecretName": "pg-ca"})
    pod = model["pooler"]["pods"]["master"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert [e["key"] for e in terms[0]["matchExpressions"]] == ["postgres-operator", "status"] and len(terms) == 1
    assert model["spec"]["nodeAffinity"] == node_affinity  # the merge copied, never changed the manifest's value
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"] == \
        {"matchLabels": pod["selector"]}
    assert pod["tls_env"] == [{"name": "CONNECTION_POOLER_CLIENT_TLS_CRT", "value": "/tls/tls.crt"},
                              {"name": "CONNECTION_POOLER_CLIENT_TLS_KEY", "value": "/tls/tls.key"},
                              {"name": "CONNECTION_POOLER_CLIENT_CA_FILE", "value": "/tlsca/ca.crt"}]
    assert [v["name"] for v in pod["volumes"]] == ["userlist", "pg-tls", "pg-ca"]
    assert [v["mountPath"] for v in pod["volume_mounts"]] == ["/etc/pgbouncer/userlist.txt", "/tls", "/tlsca"]


def test_logical_backup_env_by_provider():
    config = {"logical_backup_s3_access_key_id": "AKIA", "logical_backup_s3_secret_access_key": "s3cr3t",
              "logical_backup_s3_retention_time": "1 month"}
    pod = _model(config, logicalBackupRetention="3 months")["logical_backup_pod"]
    assert pod["provider"] == "s3" and pod["labels"]["application"] == "spilo-logical-backup"
    assert [v["name"] for v in pod["env_head"]] == ["SCOPE", "CLUSTER_NAME_LABEL", "POD_NAMESPACE", "LOGICAL_BACKUP_PROVIDER"]
    tail = dict((v["name"], v.get("value")) for v in pod["env_tail"])
    assert tail["LOGICAL_BACKUP_S3_RETENTION_TIME"] == "3 months" and tail["LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX"] == ""
    assert tail["PG_VERSION"] == "18" and tail["PGUSER"] == "postgres"
    assert [v for v in pod["env_tail"] if v["name"] == "PGPASSWORD"][0]["valueFrom"]["secretKeyRef"]["name"] == \
        "postgres.acid-test.credentials.postgresql.acid.zalan.do"
    assert pod["credentials_env"] == [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIA"}, {"name": "AWS_SECRET_ACCESS_KEY", "value": "s3cr3t"}]
    assert _model(config)["logical_backup_pod"]["env_tail"][-1] == {"name": "LOGICAL_BACKUP_S3_RETENTION_TIME", "value": "1 month"}
    gcs = _model({"logical_backup_provider": "gcs"})["logical_backup_pod"]
    assert gcs["env_tail"][-1]["name"] == "LOGICAL_BACKUP_GOOGLE_APPLICATION_CREDENTIALS" and gcs["credentials_env"] == []
    az = _model({"logical_backup_provider": "az", "logical_backup_azure_storage_account_key": "k"})["logical_backup_pod"]
    assert az["credentials_env"] == [{"name": "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY", "value": "k"}]
