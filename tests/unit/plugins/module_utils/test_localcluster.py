# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Pure parts of the local target: patroni.yml rendering from a model, and the member table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.tests.harness import FAST_PATRONI, cluster_manifest

MANIFEST = cluster_manifest(
    "acid-unit",
    version="18",
    parameters={
        "shared_buffers": "32MB",
        "max_connections": "50",
        "log_statement": "all",
        "shared_preload_libraries": "bg_mon,pg_stat_statements,pgextwlist",
        "bg_mon.history_buckets": "120",
        "io_method": "worker",
        "port": "6543",
    },
    patroni=dict(
        FAST_PATRONI,
        maximum_lag_on_failover=1048576,
        synchronous_mode=True,
        failsafe_mode=True,
        initdb={"encoding": "UTF8", "locale": "en_US.UTF-8", "data-checksums": "true"},
        pg_hba=["hostssl all all 0.0.0.0/0 md5", "host all all 0.0.0.0/0 md5"],
        slots={"permanent_physical_1": {"type": "physical"}},
    ),
    users={"zalando": ["superuser", "createdb"]},
)

FACTS = {
    "locales": ["C", "C.utf8", "POSIX"],
    "gucs": {"shared_buffers", "max_connections", "log_statement", "shared_preload_libraries"},
    "libraries": {"pg_stat_statements", "auto_explain"},
    "pg_bin_dir": "/usr/lib/postgresql/15/bin",
    "pg_major": "15",
    "etcd_bin": "/usr/bin/etcd",
}

LAYOUT = {
    "state_dir": "/srv/pgf/acid-unit",
    "socket_dir": "/srv/pgf/acid-unit/run",
    "etcd": {"client_port": 40001, "peer_port": 40002},
    "members": {
        "acid-unit-0": {"pg_port": 41000, "api_port": 42000},
        "acid-unit-1": {"pg_port": 41001, "api_port": 42001},
        "acid-unit-2": {"pg_port": 41002, "api_port": 42002},
    },
}


@pytest.fixture(scope="module")
def built():
    model, conf = lc.model_from_manifest(copy.deepcopy(MANIFEST))
    creds = lc.credentials_from_model(model)
    rendered = lc.render_cluster(model, conf, LAYOUT, creds, FACTS)
    return {"model": model, "conf": conf, "creds": creds, "rendered": rendered}


def test_one_config_per_member(built):
    rendered = built["rendered"]
    assert sorted(rendered["members"]) == ["acid-unit-0", "acid-unit-1", "acid-unit-2"]
    cfg = rendered["members"]["acid-unit-1"]
    assert cfg["scope"] == "acid-unit"
    assert cfg["name"] == "acid-unit-1"
    # etcd authenticates: Patroni logs in as the patroni user, never as etcd's root
    patroni_user = built["creds"]["etcd"]["patroni"]
    assert cfg["etcd3"] == {"hosts": ["127.0.0.1:40001"], "username": "patroni",
                            "password": patroni_user["password"]}
    assert built["creds"]["etcd"]["root"]["password"] != patroni_user["password"]
    assert "etcd" not in cfg  # the v2 API is off in Debian's etcd 3.4
    argv = rendered["etcd"]
    for flag in ("--listen-client-urls", "--listen-peer-urls"):
        assert argv[argv.index(flag) + 1].startswith("http://127.0.0.1:")  # loopback only
    assert cfg["restapi"]["listen"] == cfg["restapi"]["connect_address"] == "127.0.0.1:42001"
    assert cfg["postgresql"]["listen"] == cfg["postgresql"]["connect_address"] == "127.0.0.1:41001"
    assert cfg["postgresql"]["data_dir"] == "/srv/pgf/acid-unit/acid-unit-1/data"
    assert cfg["postgresql"]["bin_dir"] == "/usr/lib/postgresql/15/bin"


def test_bootstrap_dcs_from_spilo_configuration(built):
    conf, rendered = built["conf"], built["rendered"]
    dcs = rendered["members"]["acid-unit-0"]["bootstrap"]["dcs"]
    want = conf["bootstrap"]["dcs"]
    for key in ("ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_mode", "failsafe_mode", "slots"):
        assert dcs[key] == want[key], key
    assert dcs["ttl"] == 20 and dcs["loop_wait"] == 2 and dcs["synchronous_mode"] is True
    params = dcs["postgresql"]["parameters"]
    assert params["max_connections"] == "50"
    assert params["log_statement"] == "all"
    assert "io_method" not in params  # PostgreSQL 15 does not know it
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["use_slots"] is True


def test_local_parameters_and_spilo_only_ones(built):
    rendered = built["rendered"]
    params = rendered["members"]["acid-unit-0"]["postgresql"]["parameters"]
    assert params["shared_buffers"] == "32MB"
    assert params["shared_preload_libraries"] == "pg_stat_statements"  # bg_mon, pgextwlist missing here
    assert not any(k.startswith("bg_mon.") for k in params)
    assert params["unix_socket_directories"] == "/srv/pgf/acid-unit/run"
    assert "port" not in params
    warnings = "\n".join(rendered["warnings"])
    for needle in ("bg_mon.history_buckets", "bg_mon, pgextwlist", "io_method", ".port", "version: 18", "en_US.UTF-8"):
        assert needle in warnings, needle


def test_initdb_falls_back_to_c_utf8(built):
    rendered = built["rendered"]
    initdb = rendered["members"]["acid-unit-0"]["bootstrap"]["initdb"]
    assert {"locale": "C.UTF-8"} in initdb
    assert {"encoding": "UTF8"} in initdb
    assert "data-checksums" in initdb
    assert {"auth-host": "scram-sha-256"} in initdb


def test_installed_locale_is_kept():
    initdb, warnings = lc.initdb_options([{"locale": "en_US.UTF-8"}, {"lc-collate": "de_DE.UTF-8"}],
                                         ["C.utf8", "en_US.utf8"])
    assert initdb == [{"locale": "en_US.UTF-8"}, {"lc-collate": "C.UTF-8"}]
    assert len(warnings) == 1 and "lc-collate" in warnings[0]
    assert lc.initdb_options([{"locale": "C"}], ["C.utf8"]) == ([{"locale": "C"}], [])
    assert lc.initdb_options([{"locale": "xx"}], None) == ([{"locale": "xx"}], [])


def test_pg_hba_puts_patroni_lines_first(built):
    creds, rendered = built["creds"], built["rendered"]
    hba = rendered["members"]["acid-unit-0"]["postgresql"]["pg_hba"]
    repl = "host replication %s 127.0.0.1/32 scram-sha-256" % creds["replication"]["username"]
    rewind = "host all %s 127.0.0.1/32 scram-sha-256" % creds["superuser"]["username"]
    assert hba.index(repl) < hba.index("hostssl all all 0.0.0.0/0 md5")
    assert hba.index(rewind) < hba.index("host all all 0.0.0.0/0 md5")
    assert any("hostssl" in w and "cannot match" in w for w in rendered["warnings"])


def test_pg_hba_default_without_manifest_lines():
    lines, warnings = lc.pg_hba_lines([], "postgres", "standby")
    assert "host replication standby 127.0.0.1/32 scram-sha-256" in lines
    assert "host all all 127.0.0.1/32 scram-sha-256" in lines
    assert warnings == []


def test_credentials_come_from_the_model_secrets(built):
    model, creds, rendered = built["model"], built["creds"], built["rendered"]
    by_user = dict((s["username"], s["password"]) for s in model["secrets"])
    auth = rendered["members"]["acid-unit-2"]["postgresql"]["authentication"]
    assert auth["superuser"] == {"username": "postgres", "password": by_user["postgres"]}
    assert auth["replication"] == {"username": "standby", "password": by_user["standby"]}
    assert creds["restapi"]["username"] == "patroni" and len(creds["restapi"]["password"]) >= 32
    assert rendered["members"]["acid-unit-2"]["restapi"]["authentication"] == creds["restapi"]
    # every credential secret is kept, so a rerun can hand them back as existing_secrets
    assert set(creds["secrets"]) == set(s["name"] for s in model["secrets"])


def test_rerun_keeps_passwords(built):
    creds = built["creds"]
    again = lc.model_from_manifest(copy.deepcopy(MANIFEST), None, lc.existing_secrets({"credentials": creds}))[0]
    creds2 = lc.credentials_from_model(again, creds)
    assert creds2 == creds


def test_rendering_is_deterministic(built):
    model, conf, creds, rendered = built["model"], built["conf"], built["creds"], built["rendered"]
    again = lc.render_cluster(model, conf, LAYOUT, creds, FACTS)
    assert json.dumps(again, sort_keys=True) == json.dumps(rendered, sort_keys=True)


def test_etcd_command_line(built):
    rendered = built["rendered"]
    argv = rendered["etcd"]
    assert argv[0] == "/usr/bin/etcd"
    joined = " ".join(argv)
    assert "--listen-client-urls http://127.0.0.1:40001" in joined
    assert "--listen-peer-urls http://127.0.0.1:40002" in joined
    assert "--data-dir /srv/pgf/acid-unit/etcd" in joined
    assert ":2379" not in joined and ":2380" not in joined


def test_filter_parameters_without_host_facts_keeps_unknown_names():
    kept, warnings = lc.filter_parameters({"io_method": "worker", "extwlist.extensions": "x"}, "p")
    assert kept == {"io_method": "worker"}
    assert len(warnings) == 1


def test_filter_drops_empty_preload_list():
    kept, warnings = lc.filter_parameters({"shared_preload_libraries": "bg_mon"}, "p", None, set())
    assert kept == {}
    assert "bg_mon" in warnings[0]


def test_zero_instances_refused():
    model, conf = lc.model_from_manifest(dict(copy.deepcopy(MANIFEST), spec=dict(MANIFEST["spec"], numberOfInstances=0)))
    cluster = lc.LocalCluster.__new__(lc.LocalCluster)
    cluster.name, cluster.state_dir = model["name"], "/nonexistent/pgf"
    cluster.state_file = "/nonexistent/pgf/state.json"
    with pytest.raises(ManifestError) as err:
        cluster.plan_present(model, conf, facts=FACTS)
    assert "numberOfInstances" in err.value.msg


def test_dsn_has_no_password():
    dsn = lc.multi_host_dsn([5001, 5002], "postgres")
    assert dsn.startswith("host=127.0.0.1,127.0.0.1 port=5001,5002 user=postgres dbname=postgres")
    assert "target_session_attrs=read-write" in dsn
    assert "password" not in dsn


# --- member table from recorded Patroni 4.1.5 GET /patroni answers ----------------------------
LEADER = {"state": "running", "role": "primary", "timeline": 2, "xlog": {"location": 67109000},
          "server_version": 150018, "patroni": {"version": "4.1.5", "name": "m0"}}
STREAMING = {"state": "running", "role": "replica", "timeline": 2, "replication_state": "streaming",
             "xlog": {"received_location": 67108864, "replayed_location": 67108800, "paused": False}}
STARTING = dict(STREAMING, state="starting")
PENDING = dict(STREAMING, pending_restart=True, pending_restart_reason={"max_connections": {"old_value": "100", "new_value": "50"}})


def test_member_rows_and_lag():
    rows = lc.member_rows({"m0": LEADER, "m1": STREAMING, "m2": None})
    assert rows[0] == {"member": "m0", "role": "leader", "state": "running", "lag": 0, "timeline": 2,
                       "pending_restart": False, "pending_restart_reason": None}
    assert rows[1]["role"] == "replica" and rows[1]["state"] == "streaming" and rows[1]["lag"] == 136
    assert rows[2]["state"] == "unreachable" and rows[2]["lag"] is None


def test_sync_standby_from_the_leaders_replication_list():
    leader = dict(LEADER, replication=[{"application_name": "m1", "state": "streaming", "sync_state": "sync"},
                                       {"application_name": "m2", "state": "streaming", "sync_state": "async"}])
    rows = lc.member_rows({"m0": leader, "m1": STREAMING, "m2": STREAMING})
    assert [r["role"] for r in rows] == ["leader", "sync_standby", "replica"]
    assert lc.health({"m0": leader, "m1": STREAMING, "m2": STREAMING}, 3)[0]


def test_health():
    assert lc.health({"m0": LEADER, "m1": STREAMING}, 2) == (True, "m0", [])
    ok, leader, problems = lc.health({"m0": LEADER, "m1": STARTING, "m2": None}, 3)
    assert not ok and leader == "m0"
    assert any("m1" in p for p in problems) and any("m2" in p and "unreachable" in p for p in problems)
    ok, leader, problems = lc.health({"m0": STREAMING, "m1": STREAMING}, 2)
    assert not ok and leader is None and "0 leaders running" in problems


def test_format_table_shows_pending_restart():
    lines = lc.format_table(lc.member_rows({"m0": LEADER, "m1": PENDING}))
    assert lines[0].split() == ["Member", "Role", "State", "Lag", "(bytes)", "TL", "Pending", "restart"]
    assert lines[1].startswith("--")
    assert lines[3].startswith("m1") and "yes (max_connections)" in lines[3]


def test_team_admin_role_is_created_like_spilo_does(built):
    model = built["model"]
    extra = lc.spilo_bootstrap_roles(model)
    assert [r["name"] for r in extra] == ["admin"]
    assert extra[0]["flags"] == ["CREATEDB"] and extra[0]["password"] is None
    with_admin = dict(model, roles=list(model["roles"]) + extra)
    assert lc.spilo_bootstrap_roles(with_admin) == []


@pytest.mark.parametrize("name", ["minimal-postgres-manifest.yaml", "complete-postgres-manifest.yaml"])
def test_reference_manifests_render(name):
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", name)
    if not os.path.exists(path):
        pytest.skip("examples/%s not in this tree" % name)
    cr = lc.load_manifest_file(path)
    model, conf = lc.model_from_manifest(cr)
    layout = {"state_dir": "/s", "socket_dir": "/s/run", "etcd": {"client_port": 1, "peer_port": 2},
              "members": dict(("%s-%d" % (model["name"], i), {"pg_port": 10 + i, "api_port": 20 + i})
                              for i in range(model["instances"]))}
    rendered = lc.render_cluster(model, conf, layout, lc.credentials_from_model(model), FACTS)
    assert len(rendered["members"]) == model["instances"] == 2
    assert any("version: 18" in w for w in rendered["warnings"])


def test_load_manifest_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ConfigMap\ndata: {}\n---\nkind: Secret\n")
    with pytest.raises(ManifestError) as err:
        lc.load_manifest_file(str(bad))
    assert "none is of kind postgresql" in err.value.msg  # the collection's safe loader says it so
    with pytest.raises(ManifestError):
        lc.load_manifest_file(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("content, words", [
    (b"kind: postgresql\nmetadata: {name: acid-\xff\xfe}\n", "UTF-8"),
    (b"kind: postgresql\nspec: {numberOfInstances: 1}\nspec: {numberOfInstances: 7}\n", "spec"),
    (b"- a\n- b\n", "not a mapping"),
    (b"", "empty"),
])
def test_a_bad_manifest_file_is_a_clear_error_not_a_crash(tmp_path, content, words):
    if words == "spec" and not os.path.exists(os.path.join(os.path.dirname(lc.__file__), "..", "model", "loader.py")):
        pytest.skip("the collection's safe loader (model/loader.py) refuses duplicate keys; not in this tree")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    with pytest.raises(ManifestError) as err:
        lc.load_manifest_file(str(bad))
    assert err.value.msg.startswith("manifest_file: ")
    assert words in err.value.msg


def test_more_members_than_the_machine_can_run_are_refused_before_anything():
    with pytest.raises(ManifestError) as err:
        lc.member_limit(1000000000)
    assert "at most %d" % lc.MAX_MEMBERS in err.value.msg and "spec.numberOfInstances" in err.value.msg
    with pytest.raises(ManifestError) as err:
        lc.member_limit(10 ** 19)
    assert len(err.value.msg) < 400  # a 20-digit number is cut, not echoed whole
    # memory: 2 GB shared_buffers each on a machine with 4 GB available fits 1 member
    with pytest.raises(ManifestError) as err:
        lc.member_limit(3, {"shared_buffers": "2GB"}, mem_available_mb=4096)
    assert "at most 1" in err.value.msg and "4096 MB available" in err.value.msg
    assert lc.member_limit(3, {"shared_buffers": "128MB"}, mem_available_mb=4096) == lc.MAX_MEMBERS
    assert lc.member_limit(2, {"shared_buffers": "16384"}, mem_available_mb=1000) == 4  # 8 kB pages


def test_plan_refuses_a_huge_cluster_without_allocating(tmp_path):
    model, conf = lc.model_from_manifest(dict(copy.deepcopy(MANIFEST), spec=dict(MANIFEST["spec"], numberOfInstances=2)))
    model["instances"] = 1000000000
    cluster = lc.LocalCluster(model["name"], state_root=str(tmp_path))
    with pytest.raises(ManifestError):
        cluster.plan_present(model, conf, facts=FACTS)
    assert list(tmp_path.iterdir()) == []


def test_log_statement_all_warns_that_verifiers_reach_the_log():
    manifest = copy.deepcopy(MANIFEST)
    manifest["spec"]["postgresql"].setdefault("parameters", {})["log_statement"] = "all"
    model, conf = lc.model_from_manifest(manifest)
    rendered = lc.render_cluster(model, conf, LAYOUT, lc.credentials_from_model(model), FACTS)
    assert any("log_statement" in w and "SCRAM" in w for w in rendered["warnings"])


def test_unreachable_ancestor(tmp_path):
    import os
    import pwd

    stranger = pwd.struct_passwd(("nobody-test", "x", 54321, 54321, "", "/nonexistent", "/bin/false"))
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    os.chmod(str(closed), 0o700)
    blocked = lc.unreachable_ancestor(str(closed / "cluster"), stranger)
    assert blocked is not None and str(closed).startswith(blocked)
    os.chmod(str(tmp_path), 0o755)
    root = pwd.struct_passwd(("root", "x", 0, 0, "", "/root", "/bin/sh"))
    assert lc.unreachable_ancestor(str(closed / "cluster"), root) is None


def test_extensions_the_local_build_lacks_are_left_out_with_a_warning():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import sql

    prepared = [{"name": "bar", "extensions": {"pgcrypto": "public", "pg_partman": "public", "vector": "data"}}]
    kept, warnings = sql.available_only(copy.deepcopy(prepared), {"vector", "plpgsql"})
    assert kept[0]["extensions"] == {"vector": "data"}
    assert [w.split(":")[0] for w in warnings] == ["spec.preparedDatabases.bar.extensions.pg_partman",
                                                   "spec.preparedDatabases.bar.extensions.pgcrypto"]
    assert sql.available_only(copy.deepcopy(prepared), None) == (prepared, [])  # unknown: nothing dropped


@pytest.mark.parametrize("annotations, config, field", [
    ({"pgfleet.io/password-rotation-grace": "soon"}, None, "metadata.annotations.pgfleet.io/password-rotation-grace"),
    ({"pgfleet.io/password-rotation": "maybe"}, None, "metadata.annotations.pgfleet.io/password-rotation"),
    ({}, {"password_rotation_interval": "0"}, "config.password_rotation_interval"),
])
def test_a_rotation_setting_that_cannot_be_used_is_refused_before_anything_starts(annotations, config, field):
    manifest = copy.deepcopy(MANIFEST)
    manifest["metadata"] = dict(manifest.get("metadata") or {"name": "pgf-unit"}, annotations=annotations)
    with pytest.raises(ManifestError) as err:
        lc.model_from_manifest(manifest, config)
    assert field in str(err.value)
