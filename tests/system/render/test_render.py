"""``playbooks/render.yml`` end to end: every reference manifest and every edge case of ours.

Each case is rendered twice by a real ``ansible-playbook`` run (once per test module, see
conftest.py). Every rendered object is validated with ``kubernetes-validate`` in **strict** mode
(unknown fields are errors) against the oldest Kubernetes version we support, **1.28**, and the
newest one kubernetes-validate ships (**1.37** with kubernetes-validate 1.37.0, the pinned version).
"""

import base64
import glob
import json
import os

import kubernetes_validate
import pytest
from ansible_collections.pgfleet.postgres.tests.harness import REPO
from render_helpers import REFERENCE, passwords, run_render

OLDEST = "1.28"
NEWEST = kubernetes_validate.utils.latest_version()  # 1.37 with kubernetes-validate 1.37.0

EXAMPLES = os.path.join(REPO, "examples")
REF_DIR = REFERENCE if os.path.isdir(REFERENCE) else EXAMPLES
REF_CONFIG = os.path.join(REF_DIR, "configmap.yaml")
FIX = os.path.join(REPO, "tests", "fixtures", "manifests")
OPCFG = os.path.join(REPO, "tests", "fixtures", "operator-config")
POD_ENV = {"configmap": os.path.join(OPCFG, "pod-env-configmap.yaml"), "secret": os.path.join(OPCFG, "pod-env-secret.yaml")}


def _case(cid, manifest, config=REF_CONFIG, pod_env=None):
    return {"id": cid, "manifest": manifest, "config": config, "pod_env": pod_env}


CASES = [_case("ref-" + os.path.basename(p).replace("-manifest.yaml", ""), p)
         for p in sorted(glob.glob(os.path.join(REF_DIR, "*-manifest.yaml")))]
CASES += [
    _case("minimal-v2-defaults", os.path.join(REF_DIR, "minimal-postgres-manifest.yaml"), config=None),
    _case("standby", os.path.join(FIX, "standby-manifest.yaml")),
    _case("clone-basebackup", os.path.join(FIX, "clone-basebackup-manifest.yaml")),
    _case("clone-wal", os.path.join(FIX, "clone-wal-manifest.yaml")),
    _case("tls", os.path.join(FIX, "tls-manifest.yaml")),
    _case("pooler", os.path.join(FIX, "pooler-manifest.yaml")),
    _case("sidecars", os.path.join(FIX, "sidecars-manifest.yaml"), os.path.join(OPCFG, "configmaps-dcs.yaml"), POD_ENV),
    _case("volumes", os.path.join(FIX, "volumes-manifest.yaml")),
    _case("lb", os.path.join(FIX, "lb-manifest.yaml")),
    _case("standby-owner-references", os.path.join(FIX, "standby-manifest.yaml"), os.path.join(OPCFG, "configmaps-dcs.yaml"), POD_ENV),
    _case("model-edge-everything", os.path.join(REPO, "tests", "unit", "fixtures", "manifests", "edge-everything.yaml")),
    _case("single-instance-etcd", os.path.join(FIX, "single-instance-manifest.yaml"), os.path.join(OPCFG, "etcd-dcs.yaml")),
    _case("scheduling-configmaps", os.path.join(FIX, "scheduling-manifest.yaml"), os.path.join(OPCFG, "configmaps-dcs.yaml"), POD_ENV),
]
BY_ID = dict((c["id"], c) for c in CASES)
IDS = [c["id"] for c in CASES]


def _names(rendered):
    return [(o["kind"], o["metadata"]["name"]) for _file, o in rendered.objects]


# ---------------------------------------------------------------------------------------------
# Every case
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", IDS)
@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_object_validates_strictly(render_case, cid, version):
    rendered = render_case(BY_ID[cid])
    assert rendered.objects
    for name, obj in rendered.objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail("%s (%s) is invalid for Kubernetes %s: %s at %s" % (name, cid, version, exc.message, list(exc.path)))


@pytest.mark.parametrize("cid", IDS)
def test_rendering_twice_keeps_passwords_and_checksum(render_case, cid):
    rendered = render_case(BY_ID[cid])
    assert passwords(rendered.objects_first) == passwords(rendered.objects)
    assert passwords(rendered.objects)
    secrets = [[o["data"] for _file, o in objects if o["kind"] == "Secret"] for objects in (rendered.objects_first, rendered.objects)]
    assert secrets[0] == secrets[1]  # every secret, the pooler auth secrets (userlist.txt) too
    assert all(len(p) == 64 and p.isalnum() for p in passwords(rendered.objects).values())
    first = [o for _file, o in rendered.objects_first if o["kind"] == "StatefulSet"][0]
    sts = rendered.statefulset
    key = "pgfleet.io/template-checksum"
    assert sts["metadata"]["annotations"][key] == first["metadata"]["annotations"][key]
    assert sts["spec"]["template"]["metadata"]["annotations"][key] == sts["metadata"]["annotations"][key]
    assert len(sts["metadata"]["annotations"][key]) == 64
    assert [n for n, _obj in rendered.objects_first] == [n for n, _obj in rendered.objects]
    assert "changed=0" in rendered.second.stdout


@pytest.mark.parametrize("cid", IDS)
def test_output_files_and_summary(render_case, cid):
    rendered = render_case(BY_ID[cid])
    files = [n for n, _obj in rendered.objects]
    for index, (name, obj) in enumerate(rendered.objects, 1):
        assert name == "%02d-%s-%s.yaml" % (index, obj["kind"].lower(), obj["metadata"]["name"])
        mode = os.stat(os.path.join(rendered.output_dir, name)).st_mode & 0o777
        assert mode == (0o600 if obj["kind"] == "Secret" else 0o644), name
    # apply order: RBAC, secrets, endpoints, services, PDBs, the StatefulSet; then poolers and the backup CronJob
    kinds = rendered.kinds()
    cluster = kinds[:kinds.index("StatefulSet") + 1]
    assert cluster[:3] == ["ClusterRole", "ServiceAccount", "RoleBinding"]
    assert max(i for i, k in enumerate(cluster) if k == "Secret") < cluster.index("Service") < cluster.index("PodDisruptionBudget")
    for _file, obj in rendered.objects[len(cluster):]:
        assert obj["metadata"]["labels"]["application"] in ("db-connection-pooler", "spilo-logical-backup"), obj["metadata"]["name"]
    # the summary names every object, and no secret value ever appears in the output
    for run in (rendered.first, rendered.second):
        for _kind, name in _names(rendered):
            assert name in run.stdout
        for password in passwords(rendered.objects).values():
            assert password not in run.stdout + run.stderr
            assert base64.b64encode(password.encode()).decode() not in run.stdout + run.stderr
    assert len(files) == len(set(files))


@pytest.mark.parametrize("cid", IDS)
def test_labels_selectors_and_dcs_objects(render_case, cid):
    rendered = render_case(BY_ID[cid])
    sts = rendered.statefulset
    selector = sts["spec"]["selector"]["matchLabels"]
    assert selector == dict((k, v) for k, v in sts["spec"]["template"]["metadata"]["labels"].items() if k in selector)
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    name = sts["metadata"]["name"]
    primary = rendered.get("Service", name)
    replica = rendered.get("Service", name + "-repl")
    assert replica["spec"]["selector"] == dict(selector, **{"spilo-role": "replica"})
    env = rendered.env()
    if "ETCD_HOST" in env:
        mode = "etcd"
    elif env.get("KUBERNETES_USE_CONFIGMAPS") == "true":
        mode = "configmaps"
    else:
        mode = "endpoints"
    if mode == "endpoints":
        assert "selector" not in primary["spec"]
        assert rendered.get("Endpoints", name)["metadata"]["labels"]["spilo-role"] == "master"
        assert rendered.get("Service", name + "-config")["spec"] == {"clusterIP": "None"}
    else:
        assert primary["spec"]["selector"] == dict(selector, **{"spilo-role": "master"})
        assert "Endpoints" not in rendered.kinds()
        assert name + "-config" not in [o["metadata"]["name"] for o in rendered.all("Service")]
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "pgdata" and claim["spec"]["volumeMode"] == "Filesystem"


# ---------------------------------------------------------------------------------------------
# Feature cases
# ---------------------------------------------------------------------------------------------

def test_complete_manifest(render_case):
    r = render_case(BY_ID["ref-complete-postgres"])
    pod = r.pod
    assert [c["name"] for c in pod["containers"]] == ["postgres"]
    assert [c["name"] for c in pod["initContainers"]] == ["date"]
    # additionalVolumes "all" reaches the init container too
    assert {"name": "empty", "mountPath": "/opt/empty"} in r.container("date")["volumeMounts"]
    assert [m["name"] for m in r.container("postgres")["volumeMounts"]] == ["pgdata", "dshm", "empty"]
    assert r.get("PodDisruptionBudget", "postgres-acid-test-cluster-pdb")["spec"]["minAvailable"] == 1
    critical = r.get("PodDisruptionBudget", "postgres-acid-test-cluster-critical-op-pdb")["spec"]
    assert critical["maxUnavailable"] == 0 and "minAvailable" not in critical
    assert len(r.all("Secret")) == 7  # postgres, standby, zalando, foo_user, bar_owner/reader/writer_user


def test_minimal_manifest_with_v2_defaults_uses_configmaps(render_case):
    r = render_case(BY_ID["minimal-v2-defaults"])
    env = r.env()
    assert env["KUBERNETES_USE_CONFIGMAPS"] == "true"
    assert "ENABLE_WAL_PATH_COMPAT" not in env


def test_standby(render_case):
    r = render_case(BY_ID["standby"])
    env = r.env()
    assert env["STANDBY_HOST"] == "acid-primary.prod.svc.cluster.local"
    assert env["STANDBY_PORT"] == "5433"
    assert env["STANDBY_PRIMARY_SLOT_NAME"] == "standby_dr"
    assert env["STANDBY_WALE_S3_PREFIX"] == "s3://backups/spilo/acid-primary/wal/17"
    assert env["STANDBY_METHOD"] == "STANDBY_WITH_WALE"
    assert env["STANDBY_WAL_BUCKET_SCOPE_PREFIX"] == ""
    assert r.statefulset["spec"]["replicas"] == 1


def test_owner_references_and_bucket_scope_with_a_uid(render_case):
    r = render_case(BY_ID["standby-owner-references"])
    uid = "0f1e2d3c-4b5a-4698-8776-655443322110"
    owner = [{"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "name": "acid-standby", "uid": uid, "controller": True}]
    for _file, obj in r.objects:
        if obj["kind"] in ("ClusterRole", "ServiceAccount", "RoleBinding"):
            assert "ownerReferences" not in obj["metadata"], obj["kind"]
        else:
            assert obj["metadata"]["ownerReferences"] == owner, (obj["kind"], obj["metadata"]["name"])
    env = r.env()
    assert env["WAL_S3_BUCKET"] == "overridden-by-configmap"  # the pod-environment ConfigMap beats the global
    assert env["WAL_BUCKET_SCOPE_SUFFIX"] == "/" + uid and env["WAL_BUCKET_SCOPE_PREFIX"] == ""
    assert env["LOG_BUCKET_SCOPE_SUFFIX"] == "/" + uid
    assert env["STANDBY_AWS_ROLE_ARN"] == "arn:aws:iam::123456789012:role/spilo"
    assert r.statefulset["metadata"]["namespace"] == "dr"


def test_clone_from_live_cluster(render_case):
    env = render_case(BY_ID["clone-basebackup"]).env()
    assert env["CLONE_SCOPE"] == "acid-minimal-cluster"
    assert env["CLONE_METHOD"] == "CLONE_WITH_BASEBACKUP"
    assert env["CLONE_HOST"] == "acid-minimal-cluster" and env["CLONE_PORT"] == "5432" and env["CLONE_USER"] == "standby"
    assert env["CLONE_PASSWORD"] == {"secretKeyRef": {
        "name": "standby.acid-minimal-cluster.credentials.postgresql.acid.zalan.do", "key": "password"}}


def test_clone_from_wal_archive(render_case):
    env = render_case(BY_ID["clone-wal"]).env()
    assert env["CLONE_METHOD"] == "CLONE_WITH_WALE"
    assert env["CLONE_TARGET_TIME"] == "2025-12-19T12:40:33+01:00"
    assert env["CLONE_WALE_S3_PREFIX"] == "s3://custom/path/to/bucket"
    assert env["CLONE_WAL_BUCKET_SCOPE_PREFIX"] == ""
    assert env["CLONE_AWS_ENDPOINT"] == env["CLONE_WALE_S3_ENDPOINT"] == "https://s3.example.com"
    assert env["CLONE_AWS_S3_FORCE_PATH_STYLE"] == "1"
    assert "CLONE_WAL_BUCKET_SCOPE_SUFFIX" not in env  # only with a bucket from the config


def test_tls(render_case):
    r = render_case(BY_ID["tls"])
    env = r.env()
    assert env["SSL_CERTIFICATE_FILE"] == "/tls/server.crt"
    assert env["SSL_PRIVATE_KEY_FILE"] == "/tls/server.key"  # absolute paths are kept
    assert env["SSL_CA_FILE"] == "/tlsca/ca.crt"
    volumes = dict((v["name"], v) for v in r.pod["volumes"])
    assert volumes["acid-tls-cert"]["secret"] == {"secretName": "acid-tls-cert", "defaultMode": 0o640}
    assert volumes["acid-tls-ca"]["secret"]["secretName"] == "acid-tls-ca"
    mounts = dict((m["name"], m["mountPath"]) for m in r.container("postgres")["volumeMounts"])
    assert mounts["acid-tls-cert"] == "/tls" and mounts["acid-tls-ca"] == "/tlsca"
    assert r.pod["securityContext"] == {"runAsUser": 101, "runAsGroup": 103, "fsGroup": 103}
    assert env["WAL_S3_BUCKET"] == env["WALG_S3_PREFIX"] == env["BACKUP_SCHEDULE"] == ""  # disable-wal-archiving
    assert env["USE_WALG_BACKUP"] == "false"


def test_poolers_and_logical_backup_come_after_the_cluster(render_case):
    r = render_case(BY_ID["pooler"])
    names = [s["metadata"]["name"] for s in r.all("Secret")]
    assert "pooler.acid-pooled.credentials.postgresql.acid.zalan.do" in names
    assert [d["metadata"]["name"] for d in r.all("Deployment")] == ["acid-pooled-pooler", "acid-pooled-pooler-repl"]
    assert "CronJob" not in r.kinds()
    edge = render_case(BY_ID["model-edge-everything"])
    assert edge.kinds().count("Deployment") == 2 and edge.kinds()[-1] == "CronJob"


def test_sidecars(render_case):
    r = render_case(BY_ID["sidecars"])
    names = [c["name"] for c in r.pod["containers"]]
    # manifest sidecars first, then sidecar_docker_images from the config
    assert names == ["postgres", "telegraf-sidecar", "exporter", "log-shipper"]
    telegraf = r.container("telegraf-sidecar")
    assert telegraf["ports"] == [{"name": "metrics", "containerPort": 8094, "protocol": "TCP"}]
    env = r.env("telegraf-sidecar")
    assert env["USEFUL_VAR"] == "perhaps-true"
    assert env["POSTGRES_USER"] == "postgres"
    assert env["POD_NAME"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["name"] == "postgres.acid-sidecars.credentials.postgresql.acid.zalan.do"
    # as Zalando: the operator's POD_NAME, POD_NAMESPACE, POSTGRES_USER, POSTGRES_PASSWORD come first and win
    assert r.env("exporter")["POSTGRES_USER"] == "postgres"
    assert [e["name"] for e in r.container("exporter")["env"]][:4] == ["POD_NAME", "POD_NAMESPACE", "POSTGRES_USER", "POSTGRES_PASSWORD"]
    # defaults filled in, limit raised to the request
    expected = {"requests": {"cpu": "100m", "memory": "600Mi"}, "limits": {"cpu": "1", "memory": "600Mi"}}
    assert r.container("exporter")["resources"] == expected
    for name in names:
        mounts = [m["name"] for m in r.container(name)["volumeMounts"]]
        assert "postgresql-run" in mounts and "aws-credentials" in mounts  # share_pgsocket, additional_secret_mount
        if name != "postgres":
            assert "pgdata" in mounts


def test_additional_volumes_reach_init_containers_and_sidecars(render_case):
    r = render_case(BY_ID["volumes"])
    mounts = dict((c["name"], dict((m["name"], m) for m in c.get("volumeMounts", [])))
                  for c in r.pod["containers"] + r.pod["initContainers"])
    assert set(mounts["fetch-extensions"]) == {"extensions", "shared-secret"}
    assert set(mounts["postgres"]) == {"pgdata", "extensions", "partitions", "shared-secret"}  # no dshm: switched off
    assert set(mounts["telegraf-sidecar"]) == {"pgdata", "telegraf-conf", "shared-secret"}
    assert mounts["telegraf-sidecar"]["telegraf-conf"]["subPath"] == "telegraf.conf"
    assert mounts["postgres"]["partitions"]["subPathExpr"] == "$(POD_NAME)"
    assert mounts["postgres"]["pgdata"]["subPathExpr"] == "$(POD_NAME)"
    claim = r.statefulset["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast-ssd" and claim["resources"]["requests"]["storage"] == "5Gi"


def test_load_balancers_source_ranges_and_dns(render_case):
    r = render_case(BY_ID["lb"])
    primary = r.get("Service", "acid-lb")
    assert primary["spec"]["type"] == "LoadBalancer"
    assert primary["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8", "fd00::/8"]
    assert primary["spec"]["externalTrafficPolicy"] == "Cluster"
    assert primary["metadata"]["annotations"] == {
        "common": "yes", "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "external-dns.alpha.kubernetes.io/hostname": "acid-lb.prod.db.example.com,lb.acid.db.example.com"}
    replica = r.get("Service", "acid-lb-repl")
    assert replica["spec"]["type"] == "NodePort"  # NodePort wins over the load balancer
    assert replica["spec"]["ports"][0]["nodePort"] == 31432
    assert "external-dns.alpha.kubernetes.io/hostname" not in replica["metadata"]["annotations"]


def test_single_instance_never_blocks_a_drain(render_case):
    r = render_case(BY_ID["single-instance-etcd"])
    assert len(r.all("PodDisruptionBudget")) == 2
    primary_pdb = r.get("PodDisruptionBudget", "postgres-acid-single-pdb")
    assert primary_pdb["spec"]["minAvailable"] == 0 and "maxUnavailable" not in primary_pdb["spec"]
    critical = r.get("PodDisruptionBudget", "postgres-acid-single-critical-op-pdb")["spec"]
    assert critical["maxUnavailable"] == "100%" and "minAvailable" not in critical
    assert "spilo-role" not in primary_pdb["spec"]["selector"]["matchLabels"]  # pdb_master_label_selector=false
    env = r.env()
    assert env["ETCD_HOST"] == "etcd-client.etcd.svc.cluster.local:2379"
    assert "DCS_ENABLE_KUBERNETES_API" not in env and "KUBERNETES_BOOTSTRAP_LABELS" not in env
    assert r.pod["terminationGracePeriodSeconds"] == 60
    assert "dshm" not in [v["name"] for v in r.pod["volumes"]]


def test_scheduling_registry_and_pod_environment(render_case):
    r = render_case(BY_ID["scheduling-configmaps"])
    pod = r.pod
    sts = r.statefulset
    assert pod["imagePullSecrets"] == [{"name": "registry-operator"}, {"name": "registry-manifest"}]
    assert pod["tolerations"] == [{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [  # node_readiness_label merged with AND
        {"key": "postgres-operator", "operator": "In", "values": ["enabled"]},
        {"key": "status", "operator": "In", "values": ["ready"]},
        {"key": "zone-class", "operator": "In", "values": ["db"]}]}]
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["weight"] == 1 and anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert pod["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": sts["spec"]["selector"]["matchLabels"]}
    probe = r.container("postgres")["livenessProbe"]
    assert probe == {"httpGet": {"path": "/liveness", "port": 8008, "scheme": "HTTP"}, "initialDelaySeconds": 30,
                     "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert r.container("postgres")["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert r.container("postgres")["envFrom"] == [{"configMapRef": {"name": "extra-env"}}]
    assert r.container("postgres")["securityContext"]["capabilities"] == {"add": ["SYS_NICE"]}
    assert pod["priorityClassName"] == "spilo-pod-priority" and pod["schedulerName"] == "custom-scheduler"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert sts["metadata"]["labels"]["environment"] == "demo"  # inherited label
    assert "ownerReferences" not in sts["metadata"]  # enable_owner_references, but no uid when rendering offline
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert annotations["iam.amazonaws.com/role"] == "postgres-pod-role"
    assert annotations["prometheus.io/scrape"] == "true" and annotations["owned-by"] == "team-acid"
    env_list = r.container("postgres")["env"]
    names = [e["name"] for e in env_list]
    env = r.env()
    # spec.env wins over the pod-environment ConfigMap and the bucket globals (case-insensitively)
    assert "wal_s3_bucket" in names and "WAL_S3_BUCKET" not in names
    assert env["WALG_S3_PREFIX"] == "s3://wal-bucket/custom"
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "pod-env-secret", "key": "AWS_SECRET_ACCESS_KEY"}}
    assert names.index("AWS_ACCESS_KEY_ID") < names.index("BACKUP_SCHEDULE") < names.index("LOG_S3_BUCKET")
    assert env["LOG_BUCKET_SCOPE_SUFFIX"] == ""  # no uid known when rendering offline
    assert "PGVERSION" not in env
    spilo = json.loads(env["SPILO_CONFIGURATION"])
    assert spilo["postgresql"]["bin_dir"] == "/usr/lib/postgresql/18/bin"
    assert spilo["bootstrap"]["dcs"]["failsafe_mode"] is True
    sa = r.get("ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/spilo"}


# ---------------------------------------------------------------------------------------------
# Failures: nothing is written
# ---------------------------------------------------------------------------------------------

def test_invalid_manifest_fails_before_writing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: acid.zalan.do/v1\nkind: postgresql\nmetadata: {name: Bad_Name}\n"
                   "spec: {teamId: acid, numberOfInstances: 1, postgresql: {version: '18'}, volume: {size: 1Gi}}\n")
    out = tmp_path / "out"
    run = run_render(str(bad), str(out))
    assert run.returncode != 0
    assert "metadata.name" in run.stdout and "Bad_Name" in run.stdout
    assert not out.exists()


def test_unreadable_pod_environment_fails_before_writing(tmp_path):
    out = tmp_path / "out"
    run = run_render(os.path.join(REF_DIR, "minimal-postgres-manifest.yaml"), str(out), os.path.join(OPCFG, "configmaps-dcs.yaml"))
    assert run.returncode != 0
    assert "pod_environment_" in run.stdout
    assert not out.exists()
