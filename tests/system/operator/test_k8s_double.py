"""The Kubernetes API test double does what the operator tests rely on (tests/k8s_double).

Each behaviour here is one the reconcile or kubernetes.core depends on, and one a real API server
has; where kmock 0.8 fell short (namespaces, list kinds, label selectors, PUT,
CRD discovery), and those are covered first. The last test runs kubernetes.core's own modules
against the double through ansible-playbook.
"""

import json
import os
import subprocess
import sys

import pytest
import requests
from k8s_double import KubeDouble, quantity

from conftest import COLLECTIONS, REPO

pytestmark = [pytest.mark.k8s]


@pytest.fixture(scope="module")
def double():
    d = KubeDouble(pod_start_seconds=0.05).start()
    yield d
    d.stop()


def call(d, method, path, body=None, ctype="application/json", **params):
    data = None
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
    resp = requests.request(method, d.url + path, data=data, params=params, headers={"Content-Type": ctype}, timeout=10)
    return resp.status_code, (resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else resp.text)


def cm(name, ns="default", labels=None, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "data": data or {}}


def test_discovery(double):
    code, apis = call(double, "GET", "/apis")
    assert code == 200 and apis["kind"] == "APIGroupList"
    assert "acid.zalan.do" in [g["name"] for g in apis["groups"]]
    code, res = call(double, "GET", "/apis/acid.zalan.do/v1")
    names = [r["name"] for r in res["resources"]]
    assert "postgresqls" in names and "postgresqls/status" in names
    assert call(double, "GET", "/api/v1")[1]["groupVersion"] == "v1"


def test_namespaces_lists_and_selectors(double):
    assert call(double, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t1"}})[0] == 201
    assert call(double, "POST", "/api/v1/namespaces/nope/configmaps", cm("a", "nope"))[0] == 404
    for name, app in (("a", "spilo"), ("b", "other")):
        assert call(double, "POST", "/api/v1/namespaces/t1/configmaps", cm(name, "t1", {"application": app}))[0] == 201
    code, listing = call(double, "GET", "/api/v1/namespaces/t1/configmaps", labelSelector="application=spilo")
    assert listing["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in listing["items"]] == ["a"]
    code, listing = call(double, "GET", "/api/v1/namespaces/t1/configmaps", labelSelector="application in (spilo,other),!missing")
    assert len(listing["items"]) == 2
    assert call(double, "POST", "/api/v1/namespaces/t1/configmaps", cm("a", "t1"))[0] == 409


def test_put_conflict_and_noop(double):
    code, obj = call(double, "GET", "/api/v1/namespaces/t1/configmaps/a")
    rv = obj["metadata"]["resourceVersion"]
    obj["data"] = {"k": "v"}
    code, new = call(double, "PUT", "/api/v1/namespaces/t1/configmaps/a", obj)
    assert code == 200 and new["metadata"]["resourceVersion"] != rv
    obj["metadata"]["resourceVersion"] = rv
    assert call(double, "PUT", "/api/v1/namespaces/t1/configmaps/a", obj)[0] == 409
    same = dict(new)
    code, again = call(double, "PUT", "/api/v1/namespaces/t1/configmaps/a", same)
    assert again["metadata"]["resourceVersion"] == new["metadata"]["resourceVersion"]


def test_server_side_apply_ownership_conflicts_and_dry_run(double):
    path = "/api/v1/namespaces/t1/configmaps/ssa"
    body = cm("ssa", "t1", data={"a": "1", "b": "2"})
    code, obj = call(double, "PATCH", path, body, "application/apply-patch+yaml", fieldManager="pgfleet")
    assert code == 201 and obj["data"] == {"a": "1", "b": "2"}
    rv = obj["metadata"]["resourceVersion"]
    # the same apply again changes nothing, not even the resourceVersion
    code, obj = call(double, "PATCH", path, body, "application/apply-patch+yaml", fieldManager="pgfleet")
    assert obj["metadata"]["resourceVersion"] == rv
    # a field the manager stops applying is removed
    code, obj = call(double, "PATCH", path, cm("ssa", "t1", data={"a": "1"}), "application/apply-patch+yaml", fieldManager="pgfleet")
    assert obj["data"] == {"a": "1"}
    # another manager changes our field: conflict, unless forced
    call(double, "PATCH", path, {"data": {"a": "9"}}, "application/merge-patch+json", fieldManager="someone")
    code, err = call(double, "PATCH", path, cm("ssa", "t1", data={"a": "1"}), "application/apply-patch+yaml", fieldManager="pgfleet")
    assert code == 409 and err["reason"] == "Conflict"
    code, obj = call(double, "PATCH", path, cm("ssa", "t1", data={"a": "1"}), "application/apply-patch+yaml",
                     fieldManager="pgfleet", force="true")
    assert code == 200 and obj["data"]["a"] == "1"
    rv = obj["metadata"]["resourceVersion"]
    code, obj = call(double, "PATCH", path, cm("ssa", "t1", data={"a": "2"}), "application/apply-patch+yaml",
                     fieldManager="pgfleet", dryRun="All")
    assert obj["data"]["a"] == "2"
    assert call(double, "GET", path)[1]["metadata"]["resourceVersion"] == rv


def test_patch_formats(double):
    path = "/api/v1/namespaces/t1/configmaps/b"
    assert call(double, "PATCH", path, [{"op": "add", "path": "/data/x", "value": "1"}], "application/json-patch+json")[0] == 200
    assert call(double, "PATCH", path, {"data": {"x": None, "y": "2"}}, "application/merge-patch+json")[1]["data"] == {"y": "2"}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "smp", "namespace": "t1"},
           "spec": {"replicas": 0, "serviceName": "smp", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}]}]}}}}
    assert call(double, "POST", "/apis/apps/v1/namespaces/t1/statefulsets", sts)[0] == 201
    code, out = call(double, "PATCH", "/apis/apps/v1/namespaces/t1/statefulsets/smp",
                     {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}},
                     "application/strategic-merge-patch+json")
    env = out["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["A", "B"], "strategic merge merges env by name"


def test_defaults_quantities_and_immutable_fields(double):
    assert quantity.canonical("1024Mi") == "1Gi" and quantity.canonical("0.5") == "500m"
    # the fake controller writes the StatefulSet's status after the last test's patch: let it finish
    # first, or the PUT below races it (409 instead of the 422 under test)
    assert double.settle(timeout=60)
    code, sts = call(double, "GET", "/apis/apps/v1/namespaces/t1/statefulsets/smp")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log" and c["imagePullPolicy"] == "IfNotPresent"
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    sts["spec"]["selector"] = {"matchLabels": {"a": "b", "new": "x"}}
    sts["spec"]["template"]["metadata"]["labels"]["new"] = "x"
    code, err = call(double, "PUT", "/apis/apps/v1/namespaces/t1/statefulsets/smp", sts)
    assert code == 422 and "Forbidden" in err["message"]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "t1"},
           "spec": {"ports": [{"port": 5432}]}}
    code, out = call(double, "POST", "/api/v1/namespaces/t1/services", svc)
    assert out["spec"]["clusterIP"] and out["spec"]["ports"][0]["protocol"] == "TCP"
    bad = cm("bad", "t1")
    bad["metadata"]["labels"] = {"x": True}
    assert call(double, "POST", "/api/v1/namespaces/t1/configmaps", bad)[0] == 422


def test_status_subresource_generation_finalizers(double):
    pg = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
          "metadata": {"name": "pg", "namespace": "t1", "finalizers": ["x/y"]}, "spec": {"teamId": "acid"},
          "status": {"PostgresClusterStatus": "ignored on create"}}
    code, obj = call(double, "POST", "/apis/acid.zalan.do/v1/namespaces/t1/postgresqls", pg)
    assert obj["metadata"]["generation"] == 1 and "status" not in obj
    path = "/apis/acid.zalan.do/v1/namespaces/t1/postgresqls/pg"
    code, obj = call(double, "PATCH", path + "/status", {"status": {"PostgresClusterStatus": "Running"}},
                     "application/merge-patch+json")
    assert obj["status"]["PostgresClusterStatus"] == "Running" and obj["metadata"]["generation"] == 1
    code, obj = call(double, "PATCH", path, {"spec": {"teamId": "b"}}, "application/merge-patch+json")
    assert obj["metadata"]["generation"] == 2
    code, obj = call(double, "DELETE", path)
    assert code == 200 and obj["metadata"]["deletionTimestamp"]
    assert call(double, "GET", path)[0] == 200
    call(double, "PATCH", path, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert call(double, "GET", path)[0] == 404


def test_statefulset_controller_orphan_and_cascade(double):
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "t1"},
           "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"cluster-name": "db"}},
                    "updateStrategy": {"type": "OnDelete"},
                    "template": {"metadata": {"labels": {"cluster-name": "db", "application": "spilo"}},
                                 "spec": {"containers": [{"name": "postgres", "image": "spilo:1"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "pgdata"},
                                              "spec": {"accessModes": ["ReadWriteOnce"],
                                                       "resources": {"requests": {"storage": "1Gi"}}}}]}}
    assert call(double, "POST", "/apis/apps/v1/namespaces/t1/statefulsets", sts)[0] == 201
    double.settle()
    pods = double.list("v1", "Pod", "t1", "cluster-name=db")
    assert [p["metadata"]["labels"]["spilo-role"] for p in pods] == ["master", "replica"]
    assert len(double.list("v1", "PersistentVolumeClaim", "t1")) == 2
    # a deleted pod comes back from the template (OnDelete), as a replica
    call(double, "DELETE", "/api/v1/namespaces/t1/pods/db-1")
    double.settle()
    assert double.get("v1", "Pod", "db-1", "t1")["metadata"]["uid"] != pods[1]["metadata"]["uid"]
    # orphan: the pods stay, without an owner
    call(double, "DELETE", "/apis/apps/v1/namespaces/t1/statefulsets/db", {"propagationPolicy": "Orphan"})
    pods = double.list("v1", "Pod", "t1", "cluster-name=db")
    assert len(pods) == 2 and not any(p["metadata"].get("ownerReferences") for p in pods)
    # re-created, it adopts them; deleted in the background, it takes them along
    call(double, "POST", "/apis/apps/v1/namespaces/t1/statefulsets", sts)
    double.settle()
    assert all(p["metadata"].get("ownerReferences") for p in double.list("v1", "Pod", "t1", "cluster-name=db"))
    call(double, "DELETE", "/apis/apps/v1/namespaces/t1/statefulsets/db")
    double.settle()
    assert double.list("v1", "Pod", "t1", "cluster-name=db") == []


def test_request_log_counts_writes(double):
    mark = double.mark()
    call(double, "GET", "/api/v1/namespaces/t1/configmaps")
    call(double, "PATCH", "/api/v1/namespaces/t1/configmaps/b", {"data": {"z": "1"}}, "application/merge-patch+json", dryRun="All")
    assert double.writes(mark) == []
    call(double, "PATCH", "/api/v1/namespaces/t1/configmaps/b", {"data": {"z": "1"}}, "application/merge-patch+json")
    call(double, "PATCH", "/api/v1/namespaces/t1/configmaps/b", {"data": {"z": "1"}}, "application/merge-patch+json")
    assert len(double.writes(mark)) == 2 and len(double.mutations(mark)) == 1


def test_kubernetes_core_modules_work_against_the_double(double, tmp_path):
    kubeconfig = double.write_kubeconfig(str(tmp_path / "kubeconfig"))
    playbook = tmp_path / "pb.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - kubernetes.core.k8s:
        state: present
        apply: true
        server_side_apply: {field_manager: pgfleet, force_conflicts: true}
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: kc, namespace: t1, labels: {app: kc}}, data: {a: "1"}}
    - kubernetes.core.k8s:
        state: present
        apply: true
        server_side_apply: {field_manager: pgfleet, force_conflicts: true}
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: kc, namespace: t1, labels: {app: kc}}, data: {a: "1"}}
      register: again
    - kubernetes.core.k8s_info: {kind: ConfigMap, namespace: t1, label_selectors: ["app=kc"]}
      register: info
    - kubernetes.core.k8s:
        state: present
        force: true
        definition: {apiVersion: v1, kind: ConfigMap, metadata: {name: kc, namespace: t1, labels: {app: kc}}, data: {a: "2"}}
    - kubernetes.core.k8s: {state: absent, kind: ConfigMap, name: kc, namespace: t1, wait: true}
    - ansible.builtin.assert:
        that:
          - not again.changed
          - info.resources | length == 1
""")
    env = dict(os.environ, K8S_AUTH_KUBECONFIG=kubeconfig, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert double.get("v1", "ConfigMap", "kc", "t1") is None
    assert REPO
