"""Password rotation plans (pure: no server, no clock; time is given)."""

import datetime

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres.rolesync import (
    plan_roles,
    snapshot_from_lists,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 3, 20, 0, 0, tzinfo=UTC)
CONFIG = {"enable_password_rotation": True, "password_rotation_interval": 30,
          "password_rotation_user_retention": 60, "super_username": "postgres", "replication_username": "standby"}


def role(name, origin="manifest", flags=("LOGIN",), owner=False, password="pw-" + "x"):
    return {"name": name, "origin": origin, "flags": list(flags), "member_of": [], "admin": None,
            "parameters": {"search_path": "data"}, "password": password, "is_db_owner": owner,
            "secret": {"name": name + ".secret", "namespace": "default"} if "LOGIN" in flags else None}


def counter():
    state = {"n": 0}

    def make():
        state["n"] += 1
        return "generated-%d" % state["n"]
    return make


def policy(spec=None, annotations=None, **config):
    cfg = dict(CONFIG)
    cfg.update(config)
    return rotation.policy_from(cfg, spec or {}, annotations or {})


def plan(roles, secrets, live=(), pol=None, now=NOW):
    return rotation.plan_rotation(roles, secrets, live, pol or policy(), now, password_factory=counter())


def by_name(p):
    return {r["name"]: r for r in p.roles}


def test_first_contact_schedules_without_rotating():
    p = plan([role("app")], {"app": {"username": "app", "password": "old"}})
    assert p.secrets == {"app": {"username": "app", "password": "old", "nextRotation": "2027-01-02T20:00:00Z",
                                 "rotatedAt": None}}
    assert by_name(p)["app"]["password"] == "old"
    assert not p.events and not p.drop


def test_shorter_interval_moves_the_date_earlier_and_a_later_date_waits():
    far = {"app": {"username": "app", "password": "old", "nextRotation": "2027-12-01T00:00:00Z"}}
    assert plan([role("app")], far).secrets["app"]["nextRotation"] == "2027-01-02T20:00:00Z"
    soon = {"app": {"username": "app", "password": "old", "nextRotation": "2026-12-20T00:00:00Z"}}
    p = plan([role("app")], soon)
    assert p.secrets == {} and by_name(p)["app"]["password"] == "old"


def test_due_rotation_creates_a_new_user_with_the_parents_settings():
    secrets = {"app": {"username": "app", "password": "old", "nextRotation": "2026-12-01T00:00:00Z"}}
    p = plan([role("app")], secrets, live=["postgres", "app"])
    out = p.secrets["app"]
    assert out == {"username": "app261203", "password": "generated-1", "nextRotation": "2027-01-02T20:00:00Z",
                   "rotatedAt": "2026-12-03T20:00:00Z"}
    roles = by_name(p)
    assert roles["app"]["password"] is None and not roles["app"].get("no_password")  # grace: old one still works
    new = roles["app261203"]
    assert new["flags"] == ["LOGIN"] and new["member_of"] == ["app"] and new["password"] == "generated-1"
    assert new["parameters"] == {"search_path": "data", "role": "app"}
    assert p.events == ["app: password rotated, new user app261203"]
    assert "generated-1" not in " ".join(p.events)


def test_after_the_grace_period_the_old_credentials_stop_working():
    secrets = {"app": {"username": "app261203", "password": "new", "nextRotation": "2027-01-02T20:00:00Z",
                       "rotatedAt": "2026-12-03T20:00:00Z"}}
    live = ["app", "app261203", "app261103"]
    during = plan([role("app")], secrets, live, now=NOW + datetime.timedelta(hours=23))
    assert during.secrets == {}
    roles = by_name(during)
    assert roles["app"]["password"] is None and not roles["app"].get("no_password")
    assert roles["app261103"]["flags"] == ["LOGIN"] and roles["app261103"]["password"] is None
    after = plan([role("app")], secrets, live, now=NOW + datetime.timedelta(hours=25))
    roles = by_name(after)
    assert roles["app"]["no_password"] is True
    assert roles["app261103"]["flags"] == []  # NOLOGIN, kept until retention
    assert roles["app261203"]["flags"] == ["LOGIN"] and roles["app261203"]["password"] == "new"


def test_retention_drops_old_rotation_users_only():
    secrets = {"app": {"username": "app261203", "password": "new", "nextRotation": "2027-01-02T20:00:00Z",
                       "rotatedAt": "2026-12-03T20:00:00Z"}}
    live = ["app", "app261203", "app261101", "app260901", "app2609", "apple260901", "other260901"]
    p = plan([role("app"), role("apple")], secrets, live, now=NOW + datetime.timedelta(days=2))
    assert p.drop == ["app260901", "apple260901"]  # 95 days old; retention is 60 days
    names = by_name(p)
    assert "app261101" in names and "app2609" not in names and "other260901" not in names


def test_eligibility():
    roles = [role("app"), role("owner", owner=True), role("postgres", "system", ["LOGIN", "SUPERUSER"]),
             role("standby", "system", ["LOGIN", "REPLICATION"]), role("infra", "infrastructure"),
             role("ignored"), role("pooler", "pooler"), role("nologin", flags=())]
    pol = policy({"usersIgnoringSecretRotation": ["ignored"], "usersWithInPlaceSecretRotation": ["postgres"]})
    modes = {r["name"]: rotation.mode_of(r, pol)[0] for r in roles}
    assert modes == {"app": "user", "owner": None, "postgres": None, "standby": None, "infra": None,
                     "ignored": None, "pooler": None, "nologin": None}
    # the superuser only when the cluster asks for it, and then in place
    pol = policy({"usersWithInPlaceSecretRotation": ["postgres"], "usersWithSecretRotation": ["owner", "standby"]},
                 {rotation.ANNOTATION_SYSTEM: "postgres"}, enable_password_rotation=False)
    modes = {r["name"]: rotation.mode_of(r, pol)[0] for r in roles}
    assert modes["postgres"] == "in_place" and modes["standby"] is None
    assert modes["owner"] == "user" and modes["app"] is None
    # the per-cluster switch wins both ways
    off = policy({"usersWithSecretRotation": ["app"]}, {rotation.ANNOTATION_SWITCH: "off"})
    assert rotation.mode_of(role("app"), off)[0] is None
    on = policy({}, {rotation.ANNOTATION_SWITCH: "on"}, enable_password_rotation=False)
    assert rotation.mode_of(role("app"), on)[0] == "user"
    standby = policy({"standby": {"s3_wal_path": "s3://x"}, "usersWithSecretRotation": ["app"]})
    assert rotation.mode_of(role("app"), standby)[0] is None


def test_in_place_rotation_and_switch_from_user_rotation():
    pol = policy({"usersWithInPlaceSecretRotation": ["app"]})
    due = {"app": {"username": "app", "password": "old", "nextRotation": "2026-12-01T00:00:00Z"}}
    p = plan([role("app")], due, pol=pol)
    assert p.secrets["app"]["username"] == "app" and by_name(p)["app"]["password"] == "generated-1"
    rotated = {"app": {"username": "app261101", "password": "old", "nextRotation": "2026-12-20T00:00:00Z",
                       "rotatedAt": "2026-11-01T00:00:00Z"}}
    p = plan([role("app")], rotated, ["app", "app261101"], pol=pol)
    assert p.secrets["app"]["username"] == "app" and by_name(p)["app"]["password"] == "generated-1"
    assert by_name(p)["app261101"]["flags"] == ["LOGIN"]  # the grace period starts with the switch


def test_rotation_switched_off_puts_the_role_name_back():
    rotated = {"app": {"username": "app261101", "password": "old", "nextRotation": "2026-12-20T00:00:00Z",
                       "rotatedAt": "2026-11-01T00:00:00Z"}}
    p = plan([role("app")], rotated, ["app", "app261101"], pol=policy(enable_password_rotation=False))
    assert p.secrets["app"] == {"username": "app", "password": "generated-1", "nextRotation": None,
                                "rotatedAt": "2026-12-03T20:00:00Z"}
    assert by_name(p)["app"]["password"] == "generated-1"


def test_too_long_names_rotate_in_place():
    long_name = "u" * 60
    due = {long_name: {"username": long_name, "password": "old", "nextRotation": "2026-12-01T00:00:00Z"}}
    p = plan([role(long_name)], due)
    assert p.secrets[long_name]["username"] == long_name and p.warnings


def test_bad_policy_values_name_the_field():
    with pytest.raises(ManifestError, match="password-rotation-grace"):
        policy({}, {rotation.ANNOTATION_GRACE: "soon"})
    with pytest.raises(ManifestError, match="metadata.annotations.pgfleet.io/password-rotation"):
        policy({}, {rotation.ANNOTATION_SWITCH: "maybe"})
    assert policy({}, {rotation.ANNOTATION_GRACE: "2h30m"})["grace"] == 9000
    assert policy({}, {rotation.ANNOTATION_GRACE: "400d"})["grace"] == 15 * 86400  # half the interval at most


def test_unreadable_next_rotation_is_rescheduled_not_rotated():
    p = plan([role("app")], {"app": {"username": "app", "password": "old", "nextRotation": "yesterday\n"}})
    assert p.secrets["app"]["nextRotation"] == "2027-01-02T20:00:00Z" and not p.events


def test_rotation_plan_feeds_the_role_sync():
    secrets = {"app": {"username": "app", "password": "old", "nextRotation": "2026-12-01T00:00:00Z"}}
    live = {"postgres": {"flags": ["SUPERUSER", "LOGIN"]}, "app": {"flags": ["LOGIN"], "password": "md5x"}}
    snapshot = snapshot_from_lists(live)
    p = rotation.plan_rotation([role("app", password="old")], secrets, snapshot["roles"], policy(), NOW)
    q = plan_roles(p.roles, snapshot).queries()
    assert "CREATE ROLE \"app261203\" WITH LOGIN PASSWORD '********'" in q
    assert 'GRANT "app" TO "app261203"' in q
    assert "ALTER ROLE \"app261203\" SET \"role\" TO 'app'" in q
    assert not any("generated" in x or "old" in x for x in q)
    # past the grace period the parent's password goes
    secrets["app"] = p.secrets["app"]
    later = rotation.plan_rotation([role("app", password="old")], secrets, ["postgres", "app", "app261203"],
                                   policy(), NOW + datetime.timedelta(days=2))
    assert 'ALTER ROLE "app" WITH PASSWORD NULL' in plan_roles(later.roles, snapshot).queries()


def test_roles_without_a_secret_yet_are_written_only_when_rotation_adds_something():
    p = plan([role("app"), role("owner", owner=True)], {})
    assert sorted(p.secrets) == ["app"]
    assert p.secrets["app"]["username"] == "app" and p.secrets["app"]["nextRotation"] == "2027-01-02T20:00:00Z"


def test_secrets_from_objects_and_patch_round_trip():
    import base64

    ref = {"name": "app.secret", "namespace": "default"}
    patch = rotation.secret_patch(ref, {"username": "app261203", "password": "p", "nextRotation": "2027-01-02T20:00:00Z",
                                        "rotatedAt": None})
    assert sorted(patch["data"]) == ["nextRotation", "password", "username"]
    broken = {"metadata": {"name": "x.secret", "namespace": "default"}, "data": {"username": "%%%", "password": 5}}
    found = rotation.secrets_from_objects([role("app"), role("x")], [patch, broken, "junk"])
    assert found["app"]["username"] == "app261203" and found["x"] == {}
    assert base64.b64decode(patch["data"]["password"]) == b"p"


@pytest.mark.parametrize("key", ["password_rotation_interval", "password_rotation_user_retention"])
@pytest.mark.parametrize("value", ["abc", "1.5", True, "9" * 40, "36501"])
def test_a_day_count_that_is_no_whole_number_is_refused_by_name(key, value):
    with pytest.raises(rotation.RotationError) as err:
        rotation.policy_from({key: value}, {})
    assert ("config.%s" % key) in str(err.value) and "whole number of days" in str(err.value)
    assert len(str(err.value)) < 200
