"""Pure tests of what the k8s_* modules decide (no server): covers, checksums, StatefulSet plans,
pods to roll, volume growth, teardown order, status conditions."""

import copy

from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import diff as k8s_diff
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import status as k8s_status
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import teardown as k8s_teardown
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import readiness, split_ref

STS = {
    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}},
    "spec": {"replicas": 2, "serviceName": "c", "selector": {"matchLabels": {"cluster-name": "c"}},
             "podManagementPolicy": "OrderedReady",
             "template": {"metadata": {"labels": {"cluster-name": "c"}, "annotations": {"x": "1"}},
                          "spec": {"containers": [{"name": "postgres", "image": "spilo:1",
                                                   "resources": {"limits": {"memory": "1Gi", "cpu": "1"}},
                                                   "ports": [{"containerPort": 5432}],
                                                   "env": [{"name": "A", "value": "1"}]}]}},
             "volumeClaimTemplates": [{"metadata": {"name": "pgdata"},
                                       "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]},
}


def served(obj):
    """What an API server would store: defaults, canonical quantities, extra list entries of others."""
    live = copy.deepcopy(obj)
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["resources"]["limits"]["memory"] = "1024Mi"
    c["terminationMessagePath"] = "/dev/termination-log"
    c["ports"][0]["protocol"] = "TCP"
    c["env"].append({"name": "INJECTED", "value": "by a webhook"})
    live["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    live["spec"]["revisionHistoryLimit"] = 10
    live["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] = "Filesystem"
    live["spec"]["volumeClaimTemplates"][0]["status"] = {"phase": "Pending"}
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1)
    live["status"] = {"replicas": 2}
    return live


def test_defaults_and_canonical_quantities_are_covered():
    desired = k8s_diff.prepare(STS)
    ok, reasons = k8s_diff.in_sync(desired, served(desired))
    assert ok, reasons


def test_a_changed_field_and_a_removed_field_are_noticed():
    desired = k8s_diff.prepare(STS)
    live = served(desired)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "spilo:0"
    ok, reasons = k8s_diff.in_sync(desired, live)
    assert not ok and "containers" in reasons[-1]
    # a field we stopped rendering changes the applied checksum, though the live object still covers it
    smaller = copy.deepcopy(STS)
    del smaller["metadata"]["labels"]
    ok, reasons = k8s_diff.in_sync(k8s_diff.prepare(smaller), served(desired))
    assert not ok and reasons == ["rendering changed"]


def test_secret_string_data_compares_as_data():
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "x"}}
    live = {"metadata": {"name": "s"}, "data": {"password": "eA=="}, "type": "Opaque"}
    assert k8s_diff.object_differences(desired, live) == []


def test_statefulset_replace_only_for_fields_kubernetes_refuses_in_place():
    desired = k8s_diff.prepare(STS)
    live = served(desired)
    assert k8s_diff.statefulset_replace_reasons(desired, live) == []
    bigger = copy.deepcopy(STS)
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert k8s_diff.statefulset_replace_reasons(k8s_diff.prepare(bigger), live) == ["spec.volumeClaimTemplates"]
    reselect = copy.deepcopy(STS)
    reselect["spec"]["selector"]["matchLabels"]["application"] = "spilo"
    assert "spec.selector" in k8s_diff.statefulset_replace_reasons(reselect, live)


def pod(name, checksum=None, image="spilo:1", flagged=False, full=None):
    ann = {}
    if checksum:
        ann[k8s_diff.POD_CHECKSUM] = checksum
    if full:
        ann[k8s_diff.TEMPLATE_CHECKSUM] = full
    if flagged:
        ann[k8s_diff.ROLLING_FLAG] = "true"
    return {"metadata": {"name": name, "annotations": ann},
            "spec": {"containers": [{"name": "postgres", "image": image}]}}


def test_pods_roll_on_pod_template_change_only():
    desired = k8s_diff.prepare(STS)
    want = desired["spec"]["template"]["metadata"]["annotations"][k8s_diff.POD_CHECKSUM]
    assert k8s_diff.pods_to_roll(desired, [pod("c-0", want), pod("c-1", want)]) == {}
    # a volume size change does not change the pod checksum
    bigger = copy.deepcopy(STS)
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert k8s_diff.pods_to_roll(k8s_diff.prepare(bigger), [pod("c-0", want)]) == {}
    # annotations are not part of it either (they are patched onto the pods)
    annotated = copy.deepcopy(STS)
    annotated["spec"]["template"]["metadata"]["annotations"]["y"] = "2"
    assert k8s_diff.pods_to_roll(k8s_diff.prepare(annotated), [pod("c-0", want)]) == {}
    changed = copy.deepcopy(STS)
    changed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "2"
    assert set(k8s_diff.pods_to_roll(k8s_diff.prepare(changed), [pod("c-0", want), pod("c-1", want)])) == {"c-0", "c-1"}
    assert k8s_diff.pods_to_roll(desired, [pod("c-0", want, flagged=True)]) == {"c-0": "flagged for a rolling update"}
    # adopted pods (no checksum of ours) roll only for another image; lazy upgrade never for the image
    assert k8s_diff.pods_to_roll(desired, [pod("c-0"), pod("c-1", image="spilo:0")]).keys() == {"c-1"}
    lazy = k8s_diff.prepare(STS, lazy_image=True)
    other_image = copy.deepcopy(STS)
    other_image["spec"]["template"]["spec"]["containers"][0]["image"] = "spilo:2"
    lazy_want = lazy["spec"]["template"]["metadata"]["annotations"][k8s_diff.POD_CHECKSUM]
    assert k8s_diff.pods_to_roll(k8s_diff.prepare(other_image, lazy_image=True), [pod("c-0", lazy_want)], lazy_image=True) == {}


def test_pod_annotation_patches_add_change_and_remove():
    desired = k8s_diff.prepare(STS)
    live_sts = copy.deepcopy(desired)
    live_sts["spec"]["template"]["metadata"]["annotations"]["old"] = "gone"
    p = pod("c-0")
    p["metadata"]["annotations"].update(desired["spec"]["template"]["metadata"]["annotations"])
    p["metadata"]["annotations"].update({"old": "gone", "x": "0", "status": "kept (Patroni's)"})
    patches = k8s_diff.pod_annotation_patches(desired, live_sts, [p])
    assert patches == {"c-0": {"x": "1", "old": None}}


def test_pvc_growth_and_no_shrink():
    desired = copy.deepcopy(STS)
    desired["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    pvcs = [{"metadata": {"name": "pgdata-c-0"}, "spec": {"resources": {"requests": {"storage": "1024Mi"}}}},
            {"metadata": {"name": "pgdata-c-1"}, "spec": {"resources": {"requests": {"storage": "3Gi"}}}},
            {"metadata": {"name": "pgdata-other-0"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]
    grow, warnings = k8s_diff.pvc_resizes(desired, pvcs)
    assert grow == [("pgdata-c-0", "1024Mi", "2Gi")] and len(warnings) == 1


def test_teardown_order_puts_patroni_objects_after_the_pods():
    live = {"StatefulSet": [{"metadata": {"name": "c"}}], "Pod": [{"metadata": {"name": "c-1"}}, {"metadata": {"name": "c-0"}}],
            "ConfigMap": [{"metadata": {"name": "c-leader"}}, {"metadata": {"name": "c-config"}}],
            "PersistentVolumeClaim": [{"metadata": {"name": "pgdata-c-0"}}],
            "Secret": [{"metadata": {"name": "postgres.c.credentials"}}, {"metadata": {"name": "unrelated"}}],
            "Service": [{"metadata": {"name": "c"}}, {"metadata": {"name": "c-repl"}}],
            "CronJob": [{"metadata": {"name": "logical-backup-c", "labels": {"application": "spilo-logical-backup"}}}]}
    steps = k8s_teardown.plan("c", live, secret_names=["postgres.c.credentials"])
    names = [(s[2], s[3]) for s in steps]
    assert names[0] == ("CronJob", "logical-backup-c") and names[1] == ("StatefulSet", "c")
    assert names.index(("Pod", "c-1")) < names.index(("ConfigMap", "c-leader"))
    assert ("Secret", "unrelated") not in names
    assert ("PersistentVolumeClaim", "pgdata-c-0") not in [(s[2], s[3]) for s in k8s_teardown.plan("c", live, delete_pvcs=False)]


def test_conditions_keep_their_transition_time():
    cr = {"metadata": {"name": "c", "generation": 3},
          "status": {"PostgresClusterStatus": "Running", "observedGeneration": 2,
                     "conditions": [{"type": "Ready", "status": "True", "reason": "PodsReady", "message": "a",
                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    ready = [{"type": "Ready", "status": "True", "reason": "PodsReady", "message": "b"}]
    cur, new = k8s_status.desired_status(cr, "Running", ready, 3, stamp="2026-02-02T00:00:00Z")
    assert new["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and new["observedGeneration"] == 3
    cur, new = k8s_status.desired_status(cr, "SyncFailed", [{"type": "Ready", "status": "False"}], stamp="2026-02-02T00:00:00Z")
    assert new["conditions"][0]["lastTransitionTime"] == "2026-02-02T00:00:00Z"
    assert k8s_status.current_status({"status": "Running"}) == {"PostgresClusterStatus": "Running"}


def test_readiness_and_refs():
    pods = [{"name": "c-0", "role": "master", "ready": True, "terminating": False, "phase": "Running"},
            {"name": "c-1", "role": None, "ready": True, "terminating": False, "phase": "Running"}]
    ready, reasons, leader, _masters = readiness(pods, 2)
    assert not ready and "no spilo-role label yet: c-1" in reasons and leader["name"] == "c-0"
    pods[1]["role"] = "master"
    assert "more than one" in readiness(pods, 2)[1][-1]
    assert split_ref("ns/cm", "x") == ("ns", "cm") and split_ref("cm", "x") == ("x", "cm")
