"""postgresql_role_sync: argument spec, no_log and input refusal before connecting (no server)."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.modules import postgresql_role_sync as mod


@pytest.fixture
def run(run_module):
    return lambda args: run_module(mod, args)


def test_secrets_are_no_log():
    spec = mod.argument_spec()
    assert spec["login_password"]["no_log"] is True
    assert spec["roles"]["options"]["password"]["no_log"] is True


def test_contract_keys_accepted_and_flags_refused_before_connecting(run):
    role = {"name": "u", "origin": "manifest", "flags": ["LOGIN", "NOLOGIN"], "member_of": [], "admin": None,
            "parameters": {}, "password": "very-secret-pw", "secret": {"name": "s", "namespace": "default"},
            "is_db_owner": False}
    # port 1 on loopback: any connection attempt would fail with a connection error instead
    out = run({"roles": [role], "login_host": "127.0.0.1", "login_port": 1})
    assert out.kind == "fail"
    assert "contradict" in out.result["msg"] and "roles[u].flags" in out.result["msg"]
    assert "very-secret-pw" in out.result["no_log_values"]


def test_connection_error_is_clear(run):
    out = run({"roles": [{"name": "u", "flags": ["LOGIN"]}], "login_host": "127.0.0.1", "login_port": 1,
               "connect_timeout": 2})
    assert out.kind == "fail" and "cannot connect to PostgreSQL at 127.0.0.1:1" in out.result["msg"]


def test_unknown_role_key_refused(run):
    out = run({"roles": [{"name": "u", "flagz": []}], "login_port": 1})
    assert out.kind == "fail" and "flagz" in out.result["msg"]


def test_doc_fragment_matches_the_common_spec():
    import yaml
    from ansible_collections.pgfleet.postgres.plugins.doc_fragments.postgres import ModuleDocFragment
    from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.connection import postgres_argument_spec

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = postgres_argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"]
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name


def test_rotation_secrets_are_no_log_and_bad_policy_refused_before_connecting(run):
    import base64

    spec = mod.argument_spec()
    # not no_log as a whole (Ansible would mask every username in the result): each password is masked
    assert spec["rotation"]["options"]["secrets"]["no_log"] is False
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
            "data": {"username": base64.b64encode(b"u").decode(), "password": base64.b64encode(b"from-secret-pw").decode()}}
    out = run({"roles": [{"name": "u", "flags": ["LOGIN"], "secret": {"name": "s", "namespace": "default"}}],
               "login_host": "127.0.0.1", "login_port": 1, "connect_timeout": 2,
               "rotation": {"secret_objects": [live]}})
    assert out.kind == "fail" and "cannot connect" in out.result["msg"]
    assert "from-secret-pw" in out.result["no_log_values"]
    assert base64.b64encode(b"from-secret-pw").decode() in out.result["no_log_values"]
    assert "u" not in out.result["no_log_values"]
    out = run({"roles": [{"name": "u", "flags": ["LOGIN"]}], "login_port": 1,
               "rotation": {"annotations": {"pgfleet.io/password-rotation": "sometimes"}}})
    assert out.kind == "fail" and "metadata.annotations.pgfleet.io/password-rotation" in out.result["msg"]
