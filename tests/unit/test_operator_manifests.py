"""The operator's packaging: operator/config (kustomize), watches.yaml and operator/Dockerfile.

Every Kubernetes object under operator/config validates with kubernetes-validate (strict) for the
oldest and newest Kubernetes we support; kustomizations only point at files that exist; RBAC is
enumerated (no wildcards) and covers what the operator does; watches.yaml and the Dockerfile agree
on where the playbooks live. When `kubectl` is installed, the default overlay is also built with
`kubectl kustomize` and every rendered object validated.
"""

import glob
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "operator", "config")
K8S_VERSIONS = ["1.28", kv_utils.latest_version()]
NOT_KUBERNETES = {"Kustomization", "PatchTransformer", "Component"}
POSTGRES_POD_RULES = {
    ("", "configmaps"): {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
    ("", "endpoints"): {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
    ("", "pods"): {"get", "list", "patch", "update", "watch"},
    ("", "services"): {"create"},
}


def rel(path):
    return os.path.relpath(path, ROOT)


def load_all(path):
    with open(path) as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def config_files():
    return sorted(glob.glob(os.path.join(CONFIG, "**", "*.yaml"), recursive=True))


def kubernetes_objects():
    out = []
    for path in config_files():
        for i, doc in enumerate(load_all(path)):
            # no schema of ours (acid.zalan.do) or of the Prometheus Operator's (ServiceMonitor) in kubernetes-validate
            no_schema = doc.get("apiVersion", "").startswith(("acid.zalan.do/", "monitoring.coreos.com/"))
            if doc.get("kind") in NOT_KUBERNETES or no_schema:
                continue
            out.append(pytest.param(doc, id="%s#%d-%s" % (rel(path), i, doc.get("kind"))))
    return out


def find(kind, name):
    for path in config_files():
        for doc in load_all(path):
            if doc.get("kind") == kind and doc.get("metadata", {}).get("name") == name:
                return doc
    raise AssertionError("no %s %s under operator/config" % (kind, name))


def rule_map(role):
    """{(apiGroup, resource[/sub]): verbs} of a (Cluster)Role, for rules without resourceNames."""
    out = {}
    for rule in role["rules"]:
        if rule.get("resourceNames"):
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


# ----------------------------------------------------------------------------------------------
# every object validates
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", kubernetes_objects())
def test_object_validates(doc, version):
    assert kubernetes_validate.validate(doc, version, strict=True)


def test_every_yaml_parses_and_has_a_kind():
    files = config_files()
    assert len(files) >= 12
    for path in files:
        for doc in load_all(path):
            assert doc.get("kind"), rel(path)


# ----------------------------------------------------------------------------------------------
# kustomize layout (kustomize itself is not installed here)
# ----------------------------------------------------------------------------------------------
KUSTOMIZATIONS = sorted(glob.glob(os.path.join(CONFIG, "*", "kustomization.yaml")))


def test_operator_sdk_layout():
    dirs = {os.path.basename(os.path.dirname(p)) for p in KUSTOMIZATIONS}
    assert {"crd", "rbac", "manager", "samples", "default"} <= dirs


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=rel)
def test_kustomization_references_exist(path):
    (kust,) = load_all(path)
    base = os.path.dirname(path)
    refs = list(kust.get("resources", [])) + list(kust.get("components", [])) + list(kust.get("transformers", []))
    refs += [p["path"] for p in kust.get("patches", []) if "path" in p]
    assert refs, "empty kustomization"
    for ref in refs:
        target = os.path.normpath(os.path.join(base, ref))
        assert os.path.exists(target), "%s: %s does not exist" % (rel(path), ref)
        if os.path.isdir(target):
            assert os.path.exists(os.path.join(target, "kustomization.yaml")), "%s: %s has no kustomization" % (rel(path), ref)
    yaml_here = {os.path.basename(p) for p in glob.glob(os.path.join(base, "*.yaml"))} - {"kustomization.yaml"}
    listed = {os.path.basename(r) for r in refs}
    assert yaml_here <= listed, "%s: files not referenced: %s" % (rel(path), sorted(yaml_here - listed))


def test_default_overlay():
    (kust,) = load_all(os.path.join(CONFIG, "default", "kustomization.yaml"))
    assert kust["namespace"] == "pgfleet-system"
    assert kust["namePrefix"] == "pgfleet-"
    assert {"../crd", "../rbac", "../manager"} <= set(kust["resources"])


def test_samples_are_the_reference_manifests():
    for name in ("minimal-postgres-manifest.yaml", "complete-postgres-manifest.yaml"):
        with open(os.path.join(CONFIG, "samples", name), "rb") as a, open(os.path.join(ROOT, "examples", name), "rb") as b:
            assert a.read() == b.read(), name


def test_crd_base_is_the_crd():
    (kust,) = load_all(os.path.join(CONFIG, "crd", "kustomization.yaml"))
    assert kust["resources"] == ["bases/acid.zalan.do_postgresqls.yaml", "bases/acid.zalan.do_operatorconfigurations.yaml",
                                 "bases/acid.zalan.do_postgresteams.yaml"]
    (crd,) = load_all(os.path.join(CONFIG, "crd", "bases", "acid.zalan.do_postgresqls.yaml"))
    assert crd["metadata"]["name"] == "postgresqls.acid.zalan.do"


def test_operatorconfiguration_crd_has_the_reference_identity():
    """Zalando's Helm chart configures the operator with an OperatorConfiguration object: same group,
    kind, plural and short name, so an existing object and `kubectl get opconfig` keep working."""
    (crd,) = load_all(os.path.join(CONFIG, "crd", "bases", "acid.zalan.do_operatorconfigurations.yaml"))
    assert crd["metadata"]["name"] == "operatorconfigurations.acid.zalan.do"
    spec = crd["spec"]
    assert spec["group"] == "acid.zalan.do" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "OperatorConfiguration" and spec["names"]["plural"] == "operatorconfigurations"
    assert spec["names"]["shortNames"] == ["opconfig"]
    (version,) = spec["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    schema = version["schema"]["openAPIV3Schema"]
    assert "configuration" in schema["required"]
    # every group is open: an object written for any reference-operator version is accepted
    groups = schema["properties"]["configuration"]["properties"]
    for group in ("users", "kubernetes", "postgres_pod_resources", "timeouts", "load_balancer", "aws_or_gcp",
                  "logical_backup", "debug", "teams_api", "logging_rest_api", "connection_pooler", "patroni"):
        assert groups[group]["x-kubernetes-preserve-unknown-fields"] is True, group


# ----------------------------------------------------------------------------------------------
# RBAC
# ----------------------------------------------------------------------------------------------
def rbac_docs():
    return [doc for path in config_files() for doc in load_all(path) if doc.get("kind") in ("Role", "ClusterRole")]


def test_rbac_has_no_wildcards():
    roles = rbac_docs()
    assert len(roles) >= 3
    for role in roles:
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                values = rule.get(key, [])
                assert isinstance(values, list), (role["metadata"]["name"], key)
                assert not any("*" in v for v in values), (role["metadata"]["name"], rule)


def test_manager_role_enumerates_what_the_operator_does():
    rules = rule_map(find("ClusterRole", "manager-role"))
    crud = {"get", "list", "watch", "create", "update", "patch", "delete"}
    read = {"get", "list", "watch"}
    expected = {
        ("acid.zalan.do", "postgresqls"): {"get", "list", "watch", "patch", "update"},
        ("acid.zalan.do", "postgresqls/status"): {"get", "patch", "update"},
        ("acid.zalan.do", "postgresqls/finalizers"): {"update"},
        ("acid.zalan.do", "postgresteams"): read,
        ("acid.zalan.do", "operatorconfigurations"): read,
        ("", "configmaps"): crud | {"deletecollection"},
        ("", "endpoints"): crud | {"deletecollection"},
        ("", "secrets"): crud,
        ("", "services"): crud,
        ("", "pods"): read | {"update", "patch", "delete"},
        ("", "pods/exec"): {"create", "get"},
        ("", "persistentvolumeclaims"): read | {"update", "patch", "delete"},
        ("", "persistentvolumes"): read,
        ("", "nodes"): read,
        ("", "namespaces"): read,
        ("", "serviceaccounts"): read | {"create", "update", "patch"},
        ("rbac.authorization.k8s.io", "rolebindings"): read | {"create"},
        ("apps", "statefulsets"): crud,
        ("apps", "deployments"): crud,
        ("batch", "cronjobs"): crud,
        ("policy", "poddisruptionbudgets"): crud,
        ("", "events"): {"create", "patch"},
        ("events.k8s.io", "events"): {"create", "patch"},
    }
    assert rules == expected


def test_manager_may_bind_postgres_pod_only():
    """Named rules only for postgres-pod: bind (not change) the ClusterRole, and patch (server-side
    apply) the per-namespace RoleBinding so no CR's ownerReference lands on a shared binding."""
    role = find("ClusterRole", "manager-role")
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named == [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
         "resourceNames": ["postgres-pod"], "verbs": ["patch"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
         "resourceNames": ["postgres-pod"], "verbs": ["get", "bind"]},
    ]


def test_postgres_pod_cluster_role():
    assert rule_map(find("ClusterRole", "postgres-pod")) == POSTGRES_POD_RULES


def test_manager_holds_every_postgres_pod_permission():
    """Kubernetes lets a subject grant (bind) only permissions it holds itself, unless it has the
    `bind` verb: the manager has both, so the RoleBinding works either way."""
    manager = rule_map(find("ClusterRole", "manager-role"))
    for key, verbs in POSTGRES_POD_RULES.items():
        assert verbs <= manager.get(key, set()), key


def test_bindings_point_at_the_manager_service_account():
    sa = find("ServiceAccount", "controller-manager")
    for kind, name, role_kind, role_name in [
        ("ClusterRoleBinding", "manager-rolebinding", "ClusterRole", "manager-role"),
        ("RoleBinding", "leader-election-rolebinding", "Role", "leader-election-role"),
    ]:
        binding = find(kind, name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                        "namespace": sa["metadata"]["namespace"]}]
    leader = rule_map(find("Role", "leader-election-role"))
    assert {"get", "create", "update"} <= leader[("coordination.k8s.io", "leases")]


# ----------------------------------------------------------------------------------------------
# manager Deployment
# ----------------------------------------------------------------------------------------------
def manager_container():
    deploy = find("Deployment", "controller-manager")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    return deploy, container


def test_manager_environment():
    deploy, container = manager_container()
    env = {e["name"]: e for e in container["env"]}
    assert env["CONFIG_MAP_NAME"]["value"] == "postgres-operator"
    assert env["ANSIBLE_GATHERING"]["value"] == "explicit"
    assert "WATCHED_NAMESPACE" in env
    assert env["WATCH_NAMESPACE"]["value"] == "$(WATCHED_NAMESPACE)"
    names = [e["name"] for e in container["env"]]
    assert names.index("WATCHED_NAMESPACE") < names.index("WATCH_NAMESPACE"), "$(VAR) needs VAR defined earlier"
    assert env["OPERATOR_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert int(env["MAX_CONCURRENT_RECONCILES_POSTGRESQL_ACID_ZALAN_DO"]["value"]) >= 1
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == "controller-manager"


def test_manager_resources_and_security():
    deploy, container = manager_container()
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert deploy["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    probe_port = re.search(r":(\d+)$", [a for a in container["args"] if a.startswith("--health-probe-bind-address")][0])
    assert container["livenessProbe"]["httpGet"]["port"] == int(probe_port.group(1))
    assert "--leader-elect" in container["args"]


# ----------------------------------------------------------------------------------------------
# watches.yaml and the Dockerfile
# ----------------------------------------------------------------------------------------------
def test_watches():
    with open(os.path.join(ROOT, "watches.yaml")) as fh:
        docs = yaml.safe_load(fh)
    assert len(docs) == 1
    watch = docs[0]
    assert (watch["group"], watch["version"], watch["kind"]) == ("acid.zalan.do", "v1", "postgresql")
    assert watch["playbook"] == "playbooks/reconcile.yml"
    assert watch["snakeCaseParameters"] is False
    assert watch["manageStatus"] is False
    assert watch["watchDependentResources"] is False
    assert watch["reconcilePeriod"] == "30m"
    assert watch["finalizer"] == {"name": "postgres-operator.acid.zalan.do", "playbook": "playbooks/delete.yml"}
    assert "role" not in watch and "maxConcurrentReconciles" not in watch  # the latter is not read from watches.yaml


@pytest.mark.parametrize("playbook", ["playbooks/reconcile.yml", "playbooks/delete.yml"])
def test_watched_playbooks_exist(playbook):
    """ansible-operator refuses to start when a watched playbook is missing."""
    if not os.path.isfile(os.path.join(ROOT, playbook)):
        pytest.skip("%s is not written yet (reconcile/delete playbooks are built separately)" % playbook)
    with open(os.path.join(ROOT, playbook)) as fh:
        plays = yaml.safe_load(fh)
    assert isinstance(plays, list) and plays, playbook


def dockerfile_instructions():
    with open(os.path.join(ROOT, "operator", "Dockerfile")) as fh:
        text = re.sub(r"\\\n", " ", fh.read())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _sep, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_base_image():
    froms = [rest for word, rest in dockerfile_instructions() if word == "FROM"]
    assert froms[-1] == "quay.io/operator-framework/ansible-operator:v1.42.3"
    assert all(f.split()[0] == "quay.io/operator-framework/ansible-operator:v1.42.3" for f in froms)


def test_dockerfile_builds_and_installs_the_collection():
    runs = " ".join(rest for word, rest in dockerfile_instructions() if word == "RUN")
    assert "ansible-galaxy collection build" in runs
    assert re.search(r"ansible-galaxy collection install -r \$\{HOME\}/requirements.yml", runs)
    assert re.search(r"ansible-galaxy collection install --no-deps \S*pgfleet-postgres-\*\.tar\.gz", runs)
    assert "pip install" in runs and "requirements-python.txt" in runs


def test_dockerfile_copies_what_watches_needs():
    copies = {}
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            parts = [p for p in rest.split() if not p.startswith("--")]
            copies[parts[-1]] = parts[:-1]
    assert copies["${HOME}/watches.yaml"] == ["watches.yaml"]
    assert copies["${HOME}/playbooks/"] == ["playbooks/"]
    assert copies["${HOME}/requirements.yml"] == ["operator/requirements.yml"]
    watch = yaml.safe_load(open(os.path.join(ROOT, "watches.yaml")))[0]
    for path in (watch["playbook"], watch["finalizer"]["playbook"]):
        assert not os.path.isabs(path) and path.startswith("playbooks/"), "resolved against ${HOME} = /opt/ansible"
    for sources in copies.values():
        for src in sources:
            if src != ".":
                assert os.path.exists(os.path.join(ROOT, src.rstrip("/"))) or src == "playbooks/", src


def test_dockerignore_keeps_the_context_small():
    with open(os.path.join(ROOT, "operator", "Dockerfile.dockerignore")) as fh:
        entries = {line.strip() for line in fh if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".collections"} <= entries


def test_operator_requirements():
    (reqs,) = load_all(os.path.join(ROOT, "operator", "requirements.yml"))
    names = {c["name"]: c["version"] for c in reqs["collections"]}
    assert list(names) == ["kubernetes.core"]
    assert re.match(r"^\d+\.\d+\.\d+$", names["kubernetes.core"]), "pin an exact version"
    with open(os.path.join(ROOT, "galaxy.yml")) as fh:
        galaxy = yaml.safe_load(fh)
    assert "kubernetes.core" in galaxy["dependencies"]
    with open(os.path.join(ROOT, "operator", "requirements-python.txt")) as fh:
        pins = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    assert pins and all("==" in p for p in pins)


# ----------------------------------------------------------------------------------------------
# the real build, when kubectl (with its built-in kustomize) is available
# ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_kustomize_build_default():
    out = subprocess.run(["kubectl", "kustomize", os.path.join(CONFIG, "default")], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "pgfleet-system", doc["metadata"]
    assert [n["metadata"]["name"] for n in by_kind["Namespace"]] == ["pgfleet-system"]
    assert sorted(r["metadata"]["name"] for r in by_kind["ClusterRole"]) == ["pgfleet-manager-role", "postgres-pod"]
    assert sorted(c["metadata"]["name"] for c in by_kind["CustomResourceDefinition"]) == [
        "operatorconfigurations.acid.zalan.do", "postgresqls.acid.zalan.do", "postgresteams.acid.zalan.do"]
    (deploy,) = by_kind["Deployment"]
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == "pgfleet-controller-manager"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "pgfleet/postgres-operator:0.1.0"
    (crb,) = by_kind["ClusterRoleBinding"]
    assert crb["roleRef"]["name"] == "pgfleet-manager-role"
    assert crb["subjects"][0] == {"kind": "ServiceAccount", "name": "pgfleet-controller-manager",
                                  "namespace": "pgfleet-system"}
