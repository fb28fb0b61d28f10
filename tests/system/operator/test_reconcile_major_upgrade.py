"""The major version upgrade on Kubernetes (docs/design/upgrade.md, "Kubernetes"), on the API test double.

The double's fake Patroni runs the major the first pod bootstrapped with (PGVERSION) until Spilo's
in-place upgrade script, run through the exec endpoint, says otherwise (tests/k8s_double/execs.py).
One cluster, in file order: created at 17; 18 requested with mode off (the pods roll to PGVERSION=18,
nothing is exec'd, the reason is given); mode full with a failing script (the failure annotation, and
the next reconcile does not exec again); the version back at 17 (the failure annotation goes); 18
again with a working script (the success annotation, Patroni runs 18).
"""

import pytest

from conftest import dump, manifest, operator_configmap

pytestmark = [pytest.mark.k8s]

NAME = "acid-upgrade"
NS = "default"
SUCCESS, FAILURE = "last-major-upgrade-success", "last-major-upgrade-failure"
SCRIPT = "/scripts/inplace_upgrade.py"


@pytest.fixture(scope="module", autouse=True)
def double_only(api):
    if api.kind != "double":
        pytest.skip("needs the test double's exec endpoint and fake Patroni")


def set_mode(api, mode):
    api.put(operator_configmap({"major_version_upgrade_mode": mode}))


def set_version(api, version):
    cr = api.current_cr(NAME, NS)
    cr["spec"]["postgresql"]["version"] = version
    api.put(cr)


def annotations(api):
    return api.current_cr(NAME, NS)["metadata"].get("annotations") or {}


def server_version(api):
    st = api.double.controllers.patroni.clusters[(NS, NAME)]
    return st["server_version"]


def upgrade_result(result):
    found = [r for r in result.task_results("pgfleet.postgres.k8s_major_upgrade") if r]
    assert len(found) == 1, result.stdout[-3000:]
    return found[0]


def script_calls(api):
    return [c for c in api.double.execs.calls if SCRIPT in " ".join(c["command"])]


def pods(api):
    return sorted(api.list("v1", "Pod", NS, "cluster-name=%s" % NAME), key=lambda p: p["metadata"]["name"])


def pgversions(api):
    out = set()
    for pod in pods(api):
        for c in pod["spec"]["containers"]:
            if c["name"] == "postgres":
                out |= {e.get("value") for e in c.get("env") or [] if e["name"] == "PGVERSION"}
    return out


def reconcile(api):
    result = api.reconcile(NAME, NS)
    assert result.rc == 0, result.stdout[-4000:]
    api.settle()
    return result


@pytest.fixture(scope="module")
def created(api):
    set_mode(api, "off")
    api.put(manifest(NAME, NS, postgresql={"version": "17"}))
    result = reconcile(api)
    return result


def test_exec_endpoint_of_the_double(api, created):
    """The exec client against the double: handlers, an unknown command, the v4 fallback, a missing pod."""
    from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
    from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import exec as kexec

    settings = {"server": api.double.url, "headers": {"Authorization": "Bearer x"}}
    pod = pods(api)[0]["metadata"]["name"]
    handler = api.double.execs.register("echo-both", lambda call: (0, "out:%s\n" % call.env("PGVERSION"), "err\n"))
    try:
        out = kexec.run(settings, NS, pod, ["echo-both"], container="postgres", timeout=10)
        assert (out["exit_code"], out["stdout"], out["stderr"], out["protocol"]) == (0, "out:17\n", "err\n",
                                                                                     "v5.channel.k8s.io")
        missing = kexec.run(settings, NS, pod, ["no-such-command"], container="postgres", timeout=10)
        assert missing["exit_code"] == 127 and "no handler" in missing["stderr"]
        api.double.execs.protocols = ["v4.channel.k8s.io"]
        assert kexec.run(settings, NS, pod, ["echo-both"], timeout=10)["protocol"] == "v4.channel.k8s.io"
    finally:
        api.double.execs.protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
        api.double.execs.handlers = [h for h in api.double.execs.handlers if h[1] is not handler]
    with pytest.raises(KubernetesError) as err:
        kexec.run(settings, NS, "%s-9" % NAME, ["true"], timeout=10)
    assert err.value.context["status"] == 404
    with pytest.raises(KubernetesError) as err:
        kexec.run(settings, NS, pod, ["true"], container="nope", timeout=10)
    assert err.value.context["status"] == 400
    execs = [r for r in api.double.requests if r.get("exec")]
    assert execs and all(r["path"].endswith("/exec") for r in execs)  # exec requests are logged ...
    assert not [r for r in api.double.writes(0) if r.get("exec")]  # ... and are never writes


def test_created_at_17_runs_17_and_nothing_is_upgraded(api, created):
    assert server_version(api) == 170000
    res = upgrade_result(created)
    assert res["action"] == "none" and res["from"] == 17 and res["to"] == 17 and not res["changed"], dump(res)
    assert script_calls(api) == []


def test_mode_off_rolls_pgversion_but_does_not_upgrade_and_says_why(api, created):
    api.double.execs.upgrade_script(succeed=True)
    set_version(api, "18")
    result = reconcile(api)
    res = upgrade_result(result)
    assert res["action"] == "blocked" and (res["from"], res["to"]) == (17, 18), dump(res)
    assert any("major_version_upgrade_mode is off" in r for r in res["reasons"]), res["reasons"]
    said = [r.get("msg") for r in result.task_results("ansible.builtin.debug") if r]
    assert any("major_version_upgrade_mode is off" in str(m) for m in said), said
    assert script_calls(api) == []
    assert pgversions(api) == {"18"} and server_version(api) == 170000
    assert SUCCESS not in annotations(api) and FAILURE not in annotations(api)


def test_a_failing_script_annotates_failure_and_is_not_retried(api, created):
    api.double.execs.clear()
    api.double.execs.upgrade_script(succeed=False, output="ERROR: pg_upgrade --check found problems\n")
    set_mode(api, "full")
    result = reconcile(api)
    res = upgrade_result(result)
    assert res["due"] and res["result"] == "failure" and res["exit_code"] == 1, dump(res)
    assert "pg_upgrade --check found problems" in res["output"]
    calls = script_calls(api)
    assert len(calls) == 1 and calls[0]["pod"] == res["primary"] and calls[0]["container"] == "postgres"
    assert calls[0]["command"] == ["/bin/su", "postgres", "-c", "set -o pipefail && /usr/bin/python3 "
                                   "/scripts/inplace_upgrade.py 2 2>&1 | tee last_upgrade.log"]
    ann = annotations(api)
    assert FAILURE in ann and SUCCESS not in ann and server_version(api) == 170000
    # the critical-operation label is gone again
    assert not [p for p in pods(api) if "critical-operation" in (p["metadata"].get("labels") or {})]
    events = api.list("v1", "Event", NS)
    assert [e for e in events if e.get("reason") == "Major Version Upgrade" and e.get("type") == "Warning"]

    again = reconcile(api)
    res = upgrade_result(again)
    assert res["action"] == "blocked" and any("is not retried" in r for r in res["reasons"]), dump(res)
    assert len(script_calls(api)) == 1
    assert annotations(api)[FAILURE] == ann[FAILURE]


def test_reverting_the_version_clears_the_failure(api, created):
    set_version(api, "17")
    result = reconcile(api)
    res = upgrade_result(result)
    assert res["action"] == "none" and res["annotations"] == {FAILURE: None}, dump(res)
    assert FAILURE not in annotations(api)
    assert len(script_calls(api)) == 1


def test_mode_full_upgrades_and_annotates_success(api, created):
    api.double.execs.clear()
    api.double.execs.upgrade_script(succeed=True)
    set_version(api, "18")
    result = reconcile(api)
    res = upgrade_result(result)
    assert res["due"] and res["result"] == "success" and res["exit_code"] == 0, dump(res)
    assert (res["from"], res["to"]) == (17, 18)
    assert len(script_calls(api)) == 1 and server_version(api) == 180000
    ann = annotations(api)
    assert SUCCESS in ann and FAILURE not in ann
    assert not [p for p in pods(api) if "critical-operation" in (p["metadata"].get("labels") or {})]
    # the next reconcile finds 18 running: nothing to do
    res = upgrade_result(reconcile(api))
    assert res["action"] == "none" and (res["from"], res["to"]) == (18, 18) and not res["changed"], dump(res)
    assert len(script_calls(api)) == 1


def test_check_mode_only_decides(api, created):
    from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import k8s as up

    class Api(object):
        def __init__(self):
            self.patches = []

        def list(self, *a, **k):
            return pods(api)

        def get(self, *a, **k):
            return api.current_cr(NAME, NS)

        def patch(self, *a, **k):
            self.patches.append(a)

    class Patroni(object):
        def get_cluster(self):
            return {"members": [{"name": NAME + "-0", "role": "leader", "state": "running"},
                                {"name": NAME + "-1", "role": "replica", "state": "streaming", "lag": 0}]}

    fake, runs = Api(), []

    def upgrade():
        return up.K8sUpgrade(fake, NAME, NS, {"major_version_upgrade_mode": "manual"}, "cluster-name=%s" % NAME,
                             patroni=lambda url: Patroni(), api_url_of=lambda pod: "http://x:8008",
                             run_exec=lambda *a: runs.append(a), check_mode=True)

    cr = api.current_cr(NAME, NS)
    cr["spec"]["postgresql"]["version"] = "19"
    res = upgrade().run(cr=cr, current="18")
    # PGVERSION in the pods is 18: the rolling update comes first
    assert res["action"] == "blocked" and any("rolling update" in r for r in res["reasons"]), dump(res)
    cr["spec"]["postgresql"]["version"] = "18"
    res = upgrade().run(cr=cr, current="17")
    assert res["action"] == "upgrade" and res["due"] and res["command"][0] == "/bin/su", dump(res)
    assert any("check mode" in r for r in res["reasons"])
    assert runs == [] and fake.patches == []
