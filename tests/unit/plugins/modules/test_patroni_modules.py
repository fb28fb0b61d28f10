"""The four patroni_* modules: documentation matches the argument spec, secrets are no_log, and
main() runs end to end on recorded Patroni answers (no server), sending nothing in check mode."""

import io
import json
import os

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.pgfleet.postgres.plugins.doc_fragments.attributes import ModuleDocFragment as AttributesFragment
from ansible_collections.pgfleet.postgres.plugins.doc_fragments.patroni import ModuleDocFragment
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni import client as pu
from ansible_collections.pgfleet.postgres.plugins.modules import (
    patroni_cluster_info,
    patroni_config,
    patroni_restart,
    patroni_switchover,
)

MODULES = [patroni_cluster_info, patroni_switchover, patroni_restart, patroni_config]
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "patroni")
SECRET = "rest-api-secret-pw"


def fx(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Documentation and argument spec
# ---------------------------------------------------------------------------------------------
def documented_options(mod):
    doc = yaml.safe_load(mod.DOCUMENTATION)
    options = dict(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(doc.get("options") or {})
    return doc, options


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_option_is_documented_with_the_same_type_default_and_choices(mod):
    doc, options = documented_options(mod)
    spec = mod.argument_spec()
    assert set(options) == set(spec)
    for name, opt in options.items():
        assert opt.get("version_added") == "0.1.0", name
        assert opt["description"], name
        assert opt.get("type", "str") == spec[name].get("type", "str"), name
        assert opt.get("default") == spec[name].get("default"), name
        assert opt.get("choices") == spec[name].get("choices"), name
        assert opt.get("elements") == spec[name].get("elements"), name
        assert bool(opt.get("required")) == bool(spec[name].get("required")), name
    assert "pgfleet.postgres.patroni" in doc["extends_documentation_fragment"]
    # The attributes come from our fragment (pgfleet.postgres.attributes[.diff]): full check mode.
    fragments = [f for f in doc["extends_documentation_fragment"] if f.startswith("pgfleet.postgres.attributes")]
    assert len(fragments) == 1, doc["extends_documentation_fragment"]
    section = (fragments[0].split(".")[3:] or ["documentation"])[0].upper()
    attributes = yaml.safe_load(getattr(AttributesFragment, section))["attributes"]
    assert attributes["check_mode"]["support"] == "full"
    yaml.safe_load(mod.EXAMPLES)
    assert yaml.safe_load(mod.RETURN)


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_api_password_is_no_log(mod):
    assert mod.argument_spec()["api_password"]["no_log"] is True


# ---------------------------------------------------------------------------------------------
# main() on a fake transport
# ---------------------------------------------------------------------------------------------
class Exit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


class Fake(object):
    """Serves recorded answers by URL; any request that is not a GET is recorded and refused."""

    def __init__(self, cluster, statuses, config):
        self.cluster, self.statuses, self.config = fx(cluster), statuses, fx(config)
        self.writes = []

    def __call__(self, url, method="GET", data=None, **kwargs):
        from urllib.error import HTTPError, URLError
        path = "/" + url.split("://", 1)[1].split("/", 1)[1]
        base = url[: len(url) - len(path)]
        if method != "GET":
            self.writes.append((method, url, data))
            raise HTTPError(url, 418, "no writes in unit tests", {}, io.BytesIO(b"no"))
        if path == "/cluster":
            body = self.cluster
        elif path == "/config":
            body = self.config
        else:
            name = [m["name"] for m in self.cluster["members"] if m["api_url"].startswith(base + "/")][0]
            if self.statuses.get(name) is None:
                raise URLError(ConnectionRefusedError(111, "refused"))
            body = fx(self.statuses[name])
        return type("R", (), {"status": 200, "read": lambda self: json.dumps(body).encode()})()


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit("exit", kwargs)

    def fail_json(self, **kwargs):
        raise Exit("fail", kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def runner(mod, args, fake=None, check=False, diff=False):
        if fake is not None:
            monkeypatch.setattr(pu, "open_url", fake)
        payload = dict({"api_url": "http://127.0.0.1:56457", "api_username": "admin", "api_password": SECRET},
                       **args)
        payload.update(_ansible_check_mode=check, _ansible_diff=diff)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
        with pytest.raises(Exit) as caught:
            mod.main()
        assert SECRET not in json.dumps(caught.value.result, default=str)
        return caught.value

    return runner


def healthy():
    return Fake("cluster_healthy", {"m1": "patroni_primary", "m2": "patroni_replica", "m3": "patroni_replica"},
                "config_initial")


def pending():
    return Fake("cluster_pending_restart", {"m1": "patroni_primary_pending_restart",
                                            "m2": "patroni_replica_pending_restart",
                                            "m3": "patroni_replica_pending_restart"}, "config_initial")


def test_cluster_info(run):
    out = run(patroni_cluster_info, {}, healthy())
    assert out.kind == "exit" and out.result["changed"] is False
    assert out.result["leader"] == "m1" and [m["name"] for m in out.result["members"]] == ["m1", "m2", "m3"]
    assert out.result["config"]["ttl"] == 30


def test_cluster_info_marks_a_silent_member(run):
    fake = healthy()
    fake.statuses["m3"] = None
    out = run(patroni_cluster_info, {}, fake)
    m3 = [m for m in out.result["members"] if m["name"] == "m3"][0]
    assert m3["reachable"] is False and m3["state"] == "streaming"


def test_switchover_check_mode(run):
    fake = healthy()
    out = run(patroni_switchover, {"candidate": "m3"}, fake, check=True)
    assert out.kind == "exit" and out.result["changed"] is True
    assert out.result["actions"] == [dict(out.result["actions"][0], action="switchover", status="planned",
                                          to="m3")]
    assert fake.writes == []


def test_switchover_refusal_is_one_sentence_with_context(run):
    # answers recorded on timeline 2 (the leader m2's position is from a later moment: no lag gate here)
    fake = Fake("cluster_nofailover", {"m1": "patroni_scheduled_restart", "m2": "patroni_primary_when_lagging",
                                       "m3": "patroni_replica_nofailover"}, "config_initial")
    out = run(patroni_switchover, {"candidate": "m3", "max_lag": -1}, fake)
    assert out.kind == "fail"
    assert out.result["msg"] == "candidate m3 cannot take over: it carries the nofailover tag"
    assert out.result["candidate"] == "m3" and out.result["actions"] == [] and fake.writes == []


def test_failover_needs_a_candidate(run):
    out = run(patroni_switchover, {"mode": "failover"}, healthy())
    assert out.kind == "fail" and "candidate" in out.result["msg"]


def test_restart_check_mode_returns_plan_and_progress(run):
    fake = pending()
    out = run(patroni_restart, {}, fake, check=True)
    assert out.kind == "exit" and out.result["changed"] is True
    assert [(m["member"], m["status"]) for m in out.result["members"]] == [
        ("m2", "planned"), ("m3", "planned"), ("m1", "planned")]
    assert out.result["plan"]["steps"][-1]["action"] == "switchover"
    assert fake.writes == []


def test_restart_bad_window_names_the_field(run):
    out = run(patroni_restart, {"maintenance_windows": ["whenever"]}, pending())
    assert out.kind == "fail" and out.result["msg"].startswith("maintenance_windows[0]: ")


def test_config_check_mode_with_diff(run):
    fake = healthy()
    out = run(patroni_config, {"config": {"loop_wait": 5, "postgresql": {"parameters": {"max_connections": 200}}}},
              fake, check=True, diff=True)
    assert out.kind == "exit" and out.result["changed"] is True
    assert out.result["diff"]["before"]["loop_wait"] == 10 and out.result["diff"]["after"]["loop_wait"] == 5
    assert out.result["restart_parameters"] == ["max_connections"]
    assert fake.writes == []


def test_config_refuses_invalid_values_before_sending(run):
    fake = healthy()
    out = run(patroni_config, {"config": {"ttl": 5, "postgresql": {"parameters": {"fsync": "maybe"}}}}, fake)
    assert out.kind == "fail" and "nothing was sent" in out.result["msg"]
    assert out.result["fields"] == ["config.ttl", "config.postgresql.parameters.fsync"]
    assert fake.writes == []


def test_unreachable_api_is_a_clear_error(run):
    out = run(patroni_cluster_info, {"api_url": "http://127.0.0.1:1", "request_retries": 0, "request_timeout": 1})
    assert out.kind == "fail"
    assert out.result["msg"].startswith("no Patroni REST API answered GET /cluster (tried http://127.0.0.1:1)")
