"""upgrade/k8s.py: the Kubernetes major upgrade's decisions and writes, with a fake API, Patroni and exec."""

import copy
import datetime

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import k8s as up

NOW = datetime.datetime(2030, 1, 5, 3, 0, tzinfo=datetime.timezone.utc)  # a Saturday
NAME, NS = "acid-x", "ns1"


def pod(i, role, pgversion="18", run_as=None):
    p = {"metadata": {"name": "%s-%d" % (NAME, i), "labels": {"cluster-name": NAME, "spilo-role": role}},
         "spec": {"containers": [{"name": "postgres", "env": [{"name": "PGVERSION", "value": pgversion}]}]},
         "status": {"podIP": "10.0.0.%d" % i}}
    if run_as is not None:
        p["spec"]["securityContext"] = {"runAsUser": run_as}
    return p


def cr(version="18", annotations=None, **spec):
    body = {"metadata": {"name": NAME, "namespace": NS, "annotations": dict(annotations or {})},
            "spec": dict({"teamId": "acid", "postgresql": {"version": version}}, **spec)}
    return body


class FakeApi(object):
    def __init__(self, pods, manifest=None):
        self.pods = pods
        self.manifest = manifest
        self.patches = []

    def list(self, api_version, kind, namespace, selector):
        assert (kind, namespace, selector) == ("Pod", NS, "cluster-name=%s" % NAME)
        return copy.deepcopy(self.pods)

    def get(self, *args):
        return copy.deepcopy(self.manifest)

    def patch(self, api_version, kind, name, namespace, body):
        self.patches.append((kind, name, body))


class FakePatroni(object):
    def __init__(self, server_version=170000, members=None):
        self.server_version = server_version
        self.members = members if members is not None else [
            {"name": NAME + "-0", "role": "leader", "state": "running"},
            {"name": NAME + "-1", "role": "replica", "state": "streaming", "lag": 0}]

    def status(self):
        return {"server_version": self.server_version}

    def get_cluster(self):
        return {"members": self.members}


def make(api, patroni=None, exec_result=None, config=None, check_mode=False, windows=()):
    calls = []

    def run_exec(namespace, pod_name, command, container, timeout):
        calls.append((namespace, pod_name, command, container, timeout))
        if isinstance(exec_result, Exception):
            raise exec_result
        return exec_result or {"exit_code": 0, "stdout": "done\n", "stderr": ""}

    patroni = patroni or FakePatroni()
    u = up.K8sUpgrade(api, NAME, NS, config if config is not None else {"major_version_upgrade_mode": "manual"},
                      "cluster-name=%s" % NAME, windows=windows, now=NOW, patroni=lambda url: patroni,
                      api_url_of=lambda p: "http://%s:8008" % p["status"]["podIP"], run_exec=run_exec,
                      timeout=60, check_mode=check_mode)
    return u, calls


def test_command_as_root_and_not():
    assert up.upgrade_command(3) == ["/bin/su", "postgres", "-c", "set -o pipefail && /usr/bin/python3 "
                                     "/scripts/inplace_upgrade.py 3 2>&1 | tee last_upgrade.log"]
    assert up.upgrade_command(1, as_root=False)[:2] == ["/bin/bash", "-c"]
    assert up.runs_as_root(pod(0, "master")) and up.runs_as_root(pod(0, "master", run_as=0))
    assert not up.runs_as_root(pod(0, "master", run_as=101))


@pytest.mark.parametrize("members, words", [
    ([{"name": "a", "role": "leader", "state": "running"}, {"name": "b", "role": "replica", "state": "streaming", "lag": 0}], []),
    ([{"name": "a", "role": "leader", "state": "stopped"}], ["a is stopped"]),
    ([{"name": "a", "role": "leader", "state": "running"}, {"name": "b", "role": "replica", "state": "running", "lag": 0}],
     ["b is running, not streaming"]),
    ([{"name": "a", "role": "leader", "state": "running"},
      {"name": "b", "role": "replica", "state": "streaming", "lag": 16 * 1024 * 1024 + 1}], ["b lags"]),
    ([{"name": "a", "role": "leader", "state": "running"}, {"name": "b", "role": "replica", "state": "streaming"}],
     ["b lags None"]),
    ([], ["no members"]),
])
def test_member_reasons(members, words):
    reasons = up.member_reasons({"members": members})
    assert len(reasons) == len(words) and all(w in r for w, r in zip(words, reasons, strict=True)), reasons


def test_a_due_upgrade_labels_execs_annotates_success_and_unlabels():
    api = FakeApi([pod(0, "master"), pod(1, "replica")], cr("18"))
    u, calls = make(api)
    out = u.run()
    assert out["action"] == "upgrade" and out["due"] and out["result"] == "success" and out["changed"]
    assert (out["from"], out["to"], out["primary"], out["pods"]) == (17, 18, NAME + "-0", 2)
    assert calls == [(NS, NAME + "-0", up.upgrade_command(2), "postgres", 60)]
    assert api.patches == [
        ("Pod", NAME + "-0", {"metadata": {"labels": {"critical-operation": "true"}}}),
        ("Pod", NAME + "-1", {"metadata": {"labels": {"critical-operation": "true"}}}),
        ("Pod", NAME + "-0", {"metadata": {"labels": {"critical-operation": None}}}),
        ("Pod", NAME + "-1", {"metadata": {"labels": {"critical-operation": None}}}),
        ("postgresql", NAME, {"metadata": {"annotations": {"last-major-upgrade-success": "2030-01-05T03:00:00Z"}}}),
    ]
    assert out["events"][0]["type"] == "Normal" and out["output"] == "done\n"


@pytest.mark.parametrize("result", [
    {"exit_code": 1, "stdout": "ERROR: no\n", "stderr": ""},
    {"exit_code": None, "stdout": "", "stderr": "", "timed_out": True, "message": "no end within 60s"},
    KubernetesError("exec failed (HTTP 403): forbidden", status=403),
])
def test_a_failed_upgrade_annotates_failure(result):
    api = FakeApi([pod(0, "master"), pod(1, "replica")], cr("18"))
    u, calls = make(api, exec_result=result)
    out = u.run()
    assert out["result"] == "failure" and len(calls) == 1
    assert api.patches[-1] == ("postgresql", NAME,
                               {"metadata": {"annotations": {"last-major-upgrade-failure": "2030-01-05T03:00:00Z"}}})
    assert [p for p in api.patches if p[0] == "Pod"][-1][2] == {"metadata": {"labels": {"critical-operation": None}}}
    assert out["events"][0]["type"] == "Warning" and "not retried" in out["msg"]


def test_a_failure_mark_blocks_and_nothing_is_exec():
    api = FakeApi([pod(0, "master")], cr("18", {"last-major-upgrade-failure": "2030-01-01T00:00:00Z"}))
    u, calls = make(api)
    out = u.run()
    assert out["action"] == "blocked" and not out["due"] and calls == [] and api.patches == []
    assert any("not retried" in r for r in out["reasons"])


def test_the_running_major_again_clears_the_failure_mark():
    api = FakeApi([pod(0, "master", "17")], cr("17", {"last-major-upgrade-failure": "2030-01-01T00:00:00Z"}))
    u, calls = make(api)
    out = u.run()
    assert out["action"] == "none" and out["changed"] and calls == []
    assert api.patches == [("postgresql", NAME, {"metadata": {"annotations": {"last-major-upgrade-failure": None}}})]


def test_mode_off_says_why_and_the_allow_list_opens_it():
    api = FakeApi([pod(0, "master")], cr("18"))
    u, calls = make(api, config={"major_version_upgrade_mode": "off"})
    out = u.run()
    assert out["action"] == "blocked" and any("is off" in r for r in out["reasons"]) and calls == []
    u, calls = make(api, config={"major_version_upgrade_mode": "off", "major_version_upgrade_team_allow_list": ["acid"]})
    assert u.run()["result"] == "success" and len(calls) == 1


def test_full_mode_raises_to_the_target():
    api = FakeApi([pod(0, "master", "18")], cr("13"))
    u, calls = make(api, patroni=FakePatroni(130000), config={"major_version_upgrade_mode": "full",
                                                              "minimal_major_version": "14", "target_major_version": "18"})
    out = u.run()
    assert (out["from"], out["to"], out["result"]) == (13, 18, "success")


@pytest.mark.parametrize("pods, patroni, word", [
    ([pod(0, "master", "17")], FakePatroni(), "rolling update"),
    ([pod(0, "replica"), pod(1, "replica")], FakePatroni(), "running major is unknown"),
    ([pod(0, "master")], FakePatroni(None), "no server_version"),
    ([pod(0, "master"), pod(1, "replica")], FakePatroni(members=[{"name": "x", "role": "leader", "state": "starting"}]),
     "not running"),
])
def test_live_gates_block(pods, patroni, word):
    api = FakeApi(pods, cr("18"))
    u, calls = make(api, patroni=patroni)
    out = u.run()
    assert not out["due"] and calls == [] and api.patches == []
    assert any(word in r for r in out["reasons"]), out["reasons"]


def test_an_unreachable_patroni_is_a_reason_not_a_failure():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PatroniError

    def no_url(url):
        raise PatroniError("api_url '' is not an http(s) URL")

    api = FakeApi([pod(0, "master")], cr("18"))
    u, calls = make(api)
    u.patroni = no_url
    out = u.run()
    assert not out["due"] and calls == [] and any("could not be asked" in r for r in out["reasons"])
    out = u.run(current="17")
    assert out["action"] == "blocked" and any("member list could not be read" in r for r in out["reasons"])


def test_outside_the_windows_nothing_starts():
    api = FakeApi([pod(0, "master")], cr("18"))
    u, calls = make(api, windows=["Mon:01:00-02:00"])
    out = u.run()
    assert out["action"] == "blocked" and calls == [] and any("maintenance windows" in r for r in out["reasons"])


def test_standby_and_downgrade():
    api = FakeApi([pod(0, "master")], cr("18", standby={"s3_wal_path": "s3://x"}))
    out = make(api)[0].run()
    assert out["action"] == "blocked" and any("standby" in r for r in out["reasons"])
    api = FakeApi([pod(0, "master", "16")], cr("16"))
    out = make(api)[0].run()
    assert out["action"] == "none" and any("downgrade" in r for r in out["reasons"])


def test_check_mode_decides_only():
    api = FakeApi([pod(0, "master"), pod(1, "replica")], cr("18"))
    u, calls = make(api, check_mode=True)
    out = u.run()
    assert out["action"] == "upgrade" and out["due"] and calls == [] and api.patches == []
    assert out["command"] == up.upgrade_command(2)


def test_a_missing_object_raises():
    with pytest.raises(KubernetesError, match="does not exist"):
        make(FakeApi([pod(0, "master")], None))[0].run()
