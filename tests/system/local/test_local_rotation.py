"""Password rotation on a real local cluster (docs/design/credentials.md, docs/design/local.md).

One cluster (etcd + 1 Patroni member, PostgreSQL 15) for the module, in a fresh home, driven by the
local_cluster module through ansible-playbook like a user runs it. Time is driven through the stored
``nextRotation`` in state.json (set in the past), never by waiting.

``app`` is listed in usersWithSecretRotation (rotation by new user ``app<YYMMDD>``), ``inplace`` in
usersWithInPlaceSecretRotation (same name, new password).
"""

import datetime
import json
import os

import psycopg
import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import cluster as lc
from ansible_collections.pgfleet.postgres.tests.harness import (
    FAST_PATRONI,
    cluster_manifest,
    local_home,
    run_playbook,
    skip_without_local_cluster,
)

pytestmark = pytest.mark.patroni

NAME = "acid-rot"
MANIFEST = cluster_manifest(NAME, instances=1, patroni=FAST_PATRONI, users={"app": [], "inplace": []},
                            usersWithSecretRotation=["app"], usersWithInPlaceSecretRotation=["inplace"])
APP = "app.%s.credentials.postgresql.acid.zalan.do" % NAME
INPLACE = "inplace.%s.credentials.postgresql.acid.zalan.do" % NAME
SUPERUSER = "postgres.%s.credentials.postgresql.acid.zalan.do" % NAME
PAST = "2020-01-01T00:00:00Z"

PLAY = """- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Local cluster is present
      pgfleet.postgres.local_cluster:
        state: present
        manifest_file: "{{ manifest_file }}"
        state_root: "{{ state_root }}"
        state_dir: "{{ state_dir }}"
        timeout: 180
      register: result
    - name: Keep the module result for the test
      ansible.builtin.copy:
        content: "{{ result | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      check_mode: false
"""


class Local(object):
    """The cluster's paths and one ``present`` run of the module (its result and its output)."""

    def __init__(self, home, tmp):
        self.home = home
        self.state_dir = os.path.join(home, NAME)
        self.tmp = tmp
        self.manifest_file = os.path.join(tmp, "manifest.yaml")
        with open(self.manifest_file, "w") as fh:
            json.dump(MANIFEST, fh)  # JSON is YAML
        self.play = os.path.join(tmp, "present.yml")
        with open(self.play, "w") as fh:
            fh.write(PLAY)
        self.runs = 0
        self.outputs = []

    def present(self, *extra):
        self.runs += 1
        result_file = os.path.join(self.tmp, "result-%d.json" % self.runs)
        proc = run_playbook(self.play, "-e", "manifest_file=%s" % self.manifest_file, "-e", "state_root=%s" % self.home,
                            "-e", "state_dir=%s" % self.state_dir, "-e", "result_file=%s" % result_file, *extra)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        with open(result_file) as fh:
            result = fh.read()
        self.outputs.append(out + result)
        return json.loads(result)

    def state(self):
        with open(os.path.join(self.state_dir, "state.json")) as fh:
            return json.load(fh)

    def edit_state(self, key="nextRotation", **times):
        """Set ``key`` (``nextRotation`` or ``rotatedAt``) of the named secrets (``{secret name: time}``)
        in state.json, as a test moves time forward; the file stays private."""
        path = os.path.join(self.state_dir, "state.json")
        state = self.state()
        for secret, when in times.items():
            state["credentials"]["secrets"][secret][key] = when
        with open(path, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
        assert os.stat(path).st_mode & 0o777 == 0o600

    def port(self):
        return self.state()["members"][NAME + "-0"]["pg_port"]


def login(port, user, password):
    """``(session_user, current_user)`` of a fresh connection, or raises psycopg.OperationalError."""
    with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="postgres",
                         sslmode="disable", connect_timeout=5) as conn:
        return conn.execute("SELECT session_user, current_user").fetchone()


def refused(port, user, password):
    try:
        login(port, user, password)
    except psycopg.OperationalError as err:
        return "password authentication failed" in str(err)
    return False


def today_suffixes():
    now = datetime.datetime.now(datetime.timezone.utc)
    return set(d.strftime("%y%m%d") for d in (now - datetime.timedelta(minutes=10), now))


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    skip_without_local_cluster(playbook=True)
    with local_home(prefix="pgf-rot-") as home:
        yield Local(home, str(tmp_path_factory.mktemp("rot")))


@pytest.fixture(scope="module")
def first(local):
    """The first present: the cluster is created and the roles synced."""
    result = local.present()
    return result, local.state()


@pytest.fixture(scope="module")
def rotated(local, first):
    """nextRotation of app and inplace moved into the past, then present again."""
    before = local.state()
    local.edit_state(**{APP: PAST, INPLACE: PAST})
    result = local.present()
    return before, result, local.state()


def test_first_present_schedules_the_rotation_and_rotates_nothing(first):
    result, state = first
    assert result["healthy"] is True
    assert result["sql"]["rotation"]["events"] == []
    assert result["sql"]["rotation"]["dropped"] == []
    secrets = state["credentials"]["secrets"]
    now = datetime.datetime.now(datetime.timezone.utc)
    for secret, user in ((APP, "app"), (INPLACE, "inplace")):
        assert secrets[secret]["username"] == user
        # first contact: due one interval (90 days by default) from now, nothing rotated yet
        due = datetime.datetime.strptime(secrets[secret]["nextRotation"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        assert datetime.timedelta(days=89) < due - now <= datetime.timedelta(days=90)
        assert "rotatedAt" not in secrets[secret]
    # the superuser is not selected (a system user rotates only when the cluster asks twice)
    assert "nextRotation" not in secrets[SUPERUSER]
    assert sorted(result["sql"]["rotation"]["secrets"]) == sorted([APP, INPLACE])


def test_a_due_rotation_by_new_user(local, rotated):
    before, result, state = rotated
    old = before["credentials"]["secrets"][APP]
    new = state["credentials"]["secrets"][APP]
    assert new["username"][:3] == "app" and new["username"][3:] in today_suffixes(), new["username"]
    assert new["password"] != old["password"]
    assert new["nextRotation"] > new["rotatedAt"] > PAST
    events = result["sql"]["rotation"]["events"]
    assert "app: password rotated, new user %s" % new["username"] in events, events
    port = local.port()
    # the new user logs in with the password in state.json, and acts as app
    assert login(port, new["username"], new["password"]) == (new["username"], "app")
    # the previous credentials keep working during the grace period (one day by default)
    assert login(port, "app", old["password"]) == ("app", "app")


def test_a_due_rotation_in_place(local, rotated):
    before, result, state = rotated
    old = before["credentials"]["secrets"][INPLACE]
    new = state["credentials"]["secrets"][INPLACE]
    assert new["username"] == "inplace" and new["password"] != old["password"]
    assert "inplace: password rotated in place" in result["sql"]["rotation"]["events"]
    port = local.port()
    assert login(port, "inplace", new["password"]) == ("inplace", "inplace")
    # one role has one password: no grace period in place
    assert refused(port, "inplace", old["password"])


def test_the_superuser_password_is_unchanged(local, rotated):
    before, result, state = rotated
    assert state["credentials"]["superuser"] == before["credentials"]["superuser"]
    assert state["credentials"]["secrets"][SUPERUSER] == before["credentials"]["secrets"][SUPERUSER]
    su = state["credentials"]["superuser"]
    assert login(local.port(), su["username"], su["password"])[0] == "postgres"
    assert sorted(result["sql"]["rotation"]["secrets"]) == sorted([APP, INPLACE])


def test_no_password_in_the_output(local, rotated):
    before, _result, state = rotated
    passwords = set()
    for st in (before, state):
        for entry in st["credentials"]["secrets"].values():
            passwords.add(entry["password"])
    for out in local.outputs:
        for password in passwords:
            assert password not in out


def test_a_second_present_runs_no_statement(local, rotated):
    _before, _result, state = rotated
    result = local.present()
    assert result["changed"] is False
    assert result["sql"]["roles"] == []
    assert result["sql"]["rotation"] == {"events": [], "dropped": [], "secrets": []}
    assert local.state()["credentials"] == state["credentials"]


def test_state_is_written_only_once_the_role_holds_the_password(local, rotated):
    """The order, seen from the writer: when state.json gets the new password, PostgreSQL already
    accepts it (the role sync committed before ``save`` is called)."""
    local.edit_state(**{INPLACE: PAST})
    cluster = lc.LocalCluster(NAME, state_root=local.home)
    state = cluster.load_state()
    model, _conf = lc.model_from_manifest(MANIFEST, None, lc.existing_secrets(state))
    creds = state["credentials"]
    old = dict(creds["secrets"][INPLACE])
    seen = []

    def save(credentials):
        entry = credentials["secrets"][INPLACE]
        seen.append(login(local.port(), "inplace", entry["password"]))
        assert local.state()["credentials"]["secrets"][INPLACE]["password"] == old["password"]
        cluster.save_credentials(credentials)

    done = lc.sync_sql(model, creds, local.port(), save=save)
    assert seen == [("inplace", "inplace")]
    assert done["rotation"]["events"] == ["inplace: password rotated in place"]
    stored = local.state()["credentials"]["secrets"][INPLACE]
    assert stored["password"] != old["password"] and stored["nextRotation"] > PAST
    assert refused(local.port(), "inplace", old["password"])


def test_after_the_grace_period_and_the_retention(local, rotated):
    """rotatedAt two days back: app's own password goes (app stays LOGIN), the rotation user keeps
    working; a rotation user dated past the retention (180 days) is dropped."""
    state = local.state()
    su = state["credentials"]["superuser"]
    old_app = rotated[0]["credentials"]["secrets"][APP]["password"]
    with psycopg.connect(host="127.0.0.1", port=local.port(), user=su["username"], password=su["password"],
                         dbname="postgres", sslmode="disable", autocommit=True) as conn:
        conn.execute("CREATE ROLE app200101 LOGIN")
    two_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    local.edit_state("rotatedAt", **{APP: two_days_ago.strftime("%Y-%m-%dT%H:%M:%SZ")})
    result = local.present()
    assert result["sql"]["rotation"]["dropped"] == ["app200101"]
    assert result["sql"]["rotation"]["events"] == []
    new = local.state()["credentials"]["secrets"][APP]
    assert login(local.port(), new["username"], new["password"]) == (new["username"], "app")
    assert refused(local.port(), "app", old_app)
    with psycopg.connect(host="127.0.0.1", port=local.port(), user=su["username"], password=su["password"],
                         dbname="postgres", sslmode="disable") as conn:
        rows = conn.execute("SELECT rolname, rolcanlogin, rolpassword IS NULL FROM pg_authid "
                            "WHERE rolname IN ('app', 'app200101')").fetchall()
    assert rows == [("app", True, True)]


def test_check_mode_reports_a_due_rotation_and_writes_nothing(local, rotated):
    local.edit_state(**{APP: PAST})
    before = local.state()
    result = local.present("--check")
    current = before["credentials"]["secrets"][APP]["username"]
    assert result["sql"]["rotation"]["events"] == ["app: password rotated, new user %s" % current]
    assert result["sql"]["rotation"]["secrets"] == []
    assert local.state() == before
    entry = before["credentials"]["secrets"][APP]
    assert login(local.port(), entry["username"], entry["password"]) == (entry["username"], "app")


# --- the translation between state.json and the planner (no cluster needed) ----------------------


def test_a_rerun_keeps_the_rotation_times_beside_the_credentials():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local.render import credentials_from_model

    previous = {"secrets": {APP: {"username": "app261206", "password": "p1", "nextRotation": "2027-03-06T08:00:00Z",
                                  "rotatedAt": "2026-12-06T08:00:00Z"},
                            INPLACE: {"username": "inplace", "password": "p2"}}}
    model, _conf = lc.model_from_manifest(MANIFEST, None, previous["secrets"])
    creds = credentials_from_model(model, previous)
    assert creds["secrets"][APP] == previous["secrets"][APP]
    assert creds["secrets"][INPLACE] == {"username": "inplace", "password": "p2"}


def test_the_planner_input_comes_from_the_state_by_secret_name():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import rotation as local_rotation

    config = {"enable_password_rotation": "true", "password_rotation_interval": "30"}
    model, _conf = lc.model_from_manifest(MANIFEST, config, None)
    credentials = {"secrets": {APP: {"username": "app", "password": "x", "nextRotation": PAST, "extra": "no"}}}
    got = local_rotation.rotation_input(model, credentials, PAST)
    assert got["secrets"] == {"app": {"username": "app", "password": "x", "nextRotation": PAST}}
    assert got["policy"]["enabled"] is True and got["policy"]["interval"] == 30 * 86400
    assert got["policy"]["users"] == ["app"] and got["policy"]["in_place"] == ["inplace"]
    assert got["now"] == datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)


def test_rotated_entries_go_into_the_credentials():
    from ansible_collections.pgfleet.postgres.plugins.module_utils.local import rotation as local_rotation

    model, _conf = lc.model_from_manifest(MANIFEST, None, None)
    credentials = {"superuser": {"username": "postgres", "password": "old"},
                   "secrets": {SUPERUSER: {"username": "postgres", "password": "old"},
                               APP: {"username": "app261206", "password": "a", "nextRotation": PAST}}}
    changed = local_rotation.store_rotated(credentials, model["roles"], {
        "postgres": {"username": "postgres", "password": "new", "nextRotation": PAST, "rotatedAt": PAST},
        # rotation switched off: back to the role's own name, the time left out is removed
        "app": {"username": "app", "password": "b", "nextRotation": None, "rotatedAt": PAST},
        "not-a-role": {"username": "x", "password": "y"}})
    assert changed == [APP, SUPERUSER]
    assert credentials["superuser"] == {"username": "postgres", "password": "new"}
    assert credentials["secrets"][APP] == {"username": "app", "password": "b", "rotatedAt": PAST}
