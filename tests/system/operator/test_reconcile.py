"""playbooks/reconcile.yml and playbooks/delete.yml run as ansible-operator runs them.

One cluster (the complete reference manifest, 2 pods) goes through its life in file order:
create, a no-op resync, a spec change that rolls every pod once, annotation-only and volume-only
changes that restart nothing, an interrupted rollout that resumes, a failed read, a scale-down,
and the finalizer. Invalid and delete-protected manifests use clusters of their own.
"""

import os
import time

import pytest

from conftest import REPO, dump, load_yaml, manifest

pytestmark = [pytest.mark.k8s]

NAME = "acid-test-cluster"
NS = "default"
SELECTOR = "cluster-name=%s" % NAME
ROLL_FLAG = "zalando-postgres-operator-rolling-update-required"


def pods(api, name=NAME):
    return sorted(api.list("v1", "Pod", NS, "cluster-name=%s" % name), key=lambda p: p["metadata"]["name"])


def uids(api, name=NAME):
    return dict((p["metadata"]["name"], p["metadata"]["uid"]) for p in pods(api, name))


def leader(api, name=NAME):
    return [p["metadata"]["name"] for p in pods(api, name) if p["metadata"]["labels"].get("spilo-role") == "master"]


def resource_of(path):
    parts = path.strip("/").split("/")
    if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
        return parts[parts.index("namespaces") + 2]
    return parts[3] if parts[0] == "apis" else parts[2]


def kinds_written(writes):
    return sorted(set(resource_of(w[1]) for w in writes))


def update_spec(api, name=NAME, **changes):
    cr = api.current_cr(name, NS)
    for path, value in changes.items():
        cur = cr["spec"]
        keys = path.split("__")
        for key in keys[:-1]:
            cur = cur.setdefault(key, {})
        cur[keys[-1]] = value
    api.put(cr)


def wait_until_empty(api, api_version, kind, timeout=120):
    """The cluster's objects of a kind, once none is left or after a generous ``timeout`` (finalizers are
    released by controllers, a moment after the teardown)."""
    deadline = time.monotonic() + timeout
    while True:
        left = api.list(api_version, kind, NS, SELECTOR)
        if not left or time.monotonic() > deadline:
            return left
        api.settle()
        time.sleep(0.5)


def patroni_requests(api, mark):
    """The requests that reached (fake) Patroni through the pod-proxy URL since ``mark``."""
    if api.kind == "double":
        return [r for r in api.double.requests_since(mark) if r.get("proxy")]
    return api.patroni_requests(mark)


def fake_patroni(api):
    return api.double.controllers.patroni if api.kind == "double" else api.patroni


def fail_next(api, method, fragment, code):
    """The next request ``method`` whose path holds ``fragment`` fails with ``code``, once."""
    if api.kind == "double":
        api.double.fail_next.append((method, fragment, code))
    else:
        api.fail_next(method, fragment, code)


@pytest.fixture(scope="module")
def created(api):
    api.put(manifest(NAME, NS))
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    writes = api.writes(mark)
    api.settle()
    return result, writes


def test_create_applies_every_object(api, created):
    result, writes = created
    assert result.rc == 0, result.stdout[-3000:]
    assert result.requeue is None
    sts = api.get("apps/v1", "StatefulSet", NAME, NS)
    assert sts is not None and sts["spec"]["replicas"] == 2
    assert sts["metadata"]["annotations"]["pgfleet.io/template-checksum"]
    for kind, name in (("Service", NAME), ("Service", NAME + "-repl"),
                       ("Secret", "postgres.%s.credentials.postgresql.acid.zalan.do" % NAME),
                       ("Secret", "zalando.%s.credentials.postgresql.acid.zalan.do" % NAME)):
        assert api.get("v1", kind, name, NS) is not None, (kind, name)
    assert api.get("policy/v1", "PodDisruptionBudget", "postgres-%s-pdb" % NAME, NS) is not None
    # objects are written by server-side apply with our field manager; nothing is PUT
    assert not [w for w in writes if w[0] == "PUT"]
    status = api.status(NAME, NS)
    assert status["PostgresClusterStatus"] == "Running", dump(status)
    assert status["observedGeneration"] == api.current_cr(NAME, NS)["metadata"]["generation"]
    ready = [c for c in status["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "True"
    if api.kind == "double":
        assert len(pods(api)) == 2 and len(leader(api)) == 1


def test_noop_reconcile_writes_nothing(api, created):
    before = uids(api)
    versions = dict((o["kind"] if "kind" in o else k, o["metadata"]["resourceVersion"])
                    for k in ("StatefulSet",) for o in [api.get("apps/v1", "StatefulSet", NAME, NS)])
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    assert api.writes(mark) == []
    assert uids(api) == before
    assert api.get("apps/v1", "StatefulSet", NAME, NS)["metadata"]["resourceVersion"] == versions["StatefulSet"]
    assert result.requeue is None
    if api.kind == "double":
        # and nothing was sent to Patroni but reads
        assert [r for r in api.double.requests_since(mark) if r.get("proxy") and r["method"] != "GET"] == []


def test_spec_change_rolls_each_pod_once(api, created):
    before = uids(api)
    old_leader = leader(api)[0]
    update_spec(api, resources__limits__memory="600Mi")
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    writes = api.writes(mark)
    deleted = [path.rsplit("/", 1)[1] for method, path in writes if method == "DELETE"]
    assert sorted(deleted) == sorted(before), writes
    # replicas first, the old leader last, after one switchover
    assert deleted[-1] == old_leader
    switchovers = [r for r in patroni_requests(api, mark) if r["path"].endswith("/switchover")]
    assert len(switchovers) == 1
    assert set(kinds_written(writes)) <= {"postgresqls", "pods", "statefulsets", "events"}, writes
    after = uids(api)
    assert set(after) == set(before) and not set(after.values()) & set(before.values())
    for pod in pods(api):
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "600Mi"
        assert ROLL_FLAG not in (pod["metadata"].get("annotations") or {})
    status = api.status(NAME, NS)
    assert status["PostgresClusterStatus"] == "Running"
    assert status["observedGeneration"] == api.current_cr(NAME, NS)["metadata"]["generation"]
    reasons = [e["reason"] for e in api.list("v1", "Event", NS)]
    assert "Switchover" in reasons and "RollingUpdate" in reasons
    api.settle()
    mark = api.mark()
    assert api.reconcile(NAME, NS).rc == 0
    assert api.writes(mark) == []


def test_pod_annotation_change_restarts_nothing(api, created):
    before = uids(api)
    update_spec(api, podAnnotations={"example.com/owner": "dba"})
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    writes = api.writes(mark)
    assert not [w for w in writes if w[0] == "DELETE"], writes
    assert uids(api) == before
    if api.kind == "double":
        for pod in pods(api):
            assert pod["metadata"]["annotations"]["example.com/owner"] == "dba"


def test_volume_growth_resizes_pvcs_without_restart(api, created):
    before = uids(api)
    update_spec(api, volume__size="2Gi")
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    writes = api.writes(mark)
    resized = [path for method, path in writes if method == "PATCH" and "/persistentvolumeclaims/" in path]
    assert len(resized) == 2, writes
    # volumeClaimTemplates cannot change in place: the StatefulSet is orphan-deleted and re-created
    assert ("DELETE", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (NS, NAME)) in writes
    assert not [w for w in writes if w[0] == "DELETE" and "/pods/" in w[1]]
    api.settle()
    assert uids(api) == before
    for pvc in api.list("v1", "PersistentVolumeClaim", NS, SELECTOR):
        assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi"
    sts = api.get("apps/v1", "StatefulSet", NAME, NS)
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_pooler_is_applied_and_pruned(api, created):
    update_spec(api, enableConnectionPooler=True)
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    assert api.get("apps/v1", "Deployment", NAME + "-pooler", NS) is not None
    assert api.get("v1", "Service", NAME + "-pooler", NS) is not None
    assert not [w for w in api.writes(mark) if w[0] == "DELETE"]
    api.settle()
    mark = api.mark()
    assert api.reconcile(NAME, NS).rc == 0
    assert api.writes(mark) == []
    update_spec(api, enableConnectionPooler=False)
    mark = api.mark()
    assert api.reconcile(NAME, NS).rc == 0
    deleted = sorted(path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[1]
                     for method, path in api.writes(mark) if method == "DELETE")
    assert "deployments/%s-pooler" % NAME in deleted and "services/%s-pooler" % NAME in deleted, deleted
    api.settle()
    assert api.get("apps/v1", "Deployment", NAME + "-pooler", NS) is None


def test_interrupted_rollout_resumes(api, created):
    update_spec(api, resources__limits__cpu="600m")
    # the API server refuses the deletion of the leader's pod once: the rollout stops half way
    old_leader = leader(api)[0]
    fail_next(api, "DELETE", "/pods/" + old_leader, 500)
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc != 0
    assert api.status(NAME, NS)["PostgresClusterStatus"] == "UpdateFailed"
    flagged = [p["metadata"]["name"] for p in pods(api) if (p["metadata"].get("annotations") or {}).get(ROLL_FLAG) == "true"]
    assert flagged, "the pod not yet recreated keeps its flag"
    api.settle()
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    for pod in pods(api):
        assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "600m"
        assert ROLL_FLAG not in (pod["metadata"].get("annotations") or {})
    assert api.status(NAME, NS)["PostgresClusterStatus"] == "Running"
    # only pods were deleted, each at most once per run
    deleted = [path for method, path in api.writes(mark) if method == "DELETE"]
    assert len(deleted) <= 3


def test_externally_flagged_pod_is_recreated(api, created):
    victim = [p for p in pods(api) if p["metadata"]["labels"].get("spilo-role") == "replica"][0]["metadata"]["name"]
    pod = api.get("v1", "Pod", victim, NS)
    pod["metadata"].setdefault("annotations", {})[ROLL_FLAG] = "true"
    api.put(pod)
    before = uids(api)
    mark = api.mark()
    assert api.reconcile(NAME, NS).rc == 0
    deleted = [path.rsplit("/", 1)[1] for method, path in api.writes(mark) if method == "DELETE"]
    assert deleted == [victim]
    assert uids(api)[victim] != before[victim]


def test_failed_read_stops_the_reconcile(api, created):
    update_spec(api, resources__limits__memory="700Mi")
    fail_next(api, "GET", "/namespaces/%s/secrets" % NS, 503)
    mark = api.mark()
    result = api.reconcile(NAME, NS)
    assert result.rc != 0
    writes = api.writes(mark)
    # unknown is never empty: nothing applied, only the failure reported on the postgresql object
    assert [w for w in writes if "/postgresqls/" not in w[1] and "/events" not in w[1]] == [], writes
    status = api.status(NAME, NS)
    assert status["PostgresClusterStatus"] == "UpdateFailed"
    assert "503" in [c for c in status["conditions"] if c["type"] == "Ready"][0]["message"]
    assert api.reconcile(NAME, NS).rc == 0
    assert api.status(NAME, NS)["PostgresClusterStatus"] == "Running"


def test_scale_down_moves_the_leader_first(api, created):
    if leader(api) != [NAME + "-1"]:
        # make pod 1 the leader through Patroni, as a failover would
        fake_patroni(api).handle("POST", NS, leader(api)[0], "8008", "switchover", {"candidate": NAME + "-1"}, api.url)
    assert leader(api) == [NAME + "-1"]
    update_spec(api, numberOfInstances=1)
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    api.settle()
    assert [p["metadata"]["name"] for p in pods(api)] == [NAME + "-0"]
    assert leader(api) == [NAME + "-0"]
    update_spec(api, numberOfInstances=2)
    assert api.reconcile(NAME, NS).rc == 0
    api.settle()
    assert len(pods(api)) == 2


WATCHES = load_yaml(os.path.join(REPO, "watches.yaml"))[0]


def test_watches_marks_cr_values_unsafe():
    """Without markUnsafe, ansible-operator passes CR strings as templates and a manifest could run
    Jinja (lookup('pipe', ...)) inside the operator."""
    assert WATCHES.get("markUnsafe") is True


def test_manifest_strings_are_never_templated(api):
    name = "acid-jinja"
    api.put(manifest(name, NS, numberOfInstances=1, podAnnotations={"example.com/x": "{{ 7 * 6 }}"}))
    result = api.reconcile(name, NS)
    assert result.rc == 0, result.stdout[-3000:]
    sts = api.get("apps/v1", "StatefulSet", name, NS)
    assert sts["spec"]["template"]["metadata"]["annotations"]["example.com/x"] == "{{ 7 * 6 }}"


def test_invalid_manifest_sets_invalid_and_writes_nothing_else(api):
    bad = manifest("acid-invalid", NS)
    bad["spec"]["users"] = {"bad user!": ["superuser", "nosuperuser"]}
    api.put(bad)
    mark = api.mark()
    result = api.reconcile("acid-invalid", NS)
    assert result.rc == 0, result.stdout[-3000:]  # operator mode: the play ends quietly, no retry
    writes = api.writes(mark)
    assert [w for w in writes if not w[1].endswith("/postgresqls/acid-invalid/status")
            and not w[1].endswith("/postgresqls/acid-invalid") and not w[1].endswith("/events")] == [], writes
    # the refusal is told once, as a Warning event (not again at the next resync: see the end of the test)
    assert [w for w in writes if w[1].endswith("/events")] == [("POST", "/api/v1/namespaces/%s/events" % NS)], writes
    status = api.status("acid-invalid", NS)
    assert status["PostgresClusterStatus"] == "Invalid"
    assert "spec.users" in [c for c in status["conditions"] if c["type"] == "Valid"][0]["message"]
    assert api.list("apps/v1", "StatefulSet", NS, "cluster-name=acid-invalid") == []
    mark = api.mark()
    assert api.reconcile("acid-invalid", NS).rc == 0
    assert api.writes(mark) == []
    # an invalid manifest is deleted without touching anything (its finalizer simply goes)
    api.delete("acid.zalan.do/v1", "postgresql", "acid-invalid", NS)
    result = api.finalize("acid-invalid", NS)
    assert result.rc == 0, result.stdout[-3000:]
    assert api.current_cr("acid-invalid", NS) is None


def test_delete_protection_keeps_every_object(api):
    name = "acid-protected"
    cm = api.get("v1", "ConfigMap", "postgres-operator", "pgfleet-system")
    cm["data"]["delete_annotation_date_key"] = "delete-date"
    cm["data"]["delete_annotation_name_key"] = "delete-clustername"
    api.put(cm)
    try:
        api.put(manifest(name, NS, numberOfInstances=1))
        assert api.reconcile(name, NS).rc == 0
        api.settle()
        before = sorted(o["metadata"]["name"] for o in api.list("v1", "Secret", NS, "cluster-name=%s" % name))
        api.delete("acid.zalan.do/v1", "postgresql", name, NS)
        mark = api.mark()
        result = api.finalize(name, NS)
        assert result.rc == 0, result.stdout[-3000:]
        assert api.current_cr(name, NS) is None
        assert [w for w in api.writes(mark) if w[0] == "DELETE"] == []
        assert api.get("apps/v1", "StatefulSet", name, NS) is not None
        assert sorted(o["metadata"]["name"] for o in api.list("v1", "Secret", NS, "cluster-name=%s" % name)) == before
    finally:
        cm = api.get("v1", "ConfigMap", "postgres-operator", "pgfleet-system")
        cm["data"].pop("delete_annotation_date_key", None)
        cm["data"].pop("delete_annotation_name_key", None)
        api.put(cm)


def test_delete_tears_down_pods_before_patroni_objects(api, created):
    api.delete("acid.zalan.do/v1", "postgresql", NAME, NS)
    mark = api.mark()
    result = api.finalize(NAME, NS)
    assert result.rc == 0, result.stdout[-3000:]
    deletes = [path for method, path in api.writes(mark) if method == "DELETE"]
    order = [resource_of(p) for p in deletes]
    assert order.index("statefulsets") < order.index("pods")
    last_pod = max(i for i, kind in enumerate(order) if kind == "pods")
    for i, path in enumerate(deletes):
        if path.endswith(("-config", "-leader", "-sync", "-failover")):
            assert i > last_pod, deletes
    # the volumes are deleted (enable_persistent_volume_claim_deletion, the default) after their pods:
    # the API server keeps a claim with the kubernetes.io/pvc-protection finalizer only while a pod
    # uses it, so once the pods are gone nothing of the cluster is left - on the double and the server
    assert "persistentvolumeclaims" in order and order.index("persistentvolumeclaims") > last_pod, deletes
    api.settle()
    assert api.current_cr(NAME, NS) is None
    for api_version, kind in (("apps/v1", "StatefulSet"), ("v1", "Pod"), ("v1", "Service"), ("v1", "Secret"),
                              ("v1", "PersistentVolumeClaim"), ("v1", "ConfigMap"), ("v1", "Endpoints"),
                              ("policy/v1", "PodDisruptionBudget")):
        left = wait_until_empty(api, api_version, kind)
        assert left == [], (kind, [(o["metadata"]["name"], o["metadata"].get("finalizers")) for o in left])
