"""operator/console: the console's kustomize manifests keep least privilege."""

import glob
import os
import shutil
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
BASE = os.path.join(REPO, "operator", "console", "base")


def objects(pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(BASE, pattern))):
        with open(path) as fh:
            out.extend(d for d in yaml.safe_load_all(fh) if d)
    return out


def test_the_console_pod_has_no_rights_of_its_own():
    sa = objects("service_account.yaml")[0]
    assert sa["automountServiceAccountToken"] is False
    deploy = objects("deployment.yaml")[0]
    spec = deploy["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    args = spec["containers"][0]["args"]
    assert args[args.index("--auth") + 1] == "token" and "--no-local" in args
    assert args[args.index("--api-server") + 1] == "https://kubernetes.default.svc"
    ca_dir = os.path.dirname(args[args.index("--ca-file") + 1])
    mounts = dict((m["mountPath"], m["name"]) for m in spec["containers"][0]["volumeMounts"])
    volumes = dict((v["name"], v) for v in spec["volumes"])
    assert volumes[mounts[ca_dir]]["configMap"]["name"] == "kube-root-ca.crt"
    sec = spec["containers"][0]["securityContext"]
    assert sec["readOnlyRootFilesystem"] and sec["capabilities"]["drop"] == ["ALL"]
    assert not [o for o in objects("*.yaml") if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]


def test_user_roles_grant_no_secrets_and_no_wildcards():
    roles = dict((r["metadata"]["name"], r) for r in objects("user_roles.yaml"))
    assert set(roles) == {"console-viewer", "console-editor"}
    for role in roles.values():
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"] and "*" not in rule["verbs"]
    writes = set()
    for role_name, role in roles.items():
        for rule in role["rules"]:
            for verb in set(rule["verbs"]) - {"get", "list"}:
                writes.add((role_name, tuple(rule["resources"]), verb))
    assert {w[0] for w in writes} == {"console-editor"}
    assert {w[1] for w in writes} == {("postgresqls",)}


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed (kustomize build check)")
@pytest.mark.parametrize("overlay", ["", "single-user"])
def test_kustomize_builds(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(REPO, "operator", "console", overlay)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    names = dict((d["kind"], d["metadata"]["name"]) for d in docs)
    assert names["Deployment"] == "pgfleet-console"
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == "pgfleet-console"
