"""k8s/steady.py: the fingerprint that lets a reconcile of an unchanged, steady cluster stop after its read."""

import copy
import json

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import state as k8s_state
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import status as k8s_status
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import steady
from ansible_collections.pgfleet.postgres.tests.harness import cluster_manifest

NOW = 1_800_000_000


def obj(kind, name, rv, **meta):
    body = {"kind": kind, "metadata": {"name": name, "namespace": "default", "uid": "uid-" + name,
                                       "resourceVersion": str(rv)}}
    body["metadata"].update(meta)
    return body


def pod(name, role, wal=100, rv=1):
    member = {"state": "running", "role": role, "xlog_location": wal}
    p = obj("Pod", name, rv, labels={"cluster-name": "acid-fp", "spilo-role": role},
            annotations={"status": json.dumps(member)})
    p["status"] = {"phase": "Running", "podIP": "10.0.0.%s" % name[-1],
                   "conditions": [{"type": "Ready", "status": "True"}]}
    p["spec"] = {"containers": [{"name": "postgres", "image": "spilo:1"}]}
    return p


def steady_state():
    cr = cluster_manifest("acid-fp")
    cr["metadata"].update({"uid": "cr-uid", "generation": 3, "namespace": "default"})
    model, invalid = k8s_state.validate(cr, None)
    assert invalid is None
    pods = [pod("acid-fp-0", "master"), pod("acid-fp-1", "replica")]
    objects = {
        "StatefulSet": [obj("StatefulSet", "acid-fp", 10, generation=7, labels={"team": "a"})],
        "Service": [obj("Service", "acid-fp", 11), obj("Service", "acid-fp-repl", 12)],
        "Endpoints": [obj("Endpoints", "acid-fp", 13), obj("Endpoints", "acid-fp-config", 14),
                      obj("Endpoints", "acid-fp-repl", 15)],
        "Pod": pods,
    }
    return {
        "name": "acid-fp", "manifest": cr, "model": model, "objects": objects, "cr_exists": True, "stop": "",
        "ready": True, "ready_reasons": [], "leader": {"name": "acid-fp-0"},
        "pods": k8s_state.pods_summary(pods, "spilo-role"),
        "patroni": {"in_sync": True, "pending_restart": []}, "config_source": "defaults",
        "existing_secrets": [obj("Secret", "postgres.acid-fp.credentials", 20)],
    }


def digest(state, **kw):
    value, why = steady.fingerprint(state, code="code-1", now=kw.pop("now", NOW), **kw)
    assert why == "", why
    return value


def test_the_same_read_gives_the_same_fingerprint():
    assert digest(steady_state()) == digest(steady_state())
    assert digest(steady_state()).startswith("sha256:")


@pytest.mark.parametrize("churn", [
    # Patroni rewrites its leader and config objects every loop_wait, and its member annotation with the WAL position
    lambda s: s["objects"]["Endpoints"][0]["metadata"].update(resourceVersion="999"),
    lambda s: s["objects"]["Endpoints"][1]["metadata"].update(resourceVersion="998"),
    lambda s: s["objects"]["Pod"][1]["metadata"].update(
        resourceVersion="77", annotations={"status": json.dumps({"state": "running", "role": "replica", "xlog_location": 5})}),
    # the StatefulSet controller writes the status after its pods change
    lambda s: s["objects"]["StatefulSet"][0]["metadata"].update(resourceVersion="600"),
])
def test_what_patroni_rewrites_all_the_time_does_not_count(churn):
    state = steady_state()
    churn(state)
    assert digest(state) == digest(steady_state())


@pytest.mark.parametrize("change", [
    lambda s: s["objects"]["Service"][0]["metadata"].update(resourceVersion="500"),
    lambda s: s["objects"]["Endpoints"][2]["metadata"].update(resourceVersion="501"),
    lambda s: s["objects"]["StatefulSet"].pop(),
    lambda s: s["objects"]["StatefulSet"][0]["metadata"].update(generation=8),
    lambda s: s["objects"]["StatefulSet"][0]["metadata"].update(labels={"team": "b"}),
    lambda s: s["existing_secrets"][0]["metadata"].update(resourceVersion="502"),
    lambda s: s["objects"]["Pod"][0]["metadata"].update(uid="new-pod"),
    lambda s: s["objects"]["Pod"][0]["metadata"]["labels"].update({"spilo-role": "replica"}),
    lambda s: s["objects"]["Pod"][1]["metadata"]["annotations"].update(
        {"zalando-postgres-operator-rolling-update-required": "true"}),
    lambda s: s["objects"]["Pod"][1]["metadata"].update(annotations={"status": json.dumps(
        {"state": "running", "role": "replica", "pending_restart": True})}),
    lambda s: s["manifest"]["metadata"].update(generation=4),
    lambda s: s["manifest"]["metadata"].update(annotations={"delete-date": "2026-12-06"}),
    lambda s: s["model"]["spec"].update(numberOfInstances=7),
    lambda s: s.update(config_source="configmap"),
])
def test_any_change_a_full_reconcile_would_act_on_changes_it(change):
    state = steady_state()
    change(state)
    assert digest(state) != digest(steady_state())


def test_new_code_changes_it():
    first = steady.fingerprint(steady_state(), code="code-1", now=NOW)[0]
    second = steady.fingerprint(steady_state(), code="code-2", now=NOW)[0]
    assert first != second


@pytest.mark.parametrize("change, reason", [
    (lambda s: s.update(ready=False, ready_reasons=["not ready: acid-fp-1"]), "not ready"),
    (lambda s: s.update(leader=None), "no leader"),
    (lambda s: s["patroni"].update(in_sync=False), "Patroni"),
    (lambda s: s["patroni"].update(pending_restart=["acid-fp-1"]), "pending restart"),
    (lambda s: s["pods"][1].update(terminating=True), "terminating"),
    (lambda s: s.update(stop="invalid"), "stops"),
    (lambda s: s.update(cr_exists=False), "not in the API"),
    (lambda s: s.update(scale_down_switchover=True), "scale-down"),
])
def test_a_cluster_with_work_to_do_has_no_fingerprint(change, reason):
    state = steady_state()
    change(state)
    value, why = steady.fingerprint(state, code="c", now=NOW)
    assert value == "" and reason in why


def test_the_full_sync_period_changes_it_once_per_period_at_a_per_cluster_offset():
    period = 3600
    marks = [digest(steady_state(), now=NOW + t, period=period) for t in range(0, 2 * period, 60)]
    assert len(set(marks)) in (2, 3)
    # the offset comes from the uid, so clusters do not all change period at the same second

    def change_at(uid):
        first = steady.bucket(uid, NOW, period)
        return next(t for t in range(0, period + 1, 60) if steady.bucket(uid, NOW + t, period) != first)
    assert len(set(change_at("uid-%d" % i) for i in range(50))) > 10


def test_password_rotation_shortens_the_period_to_an_hour():
    day = [digest(steady_state(), now=NOW + t, period=86400, rotation_active=True) for t in range(0, 86400, 1800)]
    assert len(set(day)) >= 24


def test_code_identity_prefers_the_installed_manifest(tmp_path):
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "a.j2").write_text("x")
    tree = steady.code_identity(str(tmp_path))
    (tmp_path / "roles" / "a.j2").write_text("y")
    assert steady.code_identity(str(tmp_path)) != tree
    (tmp_path / "MANIFEST.json").write_text('{"file_manifest_file": {"chksum_sha256": "1"}}')
    installed = steady.code_identity(str(tmp_path))
    (tmp_path / "roles" / "a.j2").write_text("z")
    assert steady.code_identity(str(tmp_path)) == installed
    assert steady.code_identity("") == "" and steady.code_identity(str(tmp_path / "missing")) == ""


def outcome(**kw):
    base = {"ready": True, "pods": [], "pending": [], "patroni_error": "", "sql_error": "", "fingerprint": "sha256:new"}
    base.update(kw)
    return base


def cr_with(status):
    return {"metadata": {"name": "acid-fp", "namespace": "default", "generation": 1}, "status": copy.deepcopy(status)}


def test_a_steady_end_records_the_fingerprint_and_anything_else_clears_it():
    recorded = cr_with({"PostgresClusterStatus": "Running", steady.STATUS_KEY: "sha256:old"})
    assert k8s_status.reconcile_outcome(recorded, "Sync", outcome())["fields"][steady.STATUS_KEY] == "sha256:new"
    same = cr_with({"PostgresClusterStatus": "Running", steady.STATUS_KEY: "sha256:new"})
    assert steady.STATUS_KEY not in k8s_status.reconcile_outcome(same, "Sync", outcome())["fields"]
    for bad in (dict(ready=False), dict(pending=["acid-fp-1"]), dict(sql_error="boom"), dict(patroni_error="no"),
                dict(fingerprint="")):
        assert k8s_status.reconcile_outcome(recorded, "Sync", outcome(**bad))["fields"][steady.STATUS_KEY] is None
    # without the key (fast path off) the record is left alone
    plain = outcome()
    plain.pop("fingerprint")
    assert steady.STATUS_KEY not in k8s_status.reconcile_outcome(recorded, "Sync", plain)["fields"]
    assert k8s_status.failure_outcome(recorded, "Sync", "read failed")["fields"] == {steady.STATUS_KEY: None}


class RecordingAPI(object):
    def __init__(self):
        self.patches = []

    def patch(self, *args, **kwargs):
        self.patches.append(args[4])


def test_a_removed_status_key_is_sent_as_null():
    api = RecordingAPI()
    cr = cr_with({"PostgresClusterStatus": "Running", steady.STATUS_KEY: "sha256:old"})
    k8s_status.write(api, cr, fields={steady.STATUS_KEY: None})
    assert api.patches == [{"status": {"PostgresClusterStatus": "Running", steady.STATUS_KEY: None}}]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "soon", "12:00", "1e13"])
def test_a_clock_that_is_not_a_time_is_refused(text):
    with pytest.raises(ValueError) as err:
        steady.parse_now(text)
    assert repr(text) in str(err.value)


def test_the_clock_is_now_when_empty_and_a_number_otherwise():
    assert steady.parse_now("") is None and steady.parse_now(None) is None
    assert steady.parse_now("1800000000.5") == 1800000000.5
