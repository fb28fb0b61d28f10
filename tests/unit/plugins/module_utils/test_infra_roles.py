"""Infrastructure roles from Secrets (both formats) and ConfigMaps (pure)."""

import base64

from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import infra


def secret(name, ns="operators", **data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "data": dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())}


def configmap(name, ns="operators", **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def test_numbered_keys_with_a_configmap():
    cfg = {"infrastructure_roles_secret_name": "operators/infra"}
    s = secret("infra", user1="robot", password1="pw1", inrole1="admin", user2="batman", password2="pw2",
               user4="skipped-gap", password4="x")
    cm = configmap("infra", robot="inrole: [cron_admin]\nuser_flags: [createdb, 'bad flag']\ndb_parameters: {log_statement: all}")
    roles, warnings, complete = infra.infrastructure_roles(cfg, [s], [cm])
    assert complete and warnings == []
    assert [r["name"] for r in roles] == ["robot", "batman"]
    robot = roles[0]
    assert robot["flags"] == ["CREATEDB", "LOGIN"] and robot["member_of"] == ["admin", "cron_admin"]
    assert robot["parameters"] == {"log_statement": "all"} and robot["origin"] == "infrastructure"
    assert robot["password"] == "pw1" and roles[1]["member_of"] == []


def test_key_mapping_single_and_template_definitions():
    cfg = {"infrastructure_roles_secrets": [
        {"secretname": "monitoring", "userkey": "login", "passwordkey": "secret", "rolekey": "group",
         "defaultrolevalue": "pg_monitor"},
        {"secretname": "defaults", "passwordkey": "password", "defaultuservalue": "backup"},
        {"secretname": "many", "userkey": "u", "passwordkey": "p", "template": True, "defaultrolevalue": "admin"},
        {"userkey": "no secretname"},
    ]}
    objects = [secret("monitoring", login="mon", secret="m"), secret("defaults", password="b"),
               secret("many", u1="a1", p1="x", u2="a2")]
    roles, warnings, complete = infra.infrastructure_roles(cfg, objects, [], namespace="operators")
    assert complete
    assert [(r["name"], r["member_of"]) for r in roles] == [("mon", ["pg_monitor"]), ("backup", []), ("a1", ["admin"])]
    text = " | ".join(warnings)
    assert "infrastructure_roles_secrets[3]: needs secretname" in text and "a2 has no password" in text


def test_missing_secret_is_incomplete_and_bad_values_are_skipped():
    cfg = {"infrastructure_roles_secret_name": "gone",
           "infrastructure_roles_secrets": [{"secretname": "bad", "userkey": "user", "passwordkey": "password"}]}
    broken = secret("bad", ns="operators", user="x" * 70, password="p")
    cm = configmap("bad", **{"x": "[not, a, mapping]", "y": ": : :"})
    roles, warnings, complete = infra.infrastructure_roles(cfg, [broken], [cm], namespace="operators")
    assert roles == [] and complete is False
    text = " | ".join(warnings)
    assert "secret gone: not found" in text and "70 bytes" in text and "skipped" in text
    assert "key x must be a mapping" in text and "key y is not YAML" in text
