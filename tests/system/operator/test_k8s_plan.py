"""Pure tests of what the k8s_* modules decide (no server): covers, checksums, StatefulSet plans,
pods to roll, volume growth, teardown order, status conditions."""

import copy

from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import diff as k8s_diff
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import state as k8s_state
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


POD = {"name": "c-1", "role": "master", "ready": True, "terminating": False, "phase": "Running", "ip": "10.0.0.7"}


def test_the_leaders_patroni_url_is_built_in_one_place():
    url = k8s_state.patroni_api_url
    assert url("ns", POD) == "http://10.0.0.7:8008"
    assert url("ns", POD, {"mode": "proxy", "proxy_url": "http://127.0.0.1:8001//", "port": 8009}) == \
        "http://127.0.0.1:8001/api/v1/namespaces/ns/pods/c-1:8009/proxy"
    assert url("ns", POD, {"mode": "url", "url": "http://localhost:18008"}) == "http://localhost:18008"
    assert url("ns", None) == "" and url("ns", dict(POD, ip=None)) == ""
    assert k8s_state.with_api_url(POD, "ns", None)["api_url"] == "http://10.0.0.7:8008"
    assert k8s_state.with_api_url(None, "ns", None) is None


def test_phase_owner_and_stop_decisions():
    cr = {"metadata": {"name": "c", "generation": 4}, "status": {"PostgresClusterStatus": "Running", "observedGeneration": 3}}
    assert k8s_state.reconcile_phase(cr, exists=False) == "Creating"
    assert k8s_state.reconcile_phase(cr, exists=True) == "Updating"
    cr["status"]["observedGeneration"] = 4
    assert k8s_state.reconcile_phase(cr, exists=True) == "Sync"
    assert k8s_state.reconcile_phase({"metadata": {"generation": 2}, "status": "Running"}, exists=True) == "Sync"
    assert k8s_state.stop_decision(cr, None) == ("", "")
    theirs = {"metadata": {"name": "c", "annotations": {"acid.zalan.do/controller": "blue"}}}
    assert k8s_state.stop_decision(theirs, None)[0] == "foreign"
    assert k8s_state.stop_decision(theirs, None, controller_id="blue") == ("", "")
    assert k8s_state.stop_decision({"metadata": {"name": "c", "deletionTimestamp": "x"}}, None)[0] == "deleting"
    assert k8s_state.stop_decision(cr, {"msg": "spec.users: bad"}) == ("invalid", "spec.users: bad")


def test_teardown_decision_keeps_everything_on_a_doubt():
    cfg = {"enable_owner_references": False, "delete_annotation_date_key": "delete-date",
           "delete_annotation_name_key": "delete-clustername"}
    cr = {"metadata": {"name": "c", "annotations": {}}}
    keep = k8s_state.keep_reason
    assert keep(cr, cfg, None, today="2026-12-03") == "delete protection: annotation delete-date must be 2026-12-03"
    cr["metadata"]["annotations"]["delete-date"] = "2026-12-03"
    assert keep(cr, cfg, None, today="2026-12-03") == "delete protection: annotation delete-clustername must be c"
    cr["metadata"]["annotations"]["delete-clustername"] = "c"
    assert keep(cr, cfg, None, today="2026-12-03") == ""
    assert keep(cr, cfg, None, today="2026-12-04").startswith("delete protection")
    # with owner references the annotations are not asked for; invalid or foreign manifests keep everything
    assert keep({"metadata": {"name": "c"}}, dict(cfg, enable_owner_references=True), None) == ""
    assert keep(cr, cfg, {"msg": "bad"}, today="2026-12-03").startswith("the manifest is invalid")
    cr["metadata"]["annotations"]["acid.zalan.do/controller"] = "blue"
    assert keep(cr, cfg, None, today="2026-12-03") == "the cluster belongs to controller 'blue'"
    assert keep(cr, cfg, None, controller_id="blue", today="2026-12-03") == ""
    assert keep({"metadata": {"name": "c"}}, {}, None) == ""


def test_reconcile_outcome_decides_the_status_and_conditions():
    cr = {"metadata": {"name": "c", "generation": 5}, "status": {"PostgresClusterStatus": "Running", "observedGeneration": 4}}
    out = k8s_status.reconcile_outcome(cr, "Updating", {"ready": False, "ready_reasons": ["1 of 2 pods exist"],
                                                        "pending": ["c-1", "c-0"]})
    assert out["status"] == "Updating" and out["observed_generation"] is None
    conds = dict((c["type"], c) for c in out["conditions"])
    assert conds["Ready"] == {"type": "Ready", "status": "False", "reason": "PodsNotReady", "message": "1 of 2 pods exist"}
    assert conds["PodsUpToDate"]["message"] == "to recreate: c-0, c-1"
    assert "PatroniConfigured" not in conds and "DatabasesSynced" not in conds and out["fields"] == {}
    pods = [POD, dict(POD, name="c-0", role="replica"), dict(POD, name="c-2", terminating=True)]
    out = k8s_status.reconcile_outcome(cr, "Sync", {"ready": True, "pods": pods, "leader": POD, "patroni_error": "",
                                                    "sql_error": "boom", "managed_slots": ["s1"],
                                                    "patroni": {"managed_slots": []}})
    conds = dict((c["type"], c) for c in out["conditions"])
    assert out["status"] == "Running" and out["observed_generation"] == 5
    assert conds["Ready"]["message"] == "2 pod(s), leader c-1"
    assert conds["PatroniConfigured"]["status"] == "True" and conds["DatabasesSynced"]["reason"] == "SQLError"
    assert out["fields"] == {"managedSlots": ["s1"]} and out["events"] == []
    # Patroni in sync from the DCS view: the desired slots become managed; unchanged slots write nothing
    view = {"in_sync": True, "desired": {"slots": {"b": {}, "a": {}, "gone": None}}, "managed_slots": ["a", "b"]}
    assert k8s_status.reconcile_outcome(cr, "Sync", {"ready": True, "patroni": view})["fields"] == {}
    # a sync of a cluster that is not ready keeps its status; a rejected Patroni value is one event
    out = k8s_status.reconcile_outcome({"status": {"PostgresClusterStatus": "SyncFailed"}}, "Sync",
                                       {"ready": False, "patroni_error": "bad {{ x }}"})
    assert out["status"] == "SyncFailed" and [e["reason"] for e in out["events"]] == ["PatroniConfig"]
    known = {"status": {"conditions": [{"type": "PatroniConfigured", "message": "bad { { x } }"}]}}
    assert k8s_status.reconcile_outcome(known, "Sync", {"patroni_error": "bad {{ x }}"})["events"] == []


def test_failure_outcome_and_defused_messages():
    cr = {"metadata": {"name": "c", "generation": 2}, "status": {"PostgresClusterStatus": "Running", "observedGeneration": 1}}
    out = k8s_status.failure_outcome(cr, None, "read: 503")
    assert out["status"] == "UpdateFailed" and out["conditions"][0]["reason"] == "ReconcileFailed"
    assert [e["type"] for e in out["events"]] == ["Warning"]
    assert k8s_status.failure_outcome(cr, "Creating", "x")["status"] == "CreateFailed"
    cr["status"] = {"PostgresClusterStatus": "SyncFailed", "observedGeneration": 2}
    assert k8s_status.failure_outcome(cr, None, "again")["events"] == []
    assert k8s_status.defuse("{{ a }} {% b %} {# c #}") == "{ { a } } { % b % } { # c # }"
    cur, new = k8s_status.desired_status({}, "Invalid", [{"type": "Valid", "status": "False", "message": "{{ x }}"}])
    assert new["conditions"][0]["message"] == "{ { x } }"


class _Empty(object):
    """An API where nothing exists yet (every list empty, every get a 404)."""

    dry_run = False

    def list(self, *args, **kwargs):
        return []

    def get(self, *args, **kwargs):
        return None


def test_teardown_deletes_a_pdb_named_by_a_custom_pdb_name_format():
    """A custom pdb_name_format used to leave the primary PDB behind (the teardown hardcoded the name)."""
    cr = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql", "metadata": {"name": "c", "namespace": "ns", "uid": "u"},
          "spec": {"teamId": "acid", "numberOfInstances": 2, "volume": {"size": "1Gi"},
                   "postgresql": {"version": "17"}}}
    state = k8s_state.read_state(_Empty(), manifest=cr, config_given={"pdb_name_format": "{cluster}-primary-budget"})
    assert state["invalid"] is None, state["invalid"]
    assert state["teardown_names"]["pdbs"] == ["c-primary-budget", "postgres-c-critical-op-pdb"]
    live = {"PodDisruptionBudget": [{"metadata": {"name": "c-primary-budget"}},
                                    {"metadata": {"name": "postgres-c-critical-op-pdb"}}]}
    steps = k8s_teardown.plan("c", live, pdb_names=state["teardown_names"]["pdbs"])
    assert [(s[2], s[3]) for s in steps] == [("PodDisruptionBudget", "c-primary-budget"),
                                             ("PodDisruptionBudget", "postgres-c-critical-op-pdb")]


def test_an_empty_env_value_is_what_the_server_omits():
    """The API server stores `value: ""` of an env var as no value (omitempty): that is not a difference
    (it made every no-op reconcile with a pooler PATCH its Deployment on a real server)."""
    desired = {"spec": {"containers": [{"name": "c", "env": [{"name": "INFRASTRUCTURE_ROLES", "value": ""}]}]}}
    live = {"spec": {"containers": [{"name": "c", "env": [{"name": "INFRASTRUCTURE_ROLES"}]}]}}
    assert k8s_diff.differences(desired, live) == []
    assert k8s_diff.differences({"metadata": {"annotations": {"a": ""}}}, {"metadata": {"annotations": {}}}) == \
        ["metadata.annotations.a"]
