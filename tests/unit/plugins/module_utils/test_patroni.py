# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Unit tests for plugins/module_utils/patroni/ (client, state, dynconfig, operations), on answers recorded from a real Patroni 4.1.5.

The fixtures in tests/unit/fixtures/patroni/ were recorded from a 3-member cluster (m1, m2, m3) on
loopback: GET /cluster, each member's GET /patroni and GET /config, in the states their names say.
``answers.json`` holds the HTTP status and body of the refusals and successes seen there. Where a
test needs a state that was not recorded, it derives it from a recorded one and says so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import io
import json
import os
import socket
from urllib.error import HTTPError, URLError

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PatroniError
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni import client, dynconfig, operations
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni import state as pstate
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import gucs

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "patroni")
UTC = datetime.timezone.utc


def fx(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


def state_of(cluster, statuses=None, config=None):
    return pstate.parse_cluster(fx(cluster) if isinstance(cluster, str) else cluster,
                                dict((k, fx(v) if isinstance(v, str) else v) for k, v in (statuses or {}).items()),
                                fx(config) if isinstance(config, str) else config)


# =============================================================================================
# Parsing
# =============================================================================================
def test_parse_healthy_cluster_from_dcs_only():
    state = state_of("cluster_healthy")
    assert state.scope == "rec"
    assert state.leader == "m1"
    assert state.names == ["m1", "m2", "m3"]
    m2 = state.member("m2")
    assert (m2.role, m2.state, m2.lag, m2.reachable) == ("replica", "streaming", 0, None)
    assert m2.api_url == "http://127.0.0.1:48475"  # "/patroni" suffix stripped
    assert state.sync_standbys == []
    assert state.synchronous_mode is False
    assert state.timeline == 1


def test_live_answers_win_over_the_dcs_and_lag_is_measured_against_the_leader():
    # /cluster said m3 lags 21350872 bytes; the live answers give the same figure from positions
    state = state_of("cluster_lagging", {"m2": "patroni_primary_when_lagging", "m3": "patroni_replica_lagging"},
                     "config_initial")
    m3 = state.member("m3")
    assert m3.reachable is True
    assert m3.lag == 109954984 - 88604112
    assert m3.gate_lag == m3.lag
    assert state.leader == "m2"
    assert state.member("m2").live_role == "primary"


def test_pending_restart_reason_and_postmaster_start_time():
    state = state_of("cluster_pending_restart", {"m2": "patroni_replica_pending_restart"})
    m2 = state.member("m2")
    assert m2.pending_restart is True
    assert set(m2.pending_restart_reason) == {"max_connections", "shared_buffers"}
    assert m2.started_at() == datetime.datetime(2026, 11, 21, 8, 43, 43, 569735, tzinfo=UTC)
    assert state.pending_restart_members() == ["m1", "m2", "m3"]


def test_paused_scheduled_switchover_and_scheduled_restart():
    assert state_of("cluster_paused").paused is True
    sched = state_of("cluster_scheduled_switchover").scheduled_switchover
    assert sched == {"at": "2030-01-01T10:00:00+00:00", "from": "m2", "to": "m3"}
    restarts = state_of("cluster_scheduled_restart").to_dict()["scheduled_restarts"]
    assert list(restarts) == ["m1"] and restarts["m1"]["restart_pending"] is True


def test_sync_standby_from_dcs_and_from_live_answer():
    dcs = state_of("cluster_sync", config="config_sync")
    assert dcs.sync_standbys == ["m1"] and dcs.synchronous_mode is True
    live = state_of("cluster_sync", {"m1": "patroni_sync_standby", "m2": "patroni_primary_sync"}, "config_sync")
    assert live.member("m1").role == "sync_standby"
    assert live.leader == "m2"


def test_unreachable_member_keeps_dcs_state_and_is_flagged():
    state = state_of("cluster_healthy", {"m1": "patroni_primary", "m2": None})
    m2 = state.member("m2")
    assert m2.reachable is False and m2.error
    assert m2.state == "streaming"  # last DCS state
    assert not m2.healthy


def test_restarting_and_demoted_states_come_from_the_member():
    state = state_of("cluster_pending_restart", {"m2": "patroni_replica_restarting"})
    assert state.member("m2").state == "restarting"
    assert not state.member("m2").healthy


def test_non_numeric_lag_is_unknown():
    cluster = fx("cluster_healthy")
    cluster["members"][2]["lag"] = "unknown"  # derived: Patroni writes "unknown" when it has no position
    cluster["members"][2].pop("replay_lag")
    state = state_of(cluster)
    assert state.member("m3").lag is None and state.member("m3").gate_lag is None


def test_leaderless_cluster_measures_lag_against_the_most_advanced_member():
    state = state_of("cluster_leaderless", {"m1": "patroni_replica_leaderless", "m3": "patroni_replica_leaderless_m3"})
    assert state.leader is None
    assert state.paused is True
    assert {m.name: m.lag for m in state.members} == {"m1": 0, "m3": 0}


def test_to_dict_is_json_serialisable():
    state = state_of("cluster_pending_restart", {"m1": "patroni_primary_pending_restart"}, "config_initial")
    data = json.loads(json.dumps(state.to_dict()))
    assert data["leader"] == "m1" and data["pending_restart"] == ["m1", "m2", "m3"]


# =============================================================================================
# Candidate choice and the lag gate
# =============================================================================================
def test_best_candidate_is_lowest_lag_then_name():
    state = state_of("cluster_healthy", config="config_initial")
    assert pstate.choose_candidate(state).name == "m2"
    cluster = fx("cluster_healthy")
    cluster["members"][1]["lag"] = cluster["members"][1]["replay_lag"] = 4096  # derived: m2 behind
    assert pstate.choose_candidate(state_of(cluster, config="config_initial")).name == "m3"


def test_lagging_named_candidate_is_refused_with_the_numbers():
    state = state_of("cluster_lagging", {"m2": "patroni_primary_when_lagging", "m3": "patroni_replica_lagging"},
                     "config_initial")
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state, "m3")
    assert "candidate m3 cannot take over: it lags 21350872 bytes behind the leader (limit 1048576)" in err.value.msg
    assert err.value.transient is True
    # the best candidate skips it; a larger gate accepts it; -1 turns the gate off
    assert pstate.choose_candidate(state).name == "m1"
    assert pstate.choose_candidate(state, "m3", max_lag=32 * 1024 * 1024).name == "m3"
    assert pstate.choose_candidate(state, "m3", max_lag=-1).name == "m3"


def test_nofailover_candidate_is_refused_permanently():
    state = state_of("cluster_nofailover", {"m3": "patroni_replica_nofailover"}, "config_initial")
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state, "m3")
    assert "nofailover" in err.value.msg and err.value.transient is False
    assert pstate.choose_candidate(state).name == "m1"


def test_unknown_candidate_names_the_members():
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state_of("cluster_healthy"), "zz")
    assert err.value.msg == "candidate zz is not a member of cluster rec (members: m1, m2, m3)"
    assert err.value.transient is False


def test_leader_as_candidate_is_refused():
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state_of("cluster_healthy"), "m1")
    assert "is the current leader" in err.value.msg


def test_unreachable_and_restarting_candidates_are_refused_transiently():
    state = state_of("cluster_healthy", {"m1": "patroni_primary", "m2": None, "m3": "patroni_replica_restarting"})
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state)
    msg = err.value.msg
    assert msg.startswith("no member of cluster rec can take over: ")
    assert "m2 does not answer on its REST API at http://127.0.0.1:48475" in msg
    assert "m3 is restarting" in msg
    assert err.value.transient is True
    assert set(err.value.context["candidates"]) == {"m2", "m3"}


def test_synchronous_mode_prefers_and_requires_a_sync_standby():
    state = state_of("cluster_sync", {"m1": "patroni_sync_standby", "m2": "patroni_primary_sync"}, "config_sync")
    assert pstate.choose_candidate(state).name == "m1"
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state, "m3")
    # recorded while m3 still carried the nofailover tag: both reasons are named, and waiting is useless
    assert err.value.msg == ("candidate m3 cannot take over: it carries the nofailover tag and is not a synchronous "
                             "standby (synchronous_mode is on; sync standbys: m1)")
    assert err.value.transient is False
    cluster = fx("cluster_sync")
    cluster["members"][2].pop("tags")  # derived: without the tag only the sync rule remains, which can clear up
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state_of(cluster, config="config_sync"), "m3")
    assert err.value.transient is True


def test_sync_standby_ranks_first_even_with_more_lag():
    cluster = fx("cluster_sync")
    for m in cluster["members"]:
        if m["name"] == "m1":
            m["lag"] = m["replay_lag"] = m["receive_lag"] = 1000  # derived: sync standby slightly behind
    assert pstate.choose_candidate(state_of(cluster, config="config_initial")).name == "m1"


def test_unknown_lag_counts_as_maximum():
    cluster = fx("cluster_healthy")
    cluster["members"][1]["lag"] = "unknown"
    cluster["members"][1].pop("replay_lag")
    state = state_of(cluster, config="config_initial")
    assert pstate.choose_candidate(state).name == "m3"
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state, "m2")
    assert "has an unknown replication lag" in err.value.msg


def test_one_member_cluster_never_switches():
    cluster = fx("cluster_healthy")
    cluster["members"] = cluster["members"][:1]  # derived: a single member
    with pytest.raises(pstate.NoCandidate) as err:
        pstate.choose_candidate(state_of(cluster))
    assert "only one member" in err.value.msg and err.value.transient is False


def test_timeline_mismatch_is_refused():
    state = state_of("cluster_healthy", {"m1": "patroni_primary", "m2": "patroni_replica_nofailover"})
    # derived: m2's live answer comes from timeline 2 while the leader is on timeline 1
    assert "is on timeline 2, the leader on 1" in pstate.explain(pstate.evaluate_candidates(state))


def test_failover_candidate_in_a_leaderless_cluster():
    state = state_of("cluster_leaderless", {"m1": "patroni_replica_leaderless", "m3": "patroni_replica_leaderless_m3"},
                     "config_initial")
    assert pstate.choose_candidate(state, "m3", purpose="failover").name == "m3"


def test_gate_lag_is_the_larger_lag_and_unknown_is_none():
    m = pstate.Member(name="x", role="replica", lag=10, replay_lag=20)
    assert m.gate_lag == 20
    assert pstate.Member(name="y", role="replica").gate_lag is None


# =============================================================================================
# Rolling restart planning
# =============================================================================================
def pending_state():
    return state_of("cluster_pending_restart", {"m1": "patroni_primary_pending_restart",
                                                "m2": "patroni_replica_pending_restart"}, "config_initial")


def test_restart_plan_replicas_first_primary_by_switchover():
    plan = pstate.restart_plan(pending_state())
    assert plan["order"] == "replicas_first"
    assert [(s["member"], s["action"]) for s in plan["steps"]] == [
        ("m2", "restart"), ("m3", "restart"), ("m1", "switchover")]
    assert plan["steps"][0]["reason"] == "pending restart: max_connections, shared_buffers"


def test_restart_plan_without_switchover_restarts_primary_in_place_last():
    plan = pstate.restart_plan(pending_state(), switchover=False)
    assert [(s["member"], s["action"]) for s in plan["steps"]][-1] == ("m1", "restart")


def test_restart_plan_decrease_only_puts_primary_first_in_place():
    state = state_of("cluster_pending_decrease", {"m2": "patroni_primary_pending_decrease"}, "config_initial")
    plan = pstate.restart_plan(state)
    assert plan["order"] == "primary_first"
    assert [(s["member"], s["action"]) for s in plan["steps"]] == [("m2", "restart"), ("m1", "restart"),
                                                                   ("m3", "restart")]
    assert pstate.restart_plan(state, order="replicas_first")["steps"][-1] == {
        "member": "m2", "role": "leader", "action": "switchover", "reason": "pending restart: max_connections"}


def test_restart_plan_nothing_pending():
    plan = pstate.restart_plan(state_of("cluster_healthy", {"m1": "patroni_primary", "m2": "patroni_replica"}))
    assert plan["steps"] == [] and [s["member"] for s in plan["skipped"]] == ["m1", "m2", "m3"]


def test_restart_plan_force_and_restarted_since_for_a_rerun():
    state = state_of("cluster_healthy", {"m1": "patroni_primary", "m2": "patroni_replica_after_restart"})
    assert [s["member"] for s in pstate.restart_plan(state, force=True)["steps"]] == ["m2", "m3", "m1"]
    # m2 restarted at 08:44:34; a rerun of a forced restart that started 08:44:00 skips it.
    since = datetime.datetime(2026, 11, 21, 8, 44, 0, tzinfo=UTC)
    plan = pstate.restart_plan(state, force=True, since=since)
    assert [s["member"] for s in plan["steps"]] == ["m3", "m1"]
    assert plan["skipped"][0]["member"] == "m2" and "restarted since" in plan["skipped"][0]["reason"]


def test_restart_plan_member_filter_and_unknown_member():
    assert [s["member"] for s in pstate.restart_plan(pending_state(), members=["m3"])["steps"]] == ["m3"]
    with pytest.raises(PatroniError) as err:
        pstate.restart_plan(pending_state(), members=["m9"])
    assert "m9" in err.value.msg and "m1, m2, m3" in err.value.msg


def test_restart_plan_single_member_restarts_in_place():
    cluster = fx("cluster_pending_restart")
    cluster["members"] = cluster["members"][:1]  # derived
    plan = pstate.restart_plan(state_of(cluster))
    assert plan["steps"] == [{"member": "m1", "role": "leader", "action": "restart",
                              "reason": "pending restart: max_connections, shared_buffers"}]


@pytest.mark.parametrize("reasons, expected", [
    ({"max_connections": {"old_value": "150", "new_value": "120"}}, True),
    ({"max_connections": {"old_value": "150", "new_value": "120"},
      "max_wal_senders": {"old_value": "10", "new_value": "5"}}, True),
    ({"max_connections": {"old_value": "100", "new_value": "150"}}, False),
    ({"max_connections": {"old_value": "150", "new_value": "120"},
      "shared_buffers": {"old_value": "128MB", "new_value": "64MB"}}, False),
    ({}, False),
])
def test_decrease_only(reasons, expected):
    assert pstate.decrease_only(reasons) is expected


# =============================================================================================
# Dynamic configuration: validation
# =============================================================================================
def problems(desired, current=None):
    errors, warnings = dynconfig.validate_dynamic_config(desired, current or fx("config_initial"))
    return [e.msg for e in errors], warnings


def test_valid_config_passes():
    errors, warnings = problems({"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 1048576,
                                 "synchronous_mode": "quorum", "failsafe_mode": True,
                                 "postgresql": {"use_pg_rewind": True, "parameters": {
                                     "shared_buffers": "256MB", "work_mem": "8MB", "max_connections": 200,
                                     "log_min_duration_statement": "2s", "synchronous_commit": "on",
                                     "hot_standby_feedback": "yes", "wal_level": "logical",
                                     "pg_stat_statements.max": 10000, "log_statement": None},
                                     "pg_hba": ["local all all trust", "host all all 0.0.0.0/0 scram-sha-256"]},
                                 "slots": {"cdc": {"type": "logical", "database": "app", "plugin": "pgoutput"},
                                           "standby_a": {"type": "physical"}, "old": None}})
    assert errors == [] and warnings == []


@pytest.mark.parametrize("desired, fragment", [
    ({"ttl": 5}, "config.ttl: 5 is below the minimum 20"),
    ({"ttl": "thirty"}, "config.ttl: must be an integer"),
    ({"loop_wait": 0}, "config.loop_wait: 0 is below the minimum 1"),
    ({"retry_timeout": 2}, "config.retry_timeout: 2 is below the minimum 3"),
    ({"ttl": 20, "loop_wait": 10, "retry_timeout": 10}, "loop_wait 10 + 2 x retry_timeout 10 exceeds ttl 20"),
    ({"ttl": 25}, "exceeds ttl 25"),  # current loop_wait 10 + 2 x 10 > 25
    ({"synchronous_mode": "maybe"}, "config.synchronous_mode: must be true, false or quorum"),
    ({"failsafe_mode": "sometimes"}, "config.failsafe_mode: must be a boolean"),
    ({"maximum_lag_on_failover": -5}, "below the minimum 0"),
    ({"bogus_key": 1}, "config.bogus_key: is not a Patroni dynamic configuration key"),
    ({"postgresql": {"parameters": {"max_connections": "lots"}}}, "max_connections: 'lots' is not a number"),
    ({"postgresql": {"parameters": {"max_connections": 10}}}, "below 25, the lowest value Patroni accepts"),
    ({"postgresql": {"parameters": {"shared_buffers": "12XB"}}}, "shared_buffers: '12XB': unknown unit 'XB'"),
    ({"postgresql": {"parameters": {"shared_buffers": "256mb"}}}, "(case-sensitive)"),
    ({"postgresql": {"parameters": {"work_mem": "16kB"}}}, "work_mem: '16kB' is outside the allowed range 64..2147483647 kB"),
    ({"postgresql": {"parameters": {"hot_standby_feedback": "perhaps"}}}, "hot_standby_feedback: 'perhaps' is not a boolean"),
    ({"postgresql": {"parameters": {"synchronous_commit": "sometimes"}}}, "synchronous_commit: 'sometimes' is not one of local, remote_write"),
    ({"postgresql": {"parameters": {"wal_level": "minimal"}}}, "must be replica or logical"),
    ({"postgresql": {"parameters": {"hot_standby": "off"}}}, "must stay on"),
    ({"postgresql": {"parameters": {"listen_addresses": "*"}}}, "listen_addresses: is managed by"),
    ({"postgresql": {"parameters": {"primary_conninfo": "host=x"}}}, "is managed by Patroni"),
    ({"postgresql": {"parameters": {"block_size": 16384}}}, "is read-only"),
    ({"postgresql": {"parameters": {"checkpoint_timeout": "1h30x"}}}, "checkpoint_timeout: '1h30x' is not a number with an optional unit"),
    ({"postgresql": {"parameters": {"checkpoint_timeout": "10s"}}}, "checkpoint_timeout: '10s' is outside the allowed range 30..86400 s"),
    ({"postgresql": {"parameters": {"wal_keep_size": "8MB"}}}, "below 16MB"),
    ({"postgresql": {"use_pg_rewind": "sure"}}, "postgresql.use_pg_rewind: must be a boolean"),
    ({"postgresql": {"pg_hba": "host all all 0/0 md5"}}, "postgresql.pg_hba: must be a list of lines"),
    ({"postgresql": {"pg_hba": ["hots all all 0/0 md5"]}}, "is not a pg_hba.conf line"),
    ({"postgresql": {"shared_buffers": "1GB"}}, "postgresql.shared_buffers: is not a dynamic postgresql setting"),
    ({"slots": ["a"]}, "config.slots: must be a mapping"),
    ({"slots": {"Bad-Name": {"type": "physical"}}}, "is not a valid slot name"),
    ({"slots": {"s": {"type": "virtual"}}}, "slots.s.type: must be physical or logical"),
    ({"slots": {"s": {"type": "logical", "database": "app"}}}, "slots.s.plugin: is required for a logical slot"),
    ({"slots": {"s": {"type": "logical", "database": "app", "plugin": "pgoutput"}}},
     "config.slots.s: is a logical slot but wal_level is replica"),
])
def test_invalid_values_are_refused_with_field_and_reason(desired, fragment):
    errors = problems(desired)[0]
    assert any(fragment in e for e in errors), errors


def test_every_problem_is_reported_at_once():
    errors = problems({"ttl": 5, "loop_wait": 0, "postgresql": {"parameters": {"work_mem": "x", "fsync": 3}}})[0]
    assert len(errors) == 4


def test_unknown_parameter_is_a_warning_not_an_error():
    errors, warnings = problems({"postgresql": {"parameters": {"io_combine_limit": "128kB"}}})
    assert errors == [] and "io_combine_limit is not a PostgreSQL 15 parameter" in warnings[0]


def test_parameter_catalogue_knows_restart_context():
    assert gucs.is_restart("shared_buffers", 15) and gucs.is_restart("MAX_CONNECTIONS", 15)
    assert not gucs.is_restart("work_mem", 15) and not gucs.is_restart("unknown_thing", 15)


@pytest.mark.parametrize("name, a, b", [
    ("shared_buffers", "128MB", "131072kB"),
    ("shared_buffers", "128MB", 16384),
    ("max_connections", 150, "150"),
    ("hot_standby", "on", True),
    ("fsync", "true", "on"),
    ("checkpoint_timeout", "5min", 300),
    ("synchronous_commit", "ON", "on"),
    ("work_mem", "1GB", "1048576kB"),
])
def test_normalised_parameter_values_compare_equal(name, a, b):
    assert gucs.normalize(name, a, 15) == gucs.normalize(name, b, 15)


# =============================================================================================
# Dynamic configuration: diff
# =============================================================================================
def test_diff_with_nothing_to_change_is_empty():
    current = fx("config_initial")
    desired = {"ttl": 30, "loop_wait": "10", "postgresql": {"parameters": {
        "wal_keep_size": "131072kB", "hot_standby": True, "max_wal_senders": "10"}}}
    diff = dynconfig.config_diff(current, desired)
    assert diff["patch"] == {} and diff["changes"] == []
    assert diff["after"] == current


def test_diff_sends_only_what_changed_and_null_removes():
    current = fx("config_initial")
    desired = {"ttl": 40, "postgresql": {"parameters": {"work_mem": "16MB", "max_connections": 150,
                                                        "hot_standby": "on", "wal_keep_size": None,
                                                        "not_there": None}}}
    diff = dynconfig.config_diff(current, desired)
    assert diff["patch"] == {"ttl": 40, "postgresql": {"parameters": {
        "work_mem": "16MB", "max_connections": 150, "wal_keep_size": None}}}
    assert "wal_keep_size" not in diff["after"]["postgresql"]["parameters"]
    assert diff["after"]["postgresql"]["parameters"]["work_mem"] == "16MB"
    assert dynconfig.restart_parameters(diff["changes"]) == ["max_connections"]


def test_diff_top_level_null_and_pg_hba_replacement():
    current = fx("config_sync")
    diff = dynconfig.config_diff(current, {"synchronous_mode": None, "postgresql": {"pg_hba": ["local all all trust"]}})
    assert diff["patch"] == {"synchronous_mode": None, "postgresql": {"pg_hba": ["local all all trust"]}}
    assert "synchronous_mode" not in diff["after"]


def test_slots_managed_by_us_are_removed_others_left_alone():
    current = fx("config_with_slots")  # slots: standby_a (physical), cdc (logical)
    # earlier runs managed standby_a and cdc; the manifest now lists only cdc, and a new one
    diff = dynconfig.config_diff(current, {"slots": {"cdc": current["slots"]["cdc"], "new_one": {"type": "physical"}}},
                                 managed_slots=["standby_a", "cdc"])
    assert diff["patch"] == {"slots": {"new_one": {"type": "physical"}, "standby_a": None}}
    assert diff["managed_slots"] == ["cdc", "new_one"]
    # a slot we never managed is kept even when it is not in the manifest
    diff = dynconfig.config_diff(current, {"slots": {"new_one": {"type": "physical"}}}, managed_slots=[])
    assert diff["patch"] == {"slots": {"new_one": {"type": "physical"}}}
    assert set(diff["after"]["slots"]) == {"standby_a", "cdc", "new_one"}


def test_dropping_every_managed_slot():
    current = fx("config_with_slots")
    diff = dynconfig.config_diff(current, {"slots": {}}, managed_slots=["cdc", "standby_a", "never_there"])
    assert diff["patch"] == {"slots": {"cdc": None, "standby_a": None}}
    assert diff["managed_slots"] == []


def test_merge_patch_matches_patronis_merge():
    assert dynconfig.merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None, "e": 3}, "d": None}) == {"a": {"c": 2, "e": 3}}


# =============================================================================================
# Timestamps
# =============================================================================================
@pytest.mark.parametrize("text, expected", [
    ("2026-11-21 08:43:40.380962+00:00", datetime.datetime(2026, 11, 21, 8, 43, 40, 380962, tzinfo=UTC)),
    ("2026-11-21 08:43:40.38+00:00", datetime.datetime(2026, 11, 21, 8, 43, 40, 380000, tzinfo=UTC)),
    ("2026-11-21T08:43:40Z", datetime.datetime(2026, 11, 21, 8, 43, 40, tzinfo=UTC)),
    ("2026-11-21T10:43+02", datetime.datetime(2026, 11, 21, 8, 43, tzinfo=UTC)),
    ("2026-11-21 08:43:40", datetime.datetime(2026, 11, 21, 8, 43, 40, tzinfo=UTC)),
])
def test_parse_timestamp(text, expected):
    assert pstate.parse_timestamp(text) == expected


def test_parse_timestamp_requires_a_timezone_when_asked():
    with pytest.raises(ValueError):
        pstate.parse_timestamp("2030-01-01T10:00", assume_utc=False)
    with pytest.raises(ValueError):
        pstate.parse_timestamp("tomorrow")


# =============================================================================================
# The HTTP client, on a fake transport that serves the recorded answers
# =============================================================================================
class FakeResponse(object):
    def __init__(self, status, body):
        self.status = status
        self._body = body

    def read(self):
        return self._body

    def getcode(self):
        return self.status


class FakePatroni(object):
    """Routes ``open_url`` calls by (method, url); records every call with its keyword arguments."""

    def __init__(self, cluster="cluster_healthy", statuses=None, config="config_initial"):
        self.cluster = fx(cluster)
        self.statuses = dict((k, fx(v) if isinstance(v, str) else v) for k, v in (statuses or {}).items())
        self.config = fx(config)
        self.calls = []
        self.down = set()          # api base URLs that refuse connections
        self.timeouts = set()      # api base URLs that time out
        self.posts = {}            # (path) -> (status, body)

    def base_of(self, name):
        for m in self.cluster["members"]:
            if m["name"] == name:
                return m["api_url"].rsplit("/patroni", 1)[0]
        raise KeyError(name)

    def __call__(self, url, method="GET", data=None, **kwargs):
        self.calls.append((method, url, data, kwargs))
        scheme, rest = url.split("://", 1)
        host, path = rest.split("/", 1)
        base = scheme + "://" + host
        if base in self.down:
            raise URLError(ConnectionRefusedError(111, "Connection refused"))
        if base in self.timeouts:
            raise socket.timeout("timed out")
        path = "/" + path
        if method == "GET" and path == "/cluster":
            return self._ok(self.cluster)
        if method == "GET" and path == "/config":
            return self._ok(self.config)
        if method == "GET" and path == "/patroni":
            for m in self.cluster["members"]:
                if m["api_url"].startswith(base):
                    status = self.statuses.get(m["name"])
                    if status is None:
                        raise URLError(ConnectionRefusedError(111, "Connection refused"))
                    return self._ok(status)
        key = (method, path)
        if key in self.posts:
            status, body = self.posts[key]
            if status >= 400:
                raise HTTPError(url, status, "error", {}, io.BytesIO(body.encode()))
            return FakeResponse(status, body.encode())
        raise HTTPError(url, 404, "not found", {}, io.BytesIO(b"not found"))

    @staticmethod
    def _ok(data):
        return FakeResponse(200, json.dumps(data).encode())

    def writes(self):
        return [(c[0], c[1]) for c in self.calls if c[0] != "GET"]


def client_for(fake, seed="m2", **kwargs):
    return client.PatroniClient(fake.base_of(seed), username="admin", password="secret", opener=fake,
                                sleep=lambda s: None, **kwargs)


def test_client_sends_basic_auth_tls_options_and_no_proxy():
    fake = FakePatroni()
    c = client.PatroniClient(fake.base_of("m1") + "/patroni", username="admin", password="secret", ca_cert="/ca.pem",
                             validate_certs=False, timeout=2.5, opener=fake)
    c.get_cluster()
    url, kw = fake.calls[0][1], fake.calls[0][3]
    assert url == fake.base_of("m1") + "/cluster"
    assert kw["url_username"] == "admin" and kw["url_password"] == "secret" and kw["force_basic_auth"]
    assert kw["ca_path"] == "/ca.pem" and kw["validate_certs"] is False and kw["timeout"] == 2.5
    assert kw["use_proxy"] is False


def test_client_rejects_a_non_http_url():
    with pytest.raises(PatroniError) as err:
        client.PatroniClient("10.0.0.5:8008")
    assert "is not an http(s) URL" in err.value.msg


def test_get_retries_connection_errors_and_falls_back_to_other_members():
    fake = FakePatroni()
    c = client_for(fake)
    c.get_cluster()                     # learns every member's URL
    fake.down.add(fake.base_of("m2"))   # the configured member goes away
    assert c.get_cluster()["scope"] == "rec"
    assert c.seeds[0] != fake.base_of("m2")


def test_no_member_answers_is_one_clear_error():
    fake = FakePatroni()
    fake.down.add(fake.base_of("m2"))
    with pytest.raises(PatroniError) as err:
        client_for(fake, retries=2).get_cluster()
    assert err.value.msg.startswith("no Patroni REST API answered GET /cluster")
    assert len([c for c in fake.calls if c[1].endswith("/cluster")]) == 3  # 1 + 2 retries


def test_http_errors_are_answers_not_retried():
    fake = FakePatroni()
    fake.posts[("POST", "/switchover")] = (412, "candidate does not exists")
    resp = client_for(fake).switchover("m1", "zz")
    assert (resp.status, resp.answer) == (412, "candidate does not exists")
    assert len([c for c in fake.calls if c[0] == "POST"]) == 1


def test_post_is_not_resent_after_a_timeout_but_is_after_a_refusal():
    fake = FakePatroni()
    c = client_for(fake, retries=3)
    fake.timeouts.add(fake.base_of("m1"))
    with pytest.raises(client.Unreachable):
        c.request("POST", fake.base_of("m1") + "/restart", body={})
    assert len([x for x in fake.calls if x[0] == "POST"]) == 1
    fake.timeouts.clear()
    fake.down.add(fake.base_of("m1"))
    with pytest.raises(client.Unreachable):
        c.request("POST", fake.base_of("m1") + "/restart", body={})
    assert len([x for x in fake.calls if x[0] == "POST"]) == 1 + 4


def test_every_member_call_re_resolves_the_member_from_the_cluster():
    fake = FakePatroni(statuses={"m1": "patroni_primary"})
    c = client_for(fake)
    c.member_status("m1")
    fake.cluster["members"][0]["api_url"] = "http://127.0.0.1:1/patroni"  # m1 moved
    fake.down.add("http://127.0.0.1:1")
    assert c.member_status("m1") is None
    urls = [c[1] for c in fake.calls]
    assert urls[-2].endswith("/cluster") and urls[-1] == "http://127.0.0.1:1/patroni"


def test_html_error_pages_become_one_line():
    body = fx("answers")["failover_no_candidate"]["body"]
    assert client.Response(400, body, "u", "POST").answer == "Bad Request."


# =============================================================================================
# Operations on the fake transport: check mode and refusals send nothing
# =============================================================================================
def healthy_fake():
    return FakePatroni("cluster_healthy", {"m1": "patroni_primary", "m2": "patroni_replica",
                                           "m3": "patroni_replica"}, "config_initial")


def test_switchover_check_mode_sends_nothing():
    fake = healthy_fake()
    op = operations.Switchover(client_for(fake), check_mode=True)
    result = op.run(candidate="m3")
    assert result["changed"] is True and result["leader"] == "m3"
    assert op.actions[0]["status"] == "planned"
    assert fake.writes() == []


def test_switchover_to_the_current_leader_is_a_no_op():
    fake = healthy_fake()
    result = operations.Switchover(client_for(fake)).run(candidate="m1")
    assert result["changed"] is False and "already the leader" in result["msg"]
    assert fake.writes() == []


def test_switchover_away_from_a_member_that_no_longer_leads_is_a_no_op():
    fake = healthy_fake()
    result = operations.Switchover(client_for(fake)).run(leader="m2")
    assert result["changed"] is False and fake.writes() == []


def test_refused_candidate_sends_nothing():
    fake = FakePatroni("cluster_lagging", {"m2": "patroni_primary_when_lagging", "m3": "patroni_replica_lagging",
                                           "m1": "patroni_replica"}, "config_initial")
    with pytest.raises(pstate.NoCandidate) as err:
        operations.Switchover(client_for(fake)).run(candidate="m3", candidate_timeout=0)
    assert "lags 21350872 bytes" in err.value.msg and fake.writes() == []


def test_patroni_refusal_reports_answer_and_untouched_cluster():
    fake = healthy_fake()
    fake.posts[("POST", "/switchover")] = (503, "Switchover failed")
    with pytest.raises(PatroniError) as err:
        operations.Switchover(client_for(fake)).run(candidate="m2")
    assert err.value.msg == ("Patroni refused the switchover from m1 to m2 (HTTP 503: Switchover failed); "
                             "the cluster is untouched (m1 is still the leader)")
    assert err.value.context["status"] == 503 and err.value.context["answer"] == "Switchover failed"
    assert fake.writes() == [("POST", fake.base_of("m1") + "/switchover")]  # sent to the leader's own API


def test_single_member_cluster_never_switches():
    fake = healthy_fake()
    fake.cluster["members"] = fake.cluster["members"][:1]
    op = operations.Switchover(client_for(fake, seed="m1"))
    result = op.run()
    assert result["changed"] is False and op.warnings and fake.writes() == []


def test_paused_cluster_needs_a_named_candidate():
    fake = healthy_fake()
    fake.cluster["pause"] = True
    with pytest.raises(PatroniError) as err:
        operations.Switchover(client_for(fake)).run()
    assert "paused" in err.value.msg and fake.writes() == []


def test_outside_the_window_the_switchover_is_scheduled_at_the_next_window():
    fake = healthy_fake()
    fake.posts[("POST", "/switchover")] = (202, "Switchover scheduled")
    op = operations.Switchover(client_for(fake))
    result = op.run(candidate="m2", windows=["Sat:01:00-05:00"], now="2030-01-01T12:00:00Z")
    assert result["deferred_to_window"] is True
    assert result["scheduled_at"] == "2030-01-05T01:00:00+00:00"
    body = json.loads([c for c in fake.calls if c[0] == "POST"][0][2])
    assert body == {"leader": "m1", "candidate": "m2", "scheduled_at": "2030-01-05T01:00:00+00:00"}


def test_same_scheduled_switchover_twice_is_a_no_op():
    fake = FakePatroni("cluster_scheduled_switchover", {}, "config_initial")
    result = operations.Switchover(client_for(fake)).run(candidate="m3", scheduled_at="2030-01-01T10:00:00+00:00",
                                                         now="2029-12-31T00:00:00Z")
    assert result["changed"] is False and fake.writes() == []


def test_failover_is_refused_while_a_leader_runs():
    fake = healthy_fake()
    with pytest.raises(PatroniError) as err:
        operations.Switchover(client_for(fake)).run(mode="failover", candidate="m2")
    assert "use mode=switchover" in err.value.msg and fake.writes() == []


def test_rolling_restart_check_mode_returns_the_plan_and_sends_nothing():
    fake = FakePatroni("cluster_pending_restart", {"m1": "patroni_primary_pending_restart",
                                                   "m2": "patroni_replica_pending_restart",
                                                   "m3": "patroni_replica_pending_restart"}, "config_initial")
    op = operations.RollingRestart(client_for(fake), check_mode=True)
    result = op.run()
    assert result["changed"] is True
    planned = [(a["member"], a["action"]) for a in op.actions]
    assert planned == [("m2", "restart"), ("m3", "restart"), ("m1", "switchover")]
    assert fake.writes() == []


def test_rolling_restart_outside_the_window_does_nothing():
    fake = FakePatroni("cluster_pending_restart", {"m1": "patroni_primary_pending_restart"}, "config_initial")
    result = operations.RollingRestart(client_for(fake)).run(windows=["Sat:01:00-05:00"], now="2030-01-01T12:00:00Z")
    assert result["changed"] is False and result["deferred"] is True
    assert result["next_window"] == "2030-01-05T01:00:00+00:00" and fake.writes() == []


def test_rolling_restart_stops_naming_an_unreachable_member():
    statuses = {"m1": "patroni_primary_pending_restart", "m2": "patroni_replica_pending_restart", "m3": None}
    fake = FakePatroni("cluster_pending_restart", statuses, "config_initial")
    op = operations.RollingRestart(client_for(fake))
    with pytest.raises(PatroniError) as err:
        op.run()
    assert err.value.msg.startswith("stopped before restarting m2: member m3 is not healthy (its REST API at ")
    assert err.value.context["member"] == "m3"
    assert fake.writes() == []


def test_config_invalid_values_are_refused_before_any_patch():
    fake = healthy_fake()
    op = operations.ConfigSync(client_for(fake))
    with pytest.raises(PatroniError) as err:
        op.run({"ttl": 5, "postgresql": {"parameters": {"max_connections": "lots"}}})
    assert err.value.msg.startswith("invalid dynamic configuration, nothing was sent to Patroni (2 problems): ")
    assert "config.ttl" in err.value.msg and "config.postgresql.parameters.max_connections" in err.value.msg
    assert fake.writes() == []


def test_config_check_mode_plans_the_patch():
    fake = healthy_fake()
    op = operations.ConfigSync(client_for(fake), check_mode=True)
    result = op.run({"postgresql": {"parameters": {"max_connections": 200, "work_mem": "8MB"}}})
    assert result["changed"] is True
    assert result["patch"] == {"postgresql": {"parameters": {"max_connections": 200, "work_mem": "8MB"}}}
    assert result["restart_parameters"] == ["max_connections"]
    assert fake.writes() == []


def test_config_without_changes_sends_nothing():
    fake = healthy_fake()
    result = operations.ConfigSync(client_for(fake)).run(copy.deepcopy(fx("config_initial")))
    assert result["changed"] is False and result["patch"] == {} and fake.writes() == []


def test_values_below_patroni_minimums_are_left_out_with_a_warning():
    """The reference complete manifest sets max_connections "10": Patroni would keep its default,
    so the value is not sent and the rest of the configuration still converges."""
    desired = {"ttl": 30, "postgresql": {"parameters": {"max_connections": "10", "log_statement": "all"}}}
    kept, warnings = dynconfig.drop_below_patroni_minimums(desired)
    assert kept["postgresql"]["parameters"] == {"log_statement": "all"}
    assert kept["ttl"] == 30
    assert len(warnings) == 1 and "max_connections" in warnings[0] and "25" in warnings[0]
    assert desired["postgresql"]["parameters"]["max_connections"] == "10"  # input untouched
    same, none = dynconfig.drop_below_patroni_minimums({"postgresql": {"parameters": {"max_connections": "100"}}})
    assert none == [] and same["postgresql"]["parameters"] == {"max_connections": "100"}


def test_invalid_skip_sends_the_rest_and_names_what_was_left_out():
    """One call does what the reconcile did in two: the refused parts stay out, the rest is sent."""
    fake = healthy_fake()
    desired = {"ttl": 5, "loop_wait": 10,
               "postgresql": {"parameters": {"max_connections": "lots", "work_mem": "8MB"}, "pg_hba": ["nonsense"]},
               "slots": {"Bad-Name": {"type": "physical"}, "good": {"type": "physical"}}}
    op = operations.ConfigSync(client_for(fake), check_mode=True)
    result = op.run(copy.deepcopy(desired), invalid="skip")
    fields = sorted(r["field"] for r in result["rejected"])
    assert fields == ["config.postgresql.parameters.max_connections", "config.postgresql.pg_hba[0]",
                      "config.slots.Bad-Name", "config.ttl"]
    assert result["patch"]["postgresql"] == {"parameters": {"work_mem": "8MB"}}
    assert result["patch"]["slots"] == {"good": {"type": "physical"}}
    assert "ttl" not in result["patch"] and result["changed"] is True
    assert result["error"].startswith("not sent to Patroni, which would ignore them: config.")
    assert "config.ttl" in result["error"] and "max_connections" in result["error"]
    assert [a["patch"] for a in op.actions] == [result["patch"]] and fake.writes() == []
    assert result["events"] == [{"reason": "PatroniConfig", "type": "Normal", "message": "Patroni dynamic configuration "
                                 "changed: postgresql.parameters.work_mem, slots.good"}]


def test_invalid_skip_with_everything_valid_reports_nothing():
    fake = healthy_fake()
    result = operations.ConfigSync(client_for(fake), check_mode=True).run(
        {"postgresql": {"parameters": {"work_mem": "8MB"}}}, invalid="skip")
    assert result["rejected"] == [] and result["error"] == "" and fake.writes() == []
    assert [e["reason"] for e in result["events"]] == ["PatroniConfig"]


def test_split_refused_drops_the_timing_keys_when_the_ttl_rule_fails_on_live_values():
    current = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
    kept, refused, _warnings = dynconfig.split_refused({"retry_timeout": 15, "maximum_lag_on_failover": 1}, current)
    assert kept == {"maximum_lag_on_failover": 1}
    assert [e.field for e in refused] == ["config.ttl"]


def test_rejected_sentence_is_never_a_template():
    err = dynconfig.ManifestError("config.postgresql.parameters.x", "%r is odd" % "{{ lookup('pipe','id') }}")
    text = operations._rejected_sentence([err])
    assert "{{" not in text and "}}" not in text


def _promote_after_post(fake, new_leader, old_leader="m1"):
    """After the POST /switchover, ``new_leader`` answers as the primary and ``old_leader`` as a replica."""
    real = fake.__call__

    def opener(url, method="GET", data=None, **kwargs):
        answer = real(url, method=method, data=data, **kwargs)
        if method == "POST" and url.endswith("/switchover"):
            primary = fake.statuses[old_leader]
            fake.statuses[old_leader] = fake.statuses[new_leader]
            fake.statuses[new_leader] = primary
        return answer
    return opener


def test_named_candidate_replaced_by_another_member_is_a_failure_naming_the_leader():
    fake = healthy_fake()
    fake.posts[("POST", "/switchover")] = (200, 'Switched over to "m2" instead of "m3"')
    c = client.PatroniClient(fake.base_of("m2"), username="admin", password="secret",
                             opener=_promote_after_post(fake, "m2"), sleep=lambda s: None)
    op = operations.Switchover(c)
    with pytest.raises(PatroniError) as err:
        op.run(candidate="m3", wait_streaming=False, timeout=1)
    assert err.value.msg == ("switchover to m3 failed: Patroni promoted m2 instead (m3 did not take over); "
                             "m2 is the leader now")
    assert err.value.context["leader"] == "m2" and err.value.context["candidate"] == "m3"
    assert [(a["action"], a["to"], a["status"]) for a in op.actions] == [("switchover", "m2", "failed")]


def test_chosen_candidate_replaced_by_another_member_is_a_warning():
    """Without a named candidate any healthy member will do: Patroni's choice is reported, not refused."""
    fake = healthy_fake()
    c = client.PatroniClient(fake.base_of("m2"), username="admin", password="secret",
                             opener=_promote_after_post(fake, "m3"), sleep=lambda s: None)
    op = operations.Switchover(c)
    state = c.read_state()
    chosen = pstate.choose_candidate(state).name
    other = "m3" if chosen == "m2" else "m2"
    c._open = _promote_after_post(fake, other)
    fake.posts[("POST", "/switchover")] = (200, 'Switched over to "%s" instead of "%s"' % (other, chosen))
    result = op.run(wait_streaming=False, timeout=1)
    assert result["leader"] == other and result["changed"] is True
    assert op.warnings == ["Patroni switched over to %s instead of %s" % (other, chosen)]


class Clock(object):
    """A monotonic clock that only moves when the code sleeps."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_stops_within_seconds_when_the_member_left_the_dcs():
    fake = healthy_fake()
    clock = Clock()
    c = client.PatroniClient(fake.base_of("m2"), opener=fake, sleep=clock.sleep, monotonic=clock.monotonic)
    fake.cluster["members"] = [m for m in fake.cluster["members"] if m["name"] != "m3"]
    with pytest.raises(client.MemberLeft) as err:
        c.wait_member("m3", lambda status: False, timeout=600, what="a streaming replica")
    assert err.value.msg.startswith("member m3 left cluster rec (it is no longer in the DCS")
    assert clock.now < 600 and clock.now >= client.LEFT_CONFIRM


def test_wait_for_an_unreachable_member_still_in_the_dcs_runs_to_its_timeout():
    fake = healthy_fake()
    fake.down.add(fake.base_of("m3"))
    clock = Clock()
    c = client.PatroniClient(fake.base_of("m2"), opener=fake, sleep=clock.sleep, monotonic=clock.monotonic)
    with pytest.raises(PatroniError) as err:
        c.wait_member("m3", lambda status: False, timeout=30, what="a streaming replica")
    assert not isinstance(err.value, client.MemberLeft)
    assert "did not become a streaming replica within 30s" in err.value.msg


def test_restart_failure_reports_what_was_sent_and_when_it_started():
    fake = healthy_fake()
    fake.statuses["m2"] = dict(fake.statuses["m2"], pending_restart=True)
    fake.cluster = copy.deepcopy(fake.cluster)
    fake.posts[("POST", "/restart")] = (200, "restarted successfully")
    clock = Clock()
    c = client.PatroniClient(fake.base_of("m1"), opener=fake, sleep=clock.sleep, monotonic=clock.monotonic)
    op = operations.RollingRestart(c)
    real = fake.__call__

    def opener(url, method="GET", data=None, **kwargs):
        answer = real(url, method=method, data=data, **kwargs)
        if method == "POST" and url.endswith("/restart"):  # m2's Patroni stops right after the request
            fake.cluster["members"] = [m for m in fake.cluster["members"] if m["name"] != "m2"]
        return answer
    c._open = opener
    with pytest.raises(PatroniError) as err:
        op.run(timeout=600)
    assert "member m2 left cluster rec" in err.value.msg
    report = op.report()
    assert report["changed"] is True and op.started_at is not None and report["started_at"] == op.started_at
    assert [(a["action"], a["member"], a["status"]) for a in report["actions"]] == [("restart", "m2", "sent")]
    assert dict((m["member"], m["status"]) for m in report["members"])["m2"] == "failed"


def test_expected_member_missing_from_the_dcs_is_a_warning():
    fake = healthy_fake()
    op = operations.RollingRestart(client_for(fake))
    result = op.run(expected_members=["m1", "m2", "m3", "m4"])
    assert result["missing"] == ["m4"] and result["msg"] == "no member needs a restart"
    assert op.warnings == ["member m4 is not in cluster rec (no member key in the DCS: its Patroni is not running), "
                           "so it was not restarted; start it and rerun"]
