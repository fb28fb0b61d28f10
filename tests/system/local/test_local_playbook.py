"""playbooks/local.yml end to end: present -> status table -> absent, for the minimal manifest.

One real cluster (etcd + 2 Patroni members) for the whole module. Teardown must leave no
process and no data behind, and no password may ever appear in the playbook output.
"""

import base64
import json
import os
import pwd

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import processes
from ansible_collections.pgfleet.postgres.tests.harness import MINIMAL_MANIFEST as MANIFEST
from ansible_collections.pgfleet.postgres.tests.harness import minimal_state_dir, run_playbook

pytestmark = pytest.mark.patroni


def playbook(state_dir, state, *extra):
    proc = run_playbook("playbooks/local.yml", "-e", "manifest=%s" % MANIFEST, "-e", "state=%s" % state,
                        "-e", "state_dir=%s" % state_dir, *extra)
    return proc.returncode, proc.stdout + proc.stderr


def table_rows(output):
    """Member rows printed by the role's debug task (lines starting with '- <cluster>-N')."""
    rows = []
    for line in output.splitlines():
        parts = line.strip().lstrip("-").strip().strip("'").split()
        if parts and parts[0].startswith("acid-minimal-cluster-") and len(parts) >= 6:
            rows.append(parts)
    return rows


@pytest.fixture(scope="module")
def state_dir():
    # Whatever happens in the tests, what was started is stopped and the data removed.
    with minimal_state_dir(prefix="pgf-pb-") as path:
        yield path


@pytest.fixture(scope="module")
def present(state_dir):
    rc, out = playbook(state_dir, "present")
    assert rc == 0, out
    return out


def test_check_mode_creates_nothing(state_dir):
    rc, out = playbook(state_dir, "present", "--check")
    assert rc == 0, out
    assert not os.path.exists(state_dir)


def test_present_prints_a_healthy_member_table(present, state_dir):
    rows = table_rows(present)
    assert sorted(r[0] for r in rows) == ["acid-minimal-cluster-0", "acid-minimal-cluster-1"]
    roles = sorted((r[1], r[2]) for r in rows)
    assert roles == [("leader", "running"), ("replica", "streaming")]
    # the manifest asks for PostgreSQL 18 and gets it (no "runs PostgreSQL 15" any more)
    assert "runs PostgreSQL 15" not in " ".join(present.split())
    with open(os.path.join(state_dir, "state.json")) as fh:
        state = json.load(fh)
    assert state["pg_version"] == "18"
    for info in state["members"].values():
        answer = lc.patroni_state(info["api_url"])
        assert answer["server_version"] // 10000 == 18, answer
    assert "credentials_file: %s/state.json" % state_dir in present


def test_state_file_is_private_and_holds_the_credentials(present, state_dir):
    path = os.path.join(state_dir, "state.json")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as fh:
        state = json.load(fh)
    assert state["credentials"]["superuser"]["username"] == "postgres"
    for member, info in state["members"].items():
        assert lc.pid_alive(info["pid"], info["config"]), member
        # the recorded PID is Patroni itself, not a wrapper
        assert "patroni" in processes._cmdline(info["pid"])


def etcd_port(state_dir):
    with open(os.path.join(state_dir, "state.json")) as fh:
        return json.load(fh)["etcd"]["client_port"]


def gateway(port, path, body, token=None):
    """A raw call to etcd's JSON gateway, as any local user could make it."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=json.dumps(body).encode(),
                                 headers=dict({"Content-Type": "application/json"},
                                              **({"Authorization": token} if token else {})))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_etcd_refuses_an_unauthenticated_client(present, state_dir):
    port = etcd_port(state_dir)
    key = base64.b64encode(b"/pgfleet/acid-minimal-cluster/config").decode()
    value = base64.b64encode(b'{"standby_cluster": {"restore_command": "touch /tmp/pwned"}}').decode()
    status, answer = gateway(port, "/v3/kv/put", {"key": key, "value": value})
    assert status != 200, answer
    assert "user name is empty" in answer.get("message", "") or "permission denied" in answer.get("message", "")
    status, answer = gateway(port, "/v3/kv/range", {"key": key})
    assert status != 200, answer
    # a wrong password gets no token; etcd's own admin calls are closed too
    status, answer = gateway(port, "/v3/auth/authenticate", {"name": "patroni", "password": "guess"})
    assert status != 200 and "token" not in answer
    status, answer = gateway(port, "/v3/auth/disable", {})
    assert status != 200, answer


def test_patroni_uses_its_own_etcd_user_limited_to_its_prefix(present, state_dir):
    with open(os.path.join(state_dir, "state.json")) as fh:
        state = json.load(fh)
    port = state["etcd"]["client_port"]
    patroni = state["credentials"]["etcd"]["patroni"]
    status, answer = gateway(port, "/v3/auth/authenticate", {"name": patroni["username"], "password": patroni["password"]})
    assert status == 200, answer
    token = answer["token"]
    prefix = base64.b64encode(b"/pgfleet/acid-minimal-cluster/").decode()
    end = base64.b64encode(b"/pgfleet/acid-minimal-cluster0").decode()
    status, answer = gateway(port, "/v3/kv/range", {"key": prefix, "range_end": end, "keys_only": True}, token)
    assert status == 200, answer
    keys = set(base64.b64decode(kv["key"]).decode() for kv in answer.get("kvs") or [])
    assert "/pgfleet/acid-minimal-cluster/leader" in keys
    status, answer = gateway(port, "/v3/kv/put", {"key": base64.b64encode(b"/elsewhere").decode(), "value": ""}, token)
    assert status != 200 and "permission denied" in answer.get("message", "")
    # the members' configs hold that password: private to the service user, like the state file
    for member, info in state["members"].items():
        st = os.stat(info["config"])
        assert st.st_mode & 0o777 == 0o600, member
        assert st.st_uid == pwd.getpwnam(state["os_user"]).pw_uid
    assert os.stat(os.path.join(state_dir, "state.json")).st_uid == pwd.getpwnam(state["os_user"]).pw_uid
    argv = processes._argv(state["etcd"]["pid"])
    for flag in ("--listen-client-urls", "--listen-peer-urls"):
        assert argv[argv.index(flag) + 1].startswith("http://127.0.0.1:")


def test_manifest_users_and_databases_exist(present, state_dir):
    import psycopg

    with open(os.path.join(state_dir, "state.json")) as fh:
        state = json.load(fh)
    secret = next(s for s in state["credentials"]["secrets"].values() if s["username"] == "zalando")
    ports = ",".join(str(m["pg_port"]) for m in state["members"].values())
    conninfo = "host=%s port=%s dbname=foo user=zalando target_session_attrs=read-write" % (
        ",".join("127.0.0.1" for _member in state["members"]), ports)
    with psycopg.connect(conninfo, password=secret["password"], connect_timeout=5) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'foo'").fetchone()[0]
        assert owner == "zalando"
        roles = set(r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall())
        assert {"zalando", "foo_user", "bar_owner", "bar_reader", "bar_writer", "admin"} <= roles
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'bar'").fetchone()[0] == 1


def test_rerun_changes_nothing(present, state_dir):
    rc, out = playbook(state_dir, "present")
    assert rc == 0, out
    assert "changed=0" in out


def test_status_prints_the_table_and_no_password(present, state_dir):
    rc, out = playbook(state_dir, "status")
    assert rc == 0, out
    assert len(table_rows(out)) == 2
    with open(os.path.join(state_dir, "state.json")) as fh:
        creds = json.load(fh)["credentials"]
    secrets = [creds["superuser"]["password"], creds["replication"]["password"], creds["restapi"]["password"],
               creds["etcd"]["root"]["password"], creds["etcd"]["patroni"]["password"]]
    secrets += [s["password"] for s in creds["secrets"].values()]
    for text in (present, out):
        for secret in secrets:
            assert secret not in text


def test_absent_leaves_no_process_and_no_data(present, state_dir):
    with open(os.path.join(state_dir, "state.json")) as fh:
        state = json.load(fh)
    pids = [state["etcd"]["pid"]] + [m["pid"] for m in state["members"].values()]
    postmasters = [lc.postmaster_pid(m["data_dir"]) for m in state["members"].values()]
    assert all(postmasters)
    rc, out = playbook(state_dir, "absent")
    assert rc == 0, out
    assert not os.path.exists(state_dir)
    for pid in pids + postmasters:
        assert not lc.pid_alive(pid, state_dir), pid
    assert lc.processes_using(state_dir) == []
    # absent again: nothing to do
    rc, out = playbook(state_dir, "absent")
    assert rc == 0, out
    assert "changed=0" in out
