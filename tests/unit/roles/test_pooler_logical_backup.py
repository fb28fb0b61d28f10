"""Roles pgfleet.postgres.pooler and pgfleet.postgres.logical_backup, run by ansible-playbook.

One playbook run renders four scenarios from the reference manifests (model built with the
pgfleet.postgres.postgresql_model filter); every rendered object validates with kubernetes-validate
(strict) for Kubernetes 1.28 and the newest version it ships, and the values follow the reference operator (docs/design/model.md).
"""

import base64
import copy
import json
import os
import sys

import kubernetes_validate
import pytest
import yaml
from ansible_collections.pgfleet.postgres.tests.harness import NO_PLAYBOOK, PLAYBOOK_BIN, REPO, run_playbook
from kubernetes_validate import utils as kv_utils

K8S_VERSIONS = ["1.28", kv_utils.latest_version()]
UID = "efd12e58-5786-11e8-b5a7-06148230260c"
LONG_NAME = "acid-" + "a" * 31 + "-" + "b" * 10  # cut at 52 with the prefix, the cut ends on '-'


def manifest(name):
    with open(os.path.join(REPO, "examples", name)) as fh:
        return yaml.safe_load(fh)


def scenarios():
    full = manifest("complete-postgres-manifest.yaml")
    full["metadata"].update({"namespace": "db", "uid": UID,
                             "annotations": {"acid.zalan.do/logical-backup-bucket": "team-bucket"}})
    full["spec"].update({
        "enableConnectionPooler": True, "enableReplicaConnectionPooler": True,
        "connectionPooler": {"numberOfInstances": 3, "maxDBConnections": 100, "mode": "session"},
        "tls": {"secretName": "pg-tls", "caFile": "ca.crt", "caSecretName": "pg-ca"},
        "spiloFSGroup": 103, "enableReplicaPoolerLoadBalancer": True, "enableMasterPoolerNodePort": True,
        "masterPoolerNodePort": 30500, "imagePullSecrets": [{"name": "regcred"}],
        "tolerations": [{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}],
        "enableLogicalBackup": True, "logicalBackupRetention": "3 months", "spiloRunAsUser": 0,
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"own": "selector"}}}],
    })
    full_config = {
        "enable_owner_references": "true", "logical_backup_s3_bucket": "ops-bucket",
        "logical_backup_s3_access_key_id": "AKIAEXAMPLE", "logical_backup_s3_secret_access_key": "s3cr3t",
        "logical_backup_cronjob_environment_secret": "backup-env", "enable_pod_antiaffinity": "true",
        "node_readiness_label": "ready:true", "logical_backup_s3_region": "eu-central-1",
        "spilo_runasuser": "101", "spilo_runasgroup": "103", "spilo_privileged": "true",
        "spilo_allow_privilege_escalation": "false",
    }
    minimal = manifest("minimal-postgres-manifest.yaml")
    minimal["spec"]["connectionPooler"] = {}
    long_name = manifest("minimal-postgres-manifest.yaml")
    long_name["metadata"].update({"name": LONG_NAME, "annotations": {"acid.zalan.do/logical-backup-secret": "cluster-creds",
                                                                     "owner": "dba"}})
    long_name["spec"].update({"enableLogicalBackup": True, "enableConnectionPooler": False,
                              "podAnnotations": {"team/backup": "pod", "custom": "manifest"}})
    disabled = manifest("minimal-postgres-manifest.yaml")
    disabled["metadata"]["annotations"] = {"acid.zalan.do/disable-logical-backup": "true"}
    disabled["spec"]["enableLogicalBackup"] = True
    return {
        "full": (full, full_config, {"kind": "Secret", "data": {"B_VAR": "eA==", "A_VAR": "eQ=="}}),
        "minimal": (minimal, {"logical_backup_provider": "gcs"}, None),
        "long_name": (long_name, {"logical_backup_provider": "az", "logical_backup_azure_storage_account_key": "k",
                                  "custom_pod_annotations": "custom:config,other:config", "inherited_annotations": "owner",
                                  "kube_iam_role": "backup-role"}, None),
        "disabled": (disabled, {}, None),
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if not os.path.exists(PLAYBOOK_BIN):
        pytest.skip(NO_PLAYBOOK)
    tmp = tmp_path_factory.mktemp("render")
    plays = []
    for name, (cr, config, env_secret) in scenarios().items():
        plays.append({
            "name": name, "hosts": "localhost", "gather_facts": False,
            "vars": {"scenario_manifest": cr, "scenario_config": config, "pgfleet_no_log": False},
            "tasks": [
                {"name": "model", "ansible.builtin.set_fact": {
                    "cluster_model": "{{ scenario_manifest | pgfleet.postgres.postgresql_model(scenario_config, {}) }}"}},
                {"name": "pooler", "ansible.builtin.include_role": {"name": "pgfleet.postgres.pooler"}},
                {"name": "logical backup", "ansible.builtin.include_role": {"name": "pgfleet.postgres.logical_backup"},
                 "vars": {"logical_backup_environment_secret": env_secret}},
                {"name": "save", "ansible.builtin.copy": {
                    "dest": str(tmp / ("%s.json" % name)), "mode": "0600",
                    "content": "{{ {'model': cluster_model, 'pooler_objects': pooler_objects, 'pooler_absent': pooler_absent,"
                               " 'pooler_warnings': pooler_warnings, 'logical_backup_objects': logical_backup_objects,"
                               " 'logical_backup_absent': logical_backup_absent} | to_json }}"}},
            ],
        })
    path = tmp / "play.yml"
    path.write_text(yaml.safe_dump(plays))
    result = run_playbook("-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    out = {}
    for name in scenarios():
        with open(tmp / ("%s.json" % name)) as fh:
            out[name] = json.load(fh)
    return out


def by_kind(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, (kind, name, [(o["kind"], o["metadata"]["name"]) for o in objects])
    return found[0] if name else found


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_every_object_validates(rendered):
    count = 0
    for data in rendered.values():
        for obj in data["pooler_objects"] + data["logical_backup_objects"]:
            for version in K8S_VERSIONS:
                kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)
            count += 1
    assert count == 6 + 1 + 3 + 1  # full: 2 poolers x 3 + CronJob; minimal: 1 pooler x 3; long_name: CronJob


# ---------------------------------------------------------------------------------------------
# pooler
# ---------------------------------------------------------------------------------------------
def test_pooler_objects_in_apply_order(rendered):
    objects = rendered["full"]["pooler_objects"]
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Secret", "acid-test-cluster-pooler-u"), ("Deployment", "acid-test-cluster-pooler"),
        ("Service", "acid-test-cluster-pooler"),
        ("Secret", "acid-test-cluster-pooler-repl-u"), ("Deployment", "acid-test-cluster-pooler-repl"),
        ("Service", "acid-test-cluster-pooler-repl"),
    ]
    assert rendered["full"]["pooler_absent"] == []
    assert all(o["metadata"]["namespace"] == "db" for o in objects)


def test_pooler_env_arithmetic_and_connection(rendered):
    full = rendered["full"]
    deploy = by_kind(full["pooler_objects"], "Deployment", "acid-test-cluster-pooler")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    # maxDBConnections 100 over 3 instances: M = 33, default M/2 = 16, min = reserve = M/4 = 8
    assert env["CONNECTION_POOLER_MAX_DB_CONN"] == "33"
    assert env["CONNECTION_POOLER_DEFAULT_SIZE"] == "16"
    assert env["CONNECTION_POOLER_MIN_SIZE"] == "8"
    assert env["CONNECTION_POOLER_RESERVE_SIZE"] == "8"
    assert env["CONNECTION_POOLER_MAX_CLIENT_CONN"] == "10000"
    assert env["CONNECTION_POOLER_MODE"] == "session"
    assert env["CONNECTION_POOLER_PORT"] == "5432"
    assert env["PGHOST"] == "acid-test-cluster"
    assert env["PGPORT"] == "5432"
    assert env["PGSCHEMA"] == "pooler"
    secret = "pooler.acid-test-cluster.credentials.postgresql.acid.zalan.do"
    assert env["PGUSER"] == {"secretKeyRef": {"name": secret, "key": "username"}}
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": secret, "key": "password"}}
    assert "INFRASTRUCTURE_ROLES" in env
    assert deploy["spec"]["replicas"] == 3
    replica = by_kind(full["pooler_objects"], "Deployment", "acid-test-cluster-pooler-repl")
    assert env_of(replica["spec"]["template"]["spec"]["containers"][0])["PGHOST"] == "acid-test-cluster-repl"
    # defaults: 60 connections over 2 instances -> 30 / 15 / 7 / 7
    minimal = by_kind(rendered["minimal"]["pooler_objects"], "Deployment")[0]
    env = env_of(minimal["spec"]["template"]["spec"]["containers"][0])
    assert (env["CONNECTION_POOLER_MAX_DB_CONN"], env["CONNECTION_POOLER_DEFAULT_SIZE"], env["CONNECTION_POOLER_MIN_SIZE"],
            env["CONNECTION_POOLER_RESERVE_SIZE"], env["CONNECTION_POOLER_MODE"]) == ("30", "15", "7", "7", "transaction")
    assert minimal["spec"]["replicas"] == 2


def test_pooler_pod(rendered):
    full = rendered["full"]
    deploy = by_kind(full["pooler_objects"], "Deployment", "acid-test-cluster-pooler")
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "connection-pooler"
    assert container["ports"] == [{"containerPort": 5432, "protocol": "TCP"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 5432}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}
    assert pod["securityContext"] == {"runAsUser": 100, "runAsGroup": 101, "fsGroup": 103}
    assert pod["serviceAccountName"] == "postgres-pod"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["tolerations"] == [{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["userlist"] == {"name": "userlist", "mountPath": "/etc/pgbouncer/userlist.txt",
                                  "subPath": "userlist.txt", "readOnly": True}
    assert mounts["pg-tls"]["mountPath"] == "/tls" and mounts["pg-ca"]["mountPath"] == "/tlsca"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["userlist"]["secret"]["secretName"] == "acid-test-cluster-pooler-u"
    assert volumes["pg-tls"]["secret"] == {"secretName": "pg-tls", "defaultMode": 0o640}
    env = env_of(container)
    assert env["CONNECTION_POOLER_CLIENT_TLS_CRT"] == "/tls/tls.crt"
    assert env["CONNECTION_POOLER_CLIENT_TLS_KEY"] == "/tls/tls.key"
    assert env["CONNECTION_POOLER_CLIENT_CA_FILE"] == "/tlsca/ca.crt"
    assert "pgfleet.io/auth-checksum" in deploy["spec"]["template"]["metadata"]["annotations"]


def test_pooler_labels_selectors_and_affinity(rendered):
    full = rendered["full"]
    deploy = by_kind(full["pooler_objects"], "Deployment", "acid-test-cluster-pooler")
    selector = {"application": "db-connection-pooler", "cluster-name": "acid-test-cluster",
                "connection-pooler": "acid-test-cluster-pooler"}
    assert deploy["spec"]["selector"]["matchLabels"] == selector
    labels = dict(selector, team="acid", **{"spilo-role": "master"})
    assert deploy["metadata"]["labels"] == labels
    assert deploy["spec"]["template"]["metadata"]["labels"] == labels
    affinity = deploy["spec"]["template"]["spec"]["affinity"]
    assert affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
        {"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"}]
    assert affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "ready", "operator": "In", "values": ["true"]}]}]
    owner = deploy["metadata"]["ownerReferences"]
    assert owner == [{"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "name": "acid-test-cluster",
                      "uid": UID, "controller": True}]
    auth = by_kind(full["pooler_objects"], "Secret", "acid-test-cluster-pooler-repl-u")
    assert auth["metadata"]["labels"]["spilo-role"] == "replica"
    minimal = by_kind(rendered["minimal"]["pooler_objects"], "Deployment")[0]
    assert "affinity" not in minimal["spec"]["template"]["spec"]
    assert "ownerReferences" not in minimal["metadata"]


def test_pooler_auth_secret(rendered):
    full = rendered["full"]
    auth = by_kind(full["pooler_objects"], "Secret", "acid-test-cluster-pooler-u")
    userlist = base64.b64decode(auth["data"]["userlist.txt"]).decode()
    (pooler_role,) = [r for r in full["model"]["roles"] if r["name"] == "pooler"]
    assert userlist == '"pooler" "%s"\n' % pooler_role["password"]


def test_pooler_services(rendered):
    full = rendered["full"]
    master = by_kind(full["pooler_objects"], "Service", "acid-test-cluster-pooler")
    assert master["spec"]["type"] == "NodePort"
    assert master["spec"]["ports"] == [{"name": "acid-test-cluster-pooler", "port": 5432, "targetPort": 5432,
                                        "protocol": "TCP", "nodePort": 30500}]
    assert master["spec"]["selector"] == {"connection-pooler": "acid-test-cluster-pooler"}
    replica = by_kind(full["pooler_objects"], "Service", "acid-test-cluster-pooler-repl")
    assert replica["spec"]["type"] == "LoadBalancer"
    assert replica["spec"]["loadBalancerSourceRanges"] == ["127.0.0.1/32"]
    assert replica["spec"]["externalTrafficPolicy"] == "Cluster"
    assert replica["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"] == (
        "acid-test-cluster-pooler-repl.db.db.example.com,test-cluster-pooler-repl.acid.db.example.com")
    minimal = by_kind(rendered["minimal"]["pooler_objects"], "Service")[0]
    assert minimal["spec"]["type"] == "ClusterIP"
    assert "external-dns.alpha.kubernetes.io/hostname" not in minimal["metadata"]["annotations"]


def test_disabled_poolers_are_listed_for_deletion(rendered):
    minimal = rendered["minimal"]["pooler_absent"]
    assert [(r["kind"], r["name"]) for r in minimal] == [
        ("Deployment", "acid-minimal-cluster-pooler-repl"), ("Service", "acid-minimal-cluster-pooler-repl"),
        ("Secret", "acid-minimal-cluster-pooler-repl-u")]
    none = rendered["long_name"]
    assert none["pooler_objects"] == []
    kinds = [(r["kind"], r["name"]) for r in none["pooler_absent"]]
    assert ("Secret", "pooler.%s.credentials.postgresql.acid.zalan.do" % LONG_NAME) in kinds
    assert len(kinds) == 7


# ---------------------------------------------------------------------------------------------
# logical backup
# ---------------------------------------------------------------------------------------------
def test_logical_backup_cronjob(rendered):
    (job,) = rendered["full"]["logical_backup_objects"]
    assert job["metadata"]["name"] == "logical-backup-acid-test-cluster"
    spec = job["spec"]
    assert spec["schedule"] == "30 00 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 86400
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "postgres-pod"
    (container,) = pod["containers"]
    assert container["name"] == "logical-backup"
    assert container["image"] == rendered["full"]["model"]["config"]["logical_backup_docker_image"]
    assert container["resources"] == rendered["full"]["model"]["logical_backup_resources"]
    labels = job["metadata"]["labels"]
    assert labels["application"] == "spilo-logical-backup" and labels["cluster-name"] == "acid-test-cluster"
    assert labels["team"] == "acid"
    # Zalando's selector: every label of the backup pod (cluster labels, team, application)
    assert pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"] == {
        "labelSelector": {"matchLabels": {"cluster-name": "acid-test-cluster", "application": "spilo-logical-backup",
                                          "team": "acid"}},
        "topologyKey": "kubernetes.io/hostname"}
    # the manifest's topology spread, over the backup pod's labels where it names no selector
    assert pod["topologySpreadConstraints"] == [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": labels}},
        {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": {"own": "selector"}}}]
    # the Spilo pod's security contexts (spiloRunAsUser 0 over spilo_runasuser) and ports
    assert pod["securityContext"] == {"runAsUser": 0, "runAsGroup": 103, "fsGroup": 103}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "privileged": True, "readOnlyRootFilesystem": False}
    assert container["ports"] == [{"containerPort": port, "protocol": "TCP"} for port in (8008, 5432, 8080)]
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "ready", "operator": "In", "values": ["true"]}]}]
    assert pod["tolerations"] == [{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}]
    assert job["metadata"]["ownerReferences"][0]["uid"] == UID


def test_logical_backup_env_s3(rendered):
    (job,) = rendered["full"]["logical_backup_objects"]
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["SCOPE"] == "acid-test-cluster"
    assert env["CLUSTER_NAME_LABEL"] == "cluster-name"
    assert env["POD_NAMESPACE"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
    assert env["PG_VERSION"] == "18"
    assert (env["PGPORT"], env["PGUSER"], env["PGDATABASE"], env["PGSSLMODE"]) == ("5432", "postgres", "postgres", "require")
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "postgres.acid-test-cluster.credentials.postgresql.acid.zalan.do",
                                                  "key": "password"}}
    assert env["LOGICAL_BACKUP_PROVIDER"] == "s3"
    assert env["LOGICAL_BACKUP_S3_BUCKET"] == "team-bucket"  # the per-cluster annotation wins
    assert env["LOGICAL_BACKUP_S3_BUCKET_PREFIX"] == "spilo"
    assert env["LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX"] == "/" + UID
    assert env["LOGICAL_BACKUP_S3_REGION"] == "eu-central-1"
    assert env["LOGICAL_BACKUP_S3_SSE"] == "AES256"
    assert env["LOGICAL_BACKUP_S3_RETENTION_TIME"] == "3 months"
    assert "LOGICAL_BACKUP_S3_ENDPOINT" in env
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("AKIAEXAMPLE", "s3cr3t")
    names = [e["name"] for e in container["env"]]
    assert names[-2:] == ["A_VAR", "B_VAR"]
    assert env["A_VAR"] == {"secretKeyRef": {"name": "backup-env", "key": "A_VAR"}}
    assert len(names) == len(set(names))


def test_logical_backup_other_providers_and_cluster_credentials(rendered):
    (job,) = rendered["long_name"]["logical_backup_objects"]
    name = job["metadata"]["name"]
    assert len(name) <= 52 and not name.endswith("-")
    assert name == ("logical-backup-" + LONG_NAME)[:52].rstrip("-")
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["LOGICAL_BACKUP_PROVIDER"] == "az"
    assert "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_NAME" in env and "LOGICAL_BACKUP_AZURE_STORAGE_CONTAINER" in env
    assert "LOGICAL_BACKUP_AZURE_STORAGE_ACCOUNT_KEY" not in env  # the cluster's own secret replaces it
    assert "LOGICAL_BACKUP_S3_REGION" not in env
    assert container["envFrom"] == [{"secretRef": {"name": "cluster-creds"}}]
    assert env["LOGICAL_BACKUP_S3_BUCKET_SCOPE_SUFFIX"] == ""  # no uid outside Kubernetes


def test_logical_backup_pod_annotations(rendered):
    # the pod template's annotations as the database pods' (custom_pod_annotations overlaid by spec.podAnnotations, the
    # inherited ones, the kube_iam_role one); the CronJob and its job template carry the same (Zalando PR 3085)
    (job,) = rendered["long_name"]["logical_backup_objects"]
    expected = {"custom": "manifest", "other": "config", "team/backup": "pod", "owner": "dba", "iam.amazonaws.com/role": "backup-role"}
    assert job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"] == expected
    assert job["spec"]["jobTemplate"]["metadata"]["annotations"] == expected
    assert job["metadata"]["annotations"] == expected
    # no manifest constraints, no topologySpreadConstraints; no security context set, an empty one
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "topologySpreadConstraints" not in pod
    assert pod["securityContext"] == {}
    assert pod["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": True, "privileged": False,
                                                       "readOnlyRootFilesystem": False}


def test_disabled_logical_backup_is_listed_for_deletion(rendered):
    for scenario, name in (("minimal", "logical-backup-acid-minimal-cluster"),
                           ("disabled", "logical-backup-acid-minimal-cluster")):
        data = rendered[scenario]
        assert data["logical_backup_objects"] == []
        assert data["logical_backup_absent"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": name,
                                                  "namespace": "default"}]
    assert rendered["full"]["logical_backup_absent"] == []


def test_argument_specs_document_every_default():
    for role in ("pooler", "logical_backup"):
        with open(os.path.join(REPO, "roles", role, "defaults", "main.yml")) as fh:
            defaults = yaml.safe_load(fh) or {}
        with open(os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")) as fh:
            options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
        assert options["cluster_model"]["required"] is True
        for name, value in defaults.items():
            assert name in options, (role, name)
            assert options[name].get("default") == value, (role, name)
