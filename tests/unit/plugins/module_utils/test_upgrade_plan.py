"""Major upgrade planning: the gates and the pre-checks (pure; no cluster)."""

import datetime

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates, prechecks

UTC = datetime.timezone.utc
SAT_NIGHT = datetime.datetime(2026, 12, 5, 1, 30, tzinfo=UTC)  # a Saturday
MONDAY = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_upgrade_when_every_gate_is_open():
    d = gates.decide("15", "18")
    assert d["action"] == "upgrade" and (d["from"], d["to"]) == (15, 18) and not d["reasons"]


def test_same_or_lower_major_is_nothing_to_do():
    assert gates.decide("18", "18")["action"] == "none"
    d = gates.decide("18", "15")
    assert d["action"] == "none" and "downgrade" in d["reasons"][0]


def test_mode_off_blocks_unless_the_team_is_allowed():
    d = gates.decide("15", "18", mode="off", team="acid")
    assert d["action"] == "blocked" and "mode is off" in d["reasons"][0]
    assert gates.decide("15", "18", mode="off", team="acid", allow_list=["acid"])["action"] == "upgrade"


def test_full_mode_raises_below_minimal_to_target():
    d = gates.decide("15", "14", mode="full", minimal="16", target="18")
    assert d["to"] == 18 and d["action"] == "upgrade"
    # manual mode: the manifest's version counts as written
    assert gates.decide("15", "14", mode="manual", minimal="16", target="18")["action"] == "none"
    # at or above minimal: unchanged
    assert gates.desired_major("16", "full", "16", "18") == 16


def test_a_failure_is_not_retried_and_reverting_clears_it():
    marks = {gates.FAILURE_KEY: "2026-12-03T21:00:00Z"}
    d = gates.decide("15", "18", marks=marks)
    assert d["action"] == "blocked" and "not retried" in d["reasons"][0]
    back = gates.decide("15", "15", marks=marks)
    assert back["action"] == "none" and back["clear_failure"]
    assert not gates.decide("15", "15")["clear_failure"]


def test_maintenance_windows():
    w = ["Sat:01:00-05:00"]
    assert gates.decide("15", "18", windows=w, now=SAT_NIGHT)["action"] == "upgrade"
    d = gates.decide("15", "18", windows=w, now=MONDAY)
    assert d["action"] == "blocked" and "2026-12-12T01:00:00Z" in d["reasons"][0]


def test_standby_is_never_upgraded():
    assert gates.decide("15", "18", standby=True)["action"] == "blocked"


@pytest.mark.parametrize("bad", ["eighteen", "18; rm", "", None, "1" * 10])
def test_bad_versions_and_modes_are_refused(bad):
    with pytest.raises(ValueError):
        gates.decide("15", bad)
    with pytest.raises(ValueError):
        gates.decide("15", "18", mode="sometimes")


def test_timestamp_is_utc_z():
    assert gates.timestamp(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def members(lag=0, state="streaming"):
    return [{"name": "c-0", "role": "leader", "state": "running"},
            {"name": "c-1", "role": "replica", "state": "streaming", "lag": 0},
            {"name": "c-2", "role": "replica", "state": state, "lag": lag}]


def facts(**kw):
    base = {"members": members(), "expected_members": ["c-0", "c-1", "c-2"], "long_transactions": [],
            "data_bytes": 100 * prechecks.MIB, "free_bytes": 10 * 1024 * prechecks.MIB,
            "extensions": {"app": ["plpgsql", "hstore"]}, "target_extensions": ["hstore", "citext"], "target": 18}
    base.update(kw)
    return base


def test_all_checks_pass():
    plan = prechecks.evaluate(facts())
    assert plan["ok"] and not plan["refused"]
    assert [c["check"] for c in plan["checks"]] == ["replicas", "transactions", "disk", "extensions"]


def test_replica_not_streaming_or_lagging_or_missing():
    assert "not streaming" in prechecks.evaluate(facts(members=members(state="stopped")))["refused"][0]
    assert "lags" in prechecks.evaluate(facts(members=members(lag=17 * prechecks.MIB)))["refused"][0]
    assert "lags" in prechecks.evaluate(facts(members=members(lag="much")))["refused"][0]
    plan = prechecks.evaluate(facts(members=members()[:2]))
    assert "no answer from c-2" in plan["refused"][0]


def test_long_transaction_refuses():
    plan = prechecks.evaluate(facts(long_transactions=[{"pid": 7, "usename": "app", "datname": "db", "seconds": 90}]))
    assert not plan["ok"] and "pid 7" in plan["refused"][0]


def test_disk_numbers():
    assert prechecks.disk_needed("link", 1024 * prechecks.MIB) == 256 * prechecks.MIB + 1024 * prechecks.MIB // 20
    assert prechecks.disk_needed("copy", 1024 * prechecks.MIB) == 1280 * prechecks.MIB
    plan = prechecks.evaluate(facts(free_bytes=300 * prechecks.MIB, data_bytes=1024 * prechecks.MIB), method="copy")
    assert "copy needs 1280.0 MiB" in plan["refused"][0]
    assert prechecks.evaluate(facts(free_bytes=400 * prechecks.MIB, data_bytes=1024 * prechecks.MIB))["ok"]


def test_missing_extension_named_with_its_database():
    plan = prechecks.evaluate(facts(extensions={"app": ["uuid-ossp", "hstore"]}))
    assert "uuid-ossp (database app)" in plan["refused"][0]
    assert "not found" in prechecks.evaluate(facts(target_extensions=None))["refused"][0]


def test_pg_upgrade_check_result():
    assert prechecks.evaluate(facts(pg_upgrade_check={"ok": True, "output": ""}))["ok"]
    plan = prechecks.evaluate(facts(pg_upgrade_check={"ok": False, "output": "a\n\nFailure, exiting\n"}))
    assert "Failure, exiting" in plan["refused"][0]
    assert "not run" in prechecks.evaluate(facts(pg_upgrade_check=None))["refused"][0]
    with pytest.raises(ValueError):
        prechecks.evaluate(facts(), method="rsync")
