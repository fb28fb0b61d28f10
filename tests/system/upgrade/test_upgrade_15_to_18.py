"""A real 3-member cluster on PostgreSQL 15 with data, roles, a prepared database and an extension,
upgraded in place to 18: the data, roles and privileges are the same afterwards, 1 leader + 2
streaming replicas run 18, and Patroni's server_version says so."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import versions
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade.local import LocalUpgrade

SNAPSHOT = {
    "rows": "SELECT count(*) FROM data.items",
    "checksum": "SELECT md5(string_agg(id::text || ':' || payload || ':' || tags::text, ',' ORDER BY id)) FROM data.items",
    "roles": "SELECT string_agg(rolname || ':' || rolsuper || rolcreatedb || rolcanlogin || coalesce(rolpassword, '-'), ',' "
             "ORDER BY rolname) FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%'",
    "grants": "SELECT has_table_privilege('report_user', 'data.items', 'SELECT')::text || "
              "has_table_privilege('report_user', 'data.items', 'INSERT')::text",
    "extensions": "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
}


def snapshot(handle, port=None):
    with handle.connect("app", port=port) as conn:
        return dict((k, conn.execute(q).fetchone()[0]) for k, q in SNAPSHOT.items())


@pytest.fixture(scope="module")
def upgraded(upgrade_cluster):
    h = upgrade_cluster
    with h.connect("app") as conn:
        conn.execute("CREATE TABLE data.items (id int PRIMARY KEY, payload text, tags data.hstore)")
        conn.execute("INSERT INTO data.items SELECT g, md5(g::text), data.hstore('k', g::text) "
                     "FROM generate_series(1, 20000) g")
        conn.execute("CREATE ROLE report_user LOGIN PASSWORD 'reader-pw'")
        conn.execute("GRANT USAGE ON SCHEMA data TO report_user")
        conn.execute("GRANT SELECT ON data.items TO report_user")
    before = snapshot(h)
    progress = []
    result = LocalUpgrade(h.cluster, "18", progress=lambda step, detail: progress.append(step)).run()
    return h, before, result, progress


def test_data_roles_and_privileges_are_the_same(upgraded):
    h, before, result, _unused = upgraded
    after = snapshot(h)
    assert after == before
    assert before["rows"] == 20000 and "hstore" in before["extensions"]


def test_one_leader_and_two_streaming_replicas_on_18(upgraded):
    h, before, result, _unused = upgraded
    rows = h.cluster.wait_healthy(120)
    assert sorted(r["role"] for r in rows) == ["leader", "replica", "replica"]
    state = h.state()
    for member, info in state["members"].items():
        answer = lc.patroni_state(info["api_url"])
        assert answer["server_version"] // 10000 == 18, (member, answer["server_version"])
        assert not answer.get("pause")
    # every replica holds the data too
    for row in rows:
        if row["role"] == "replica":
            with h.connect("app", port=state["members"][row["member"]]["pg_port"]) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
                assert conn.execute(SNAPSHOT["checksum"]).fetchone()[0] == before["checksum"]


def test_state_says_18_with_the_success_mark_steps_and_downtime(upgraded):
    h, before, result, progress = upgraded
    state = h.state()
    assert state["pg_version"] == "18"
    assert "/18/" in state["pg_bin_dir"]
    assert state["upgrade"][gates.SUCCESS_KEY]
    assert gates.FAILURE_KEY not in state["upgrade"]
    assert result["write_downtime_seconds"] > 0
    assert progress[:4] == ["initdb", "pause", "stop", "pg_upgrade"]
    assert progress[-1] == "done"
    # a second run has nothing to do
    assert gates.decide(state["pg_version"], "18", marks=state["upgrade"])["action"] == "none"


def test_the_new_reader_can_log_in(upgraded):
    h = upgraded[0]
    import psycopg
    with psycopg.connect(host="127.0.0.1", port=h.leader_port(), dbname="app", user="report_user",
                         password="reader-pw", connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM data.items").fetchone()[0] == 20000


def test_present_with_the_manifest_at_18_has_nothing_to_do(upgraded):
    # The same cluster object that ran the upgrade (its bin dir follows the upgrade) and the
    # credentials kept in state, as the local_cluster module passes them.
    h = upgraded[0]
    from conftest import MANIFEST
    manifest = dict(MANIFEST, metadata={"name": h.cluster.name, "namespace": "default"})
    manifest["spec"] = dict(MANIFEST["spec"], postgresql={"version": "18"})
    model, spilo_conf = lc.model_from_manifest(manifest, None, lc.existing_secrets(h.state()))
    plan = h.cluster.plan_present(model, spilo_conf)
    assert plan["actions"] == [], plan["actions"]
    assert plan["model"]["pg_version"] == "18"
    assert "/18/" in plan["pg_bin_dir"]


def test_present_with_the_old_bin_dir_is_refused_before_anything_is_written(upgraded):
    h = upgraded[0]
    from conftest import MANIFEST
    old_bin = versions.bin_dir("15")
    manifest = dict(MANIFEST, metadata={"name": h.cluster.name, "namespace": "default"})
    model, spilo_conf = lc.model_from_manifest(manifest, None, lc.existing_secrets(h.state()))
    configs = dict((m, open(info["config"]).read()) for m, info in h.state()["members"].items())
    stale = lc.LocalCluster(h.cluster.name, state_dir=h.cluster.state_dir, state_root=h.cluster.home, pg_bin_dir=old_bin)
    with pytest.raises(lc.LocalClusterError, match="holds PostgreSQL 15 but this cluster's data is PostgreSQL 18"):
        stale.plan_present(model, spilo_conf)
    assert configs == dict((m, open(info["config"]).read()) for m, info in h.state()["members"].items())
