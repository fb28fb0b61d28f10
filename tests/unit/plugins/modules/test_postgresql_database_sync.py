"""postgresql_database_sync: argument spec and input refusal before connecting (no server)."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.modules import postgresql_database_sync as mod


@pytest.fixture
def run(run_module):
    return lambda args: run_module(mod, args)


def test_model_shape_accepted_and_bad_names_refused_before_connecting(run):
    prepared = [{"name": "d" * 60, "default_users": True, "extensions": {}, "owner": "x_owner",
                 "secret_namespace": None, "schemas": [{"name": "data", "default_roles": True, "default_users": False}]}]
    out = run({"prepared_databases": prepared, "login_host": "127.0.0.1", "login_port": 1})
    assert out.kind == "fail" and "63" in out.result["msg"]


def test_login_password_no_log():
    assert mod.argument_spec()["login_password"]["no_log"] is True
