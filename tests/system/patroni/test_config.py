"""patroni_config against a real 3-member etcd + Patroni cluster (one cluster for the module)."""

import pytest
import requests
from test_switchover import api_args, run_module, run_playbook, wait_for

pytestmark = [pytest.mark.patroni, pytest.mark.slow]


def dynamic_config(cluster):
    return requests.get(cluster.leader_api_url + "/config", timeout=10).json()


def config_where(cluster, predicate, what):
    """Patroni's dynamic configuration once ``predicate`` holds for it. GET /config answers from the
    member's view of the DCS, which a PATCH reaches at its next read of the DCS (a loop, later under
    load): read until the change is seen, not once."""
    def seen():
        conf = dynamic_config(cluster)
        return conf if predicate(conf) else None

    return wait_for(seen, timeout=60, what=what)


def show(cluster, member, name):
    with cluster.connect(member) as conn:
        return conn.execute("SELECT setting, unit FROM pg_settings WHERE name = %s", (name,)).fetchone()


def start_times(cluster):
    return dict((m, (cluster.state(m) or {}).get("postmaster_start_time")) for m in cluster.members)


def configure(cluster, config, check=False, diff=False, **extra):
    return run_module("patroni_config", dict(api_args(cluster), config=config, **extra), check=check, diff=diff)


def test_reload_only_change_is_live_everywhere_without_a_restart(local_cluster):
    before = start_times(local_cluster)
    conn = {"api_url": "{{ api_url }}", "api_username": "{{ user }}", "api_password": "{{ password }}"}
    desired = {"postgresql": {"parameters": {"work_mem": "12MB", "log_min_duration_statement": "250ms"}}}
    tasks = [
        {"name": "check", "pgfleet.postgres.patroni_config": dict(conn, config=desired), "check_mode": True,
         "diff": True, "register": "check"},
        {"name": "apply", "pgfleet.postgres.patroni_config": dict(conn, config=desired), "diff": True,
         "register": "apply"},
        {"name": "again", "pgfleet.postgres.patroni_config": dict(conn, config=desired), "register": "again"},
    ]
    config_before = dynamic_config(local_cluster)
    results, rc, output = run_playbook(tasks, {"api_url": local_cluster.leader_api_url,
                                               "user": local_cluster.rest_username,
                                               "password": local_cluster.rest_password})
    assert rc == 0, output
    check, apply, again = results["check"], results["apply"], results["again"]
    assert check["changed"] is True and check["actions"][0]["status"] == "planned"
    assert check["patch"] == desired and check["diff"]["before"] == config_before
    assert apply["changed"] is True and apply["restart_parameters"] == [] and apply["pending_restart"] == []
    assert apply["diff"]["after"]["postgresql"]["parameters"]["work_mem"] == "12MB"
    assert "work_mem" in output  # --diff shows the change
    assert again["changed"] is False and again["patch"] == {} and again["actions"] == []
    for member in local_cluster.members:
        wait_for(lambda m=member: show(local_cluster, m, "work_mem") == ("12288", "kB"), timeout=60,
                 what="work_mem on %s" % member)
        assert show(local_cluster, member, "log_min_duration_statement") == ("250", "ms")
    assert start_times(local_cluster) == before


def test_restart_only_change_is_pending_until_the_rolling_restart(local_cluster):
    result = configure(local_cluster, {"postgresql": {"parameters": {"shared_buffers": "192MB"}}})
    assert result["changed"] is True, result
    assert result["restart_parameters"] == ["shared_buffers"]
    assert sorted(result["pending_restart"]) == local_cluster.members
    for member in local_cluster.members:
        reason = local_cluster.state(member)["pending_restart_reason"]["shared_buffers"]
        assert reason["new_value"] == "192MB"
        assert show(local_cluster, member, "shared_buffers") != ("24576", "8kB")  # not live yet
    restart = run_module("patroni_restart", dict(api_args(local_cluster), timeout=180))
    assert restart["changed"] is True and restart["pending_restart"] == [], restart
    info = run_module("patroni_cluster_info", api_args(local_cluster))
    assert info["pending_restart"] == []
    for member in local_cluster.members:
        assert show(local_cluster, member, "shared_buffers") == ("24576", "8kB")


def test_invalid_values_are_refused_before_any_patch(local_cluster):
    before = dynamic_config(local_cluster)
    result = configure(local_cluster, {"ttl": 5, "loop_wait": 0, "bogus": 1, "postgresql": {"parameters": {
        "max_connections": "lots", "wal_level": "minimal", "work_mem": "16kB", "listen_addresses": "*"}},
        "slots": {"Bad-Slot": {"type": "physical"}}})
    assert result.get("failed") is True, result
    msg = result["msg"]
    assert msg.startswith("invalid dynamic configuration, nothing was sent to Patroni (8 problems): "), msg
    for field in ("config.ttl", "config.loop_wait", "config.bogus", "config.postgresql.parameters.max_connections",
                  "config.postgresql.parameters.wal_level", "config.postgresql.parameters.work_mem",
                  "config.postgresql.parameters.listen_addresses", "config.slots.Bad-Slot"):
        assert field in result["fields"], (field, result["fields"])
    assert result["actions"] == []
    assert dynamic_config(local_cluster) == before
    # the timeouts rule is checked against the values in effect (loop_wait 2, retry_timeout 5 here)
    result = configure(local_cluster, {"ttl": 20, "retry_timeout": 10})
    assert result.get("failed") is True and "loop_wait 2 + 2 x retry_timeout 10 exceeds ttl 20" in result["msg"]
    assert dynamic_config(local_cluster) == before


def test_invalid_skip_sends_the_rest_in_one_call(local_cluster):
    """What the reconcile runs: the refused values are named and left out, the rest reaches Patroni."""
    before = dynamic_config(local_cluster)
    result = configure(local_cluster, {"ttl": 5, "postgresql": {"parameters": {
        "work_mem": "lots", "max_connections": "-5", "log_min_duration_statement": "750ms"}}}, invalid="skip")
    assert "failed" not in result and result["changed"] is True, result
    assert sorted(r["field"] for r in result["rejected"]) == ["config.postgresql.parameters.work_mem", "config.ttl"]
    # below Patroni's minimum: left out with its own warning (Patroni would keep its default)
    assert any("max_connections" in w and "25" in w for w in result["warnings"])
    assert result["error"].startswith("not sent to Patroni, which would ignore them: ")
    assert result["patch"] == {"postgresql": {"parameters": {"log_min_duration_statement": "750ms"}}}
    assert any(result["error"] in w for w in result.get("warnings", []))
    # the leader's GET /config, like the other reads after a PATCH here: until the sent part shows
    after = config_where(local_cluster, lambda c: c["postgresql"]["parameters"].get("log_min_duration_statement")
                         == "750ms", "log_min_duration_statement 750ms in GET /config")
    assert after["ttl"] == before["ttl"]
    assert after["postgresql"]["parameters"]["log_min_duration_statement"] == "750ms"
    assert after["postgresql"]["parameters"].get("work_mem") == before["postgresql"]["parameters"].get("work_mem")
    again = configure(local_cluster, {"ttl": 5, "postgresql": {"parameters": {
        "work_mem": "lots", "log_min_duration_statement": "750ms"}}}, invalid="skip")
    assert again["changed"] is False and again["actions"] == [] and len(again["rejected"]) == 2, again


def test_null_removes_a_key_and_timeouts_converge(local_cluster):
    configure(local_cluster, {"postgresql": {"parameters": {"log_min_duration_statement": None}},
                              "ttl": 30, "retry_timeout": 6})
    conf = config_where(local_cluster, lambda c: "log_min_duration_statement" not in c["postgresql"]["parameters"]
                        and c.get("retry_timeout") == 6, "the patch in GET /config")
    assert (conf["ttl"], conf["loop_wait"], conf["retry_timeout"]) == (30, 2, 6)
    again = configure(local_cluster, {"postgresql": {"parameters": {"log_min_duration_statement": None}},
                                      "ttl": "30", "retry_timeout": 6})
    assert again["changed"] is False, again


def test_slots_we_managed_are_removed_others_stay(local_cluster):
    # a slot somebody else put there by hand
    resp = requests.patch(local_cluster.leader_api_url + "/config", json={"slots": {"by_hand": {"type": "physical"}}},
                          auth=local_cluster.rest_auth, timeout=10)
    assert resp.status_code == 200
    first = configure(local_cluster, {"slots": {"ours_a": {"type": "physical"}, "ours_b": {"type": "physical"}}})
    assert first["changed"] is True and first["managed_slots"] == ["ours_a", "ours_b"]
    second = configure(local_cluster, {"slots": {"ours_b": {"type": "physical"}}},
                       managed_slots=first["managed_slots"])
    assert second["changed"] is True and second["patch"] == {"slots": {"ours_a": None}}
    assert second["managed_slots"] == ["ours_b"]
    config_where(local_cluster, lambda c: sorted(c.get("slots") or {}) == ["by_hand", "ours_b"],
                 "slots by_hand and ours_b (only) in GET /config")
    third = configure(local_cluster, {"slots": {"ours_b": {"type": "physical"}}}, managed_slots=["ours_b"])
    assert third["changed"] is False

    # Patroni creates the permanent slot on the primary and drops the one we removed
    def primary_slots():
        with local_cluster.connect() as conn:
            return set(r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall())

    wait_for(lambda: "ours_b" in primary_slots() and "ours_a" not in primary_slots(), timeout=60,
             what="slot ours_b (and not ours_a) on the primary")
