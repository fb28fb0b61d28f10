"""postgresql_database_sync: argument spec and input refusal before connecting (no server)."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.pgfleet.postgres.plugins.modules import postgresql_database_sync as mod


class Exit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


@pytest.fixture
def run(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit("exit", kwargs)

    def fail_json(self, **kwargs):
        raise Exit("fail", kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def runner(args):
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        with pytest.raises(Exit) as caught:
            mod.main()
        return caught.value

    return runner


def test_model_shape_accepted_and_bad_names_refused_before_connecting(run):
    prepared = [{"name": "d" * 60, "default_users": True, "extensions": {}, "owner": "x_owner",
                 "secret_namespace": None, "schemas": [{"name": "data", "default_roles": True, "default_users": False}]}]
    out = run({"prepared_databases": prepared, "login_host": "127.0.0.1", "login_port": 1})
    assert out.kind == "fail" and "63" in out.result["msg"]


def test_login_password_no_log():
    assert mod.argument_spec()["login_password"]["no_log"] is True
