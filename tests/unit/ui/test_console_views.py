"""The Kubernetes pages' facts and the monitoring snapshots, from recorded shapes of API objects."""

from pgfleet_console import k8sview, monitor


def cr(status=None, generation=1, instances=2):
    obj = {"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
           "metadata": {"name": "acid-a", "namespace": "ns", "generation": generation,
                        "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"teamId": "acid", "numberOfInstances": instances, "volume": {"size": "1Gi"},
                    "postgresql": {"version": "15"}, "resources": {"requests": {"cpu": "10m", "memory": "100Mi"}}}}
    if status is not None:
        obj["status"] = status
    return obj


def pod(name, ready=True, role="replica"):
    return {"metadata": {"name": name, "labels": {"spilo-role": role}},
            "status": {"phase": "Running", "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_row_has_the_printer_columns():
    row = k8sview.cluster_row(cr("Running"))
    assert [row[c] for c in k8sview.PRINTER_COLUMNS[:-2]] == ["acid", "15", 2, "1Gi", "10m", "100Mi"]
    assert row["Status"] == "Running"


def test_progress_walks_through_the_steps():
    p = k8sview.progress(cr(), None, [])
    assert [s["state"] for s in p["steps"]] == ["done", "pending", "pending", "pending", "pending", "pending"]
    sts = {"metadata": {"name": "acid-a"}}
    status = {"PostgresClusterStatus": "Running", "observedGeneration": 1,
              "conditions": [{"type": "DatabasesSynced", "status": "True", "message": ""}]}
    p = k8sview.progress(cr(status), sts, [pod("acid-a-0", role="master"), pod("acid-a-1")])
    assert p["done"] and all(s["state"] == "done" for s in p["steps"])
    p = k8sview.progress(cr({"PostgresClusterStatus": "Running"}), sts, [pod("acid-a-0", role="master")])
    assert not p["done"] and p["steps"][3]["detail"] == "1/2"
    p = k8sview.progress(cr({"PostgresClusterStatus": "CreateFailed", "conditions": [
        {"type": "Ready", "status": "False", "message": "boom"}]}), sts, [])
    assert p["steps"][1]["state"] == "failed" and "boom" in p["steps"][1]["detail"]
    p = k8sview.progress(cr({"PostgresClusterStatus": "Running"}), sts,
                         [pod("acid-a-0", role="master"), pod("acid-a-1")], database_access=False)
    assert p["steps"][-1]["state"] == "skipped" and p["done"]


def test_delete_protection_annotations():
    assert k8sview.delete_protection(cr(), {}) == []
    need = k8sview.delete_protection(cr(), {"delete_annotation_date_key": "d", "delete_annotation_name_key": "n"},
                                     today="2026-12-03")
    assert need == [("d", "2026-12-03"), ("n", "acid-a")]


def session(pid, blocked_by=(), state="active", backend_type="client backend"):
    return {"pid": pid, "blocked_by": list(blocked_by), "state": state, "duration": 1.0, "backend_type": backend_type}


def test_blocking_tree_orders_blockers_first():
    tree = monitor.blocking_tree([session(1), session(2, [3]), session(3, [4]), session(4), session(5, [4])])
    assert [(s["pid"], s["depth"]) for s in tree] == [(4, 0), (3, 1), (2, 2), (5, 1), (1, 0)]
    assert tree[0]["blocking"] == 2


def test_clients_come_before_background_processes_and_active_before_idle():
    tree = monitor.blocking_tree([session(1, backend_type="checkpointer", state=None), session(2, state="idle"),
                                  session(3), session(4, state="idle in transaction")])
    assert [s["pid"] for s in tree] == [3, 4, 2, 1]


def test_blocking_tree_survives_a_cycle():
    tree = monitor.blocking_tree([session(1, [2]), session(2, [1])])
    assert sorted(s["pid"] for s in tree) == [1, 2]


# The shape of one bg_mon answer (abridged, numbers made up): processes with cpu/io/uss, locks, queries.
BG_MON = {
    "hostname": "acid-a-0", "time": 1764800000, "cpu_cores": 2,
    "postgresql": {"version": "15.1", "role": "master", "wal": {"written": 1200},
                   "connections": {"max": 100, "total": 3, "idle_in_transaction": 0, "active": 2}},
    "disk_stats": {"data": {"device": {"space": {"total": 10, "left": 5}},
                            "directory": {"name": "/home/postgres/pgdata", "size": 52428800}}},
    "databases": {"postgres": {"xact": {"commit": 40, "rollback": 2}},
                  "app": {"xact": {"commit": 100, "rollback": 0}}},
    "processes": [
        {"pid": 10, "type": "backend", "state": "R", "cpu": {"user": 12.5, "system": 2.5, "guest": 0},
         "io": {"read": 4096, "write": 0}, "uss": 1048576, "age": 3.5, "database": "app", "username": "app",
         "query": "UPDATE t SET x = 1"},
        {"pid": 11, "type": "backend", "state": "S", "cpu": {"user": 0, "system": 0, "guest": 0},
         "io": {"read": 0, "write": 0}, "uss": 524288, "locked_by": [10], "age": 2, "database": "app",
         "username": "app", "wait_event_type": "Lock", "wait_event": "transactionid", "query": "UPDATE t SET x = 2"},
        {"pid": 12, "type": "checkpointer", "state": "S", "cpu": {"user": 0, "system": 0.1, "guest": 0},
         "io": {"read": 0, "write": 8192}, "uss": 100},
        {"pid": "not-a-pid"},
    ],
}


def test_bg_mon_document_becomes_a_snapshot():
    members = [{"name": "acid-a-0", "role": "leader", "state": "running"},
               {"name": "acid-a-1", "role": "replica", "state": "streaming", "lag": 2048}]
    snap = monitor.normalize_bg_mon(BG_MON, members)
    assert snap["totals"] == {"tps": 142.0, "connections": 3.0, "active": 2.0, "max_lag_bytes": 2048.0}
    assert [(s["pid"], s["depth"]) for s in snap["sessions"]] == [(10, 0), (11, 1), (12, 0)]
    first = snap["sessions"][0]
    assert first["cpu"] == 15.0 and first["uss"] == 1048576 and first["read_rate"] == 4096
    assert snap["sessions"][1]["wait"] == "Lock: transactionid"
    assert snap["replication"] == [{"member": "acid-a-1", "state": "streaming", "sync": "replica",
                                    "lag_bytes": 2048.0, "lag_seconds": None}]
    assert snap["databases"] == [{"name": "data directory", "size": 52428800.0}]


def test_bg_mon_garbage_does_not_break_the_page():
    for doc in (None, [], {"processes": "x"}, {"processes": [None, 1]}, {"databases": {"a": None}}):
        snap = monitor.normalize_bg_mon(doc)
        assert snap["sessions"] == []


def test_proc_sample_of_this_process():
    import os

    sample = monitor.proc_sample(os.getpid())
    assert sample["ticks"] >= 0 and sample["rss"] > 0
    assert monitor.proc_sample(2 ** 22 + 12345) is None
