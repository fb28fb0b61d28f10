"""Password rotation against a real PostgreSQL 15: time comes from the secrets and an injected
`now`, never from the wall clock; no password is ever printed (assertion messages name roles only)."""

import datetime
import threading

import psycopg
import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import rotation
from ansible_collections.pgfleet.postgres.tests.system.sql.pg_server import Credentials, can_login

pytestmark = pytest.mark.postgres

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 12, 3, 20, 0, 0, tzinfo=UTC)
SPEC = {"users": {"app": [], "owner_user": []}, "databases": {"appdb": "owner_user"},
        "usersWithInPlaceSecretRotation": ["postgres"]}
CONFIG = {"enable_password_rotation": True, "password_rotation_interval": 30,
          "password_rotation_user_retention": 60, "super_username": "postgres", "replication_username": "standby"}


class Store(object):
    """The credential secrets between two syncs (what the reconcile keeps in Kubernetes)."""

    def __init__(self, model):
        self.lock = threading.Lock()
        self.data = {r["name"]: {"username": r["name"], "password": r["password"]}
                     for r in model["roles"] if r["password"] is not None}

    def read(self, name):
        with self.lock:
            return Credentials(self.data[name])

    def write(self, updates):
        with self.lock:
            for name, content in updates.items():
                self.data[name] = dict(content)

    def snapshot(self):
        with self.lock:
            return {k: dict(v) for k, v in self.data.items()}

    def due(self, name, moment):
        with self.lock:
            self.data[name]["nextRotation"] = rotation.format_time(moment)


def run(sync, model, store, now, annotations=None):
    result = sync.roles(model["roles"], rotation={
        "policy": rotation.policy_from(CONFIG, model["spec"], annotations or {}),
        "secrets": store.snapshot(), "now": now})
    # the secrets are written only after the role sync committed
    store.write(result["secrets"])
    return result


def test_rotation_with_grace_period_and_zero_failed_connects(pg, sync):
    model = sync.model(SPEC)
    store = Store(model)
    superuser_before = pg.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
    first = run(sync, model, store, T0)
    assert first["rotation"]["events"] == []
    assert store.read("app")["nextRotation"] == "2027-01-02T20:00:00Z"
    assert "nextRotation" not in store.read("owner_user") or not store.read("owner_user")["nextRotation"]

    # the application: a loop of connects, each with the secret's current value
    stop, seen, failures = threading.Event(), [], []
    seen_cond = threading.Condition()

    def application():
        while not stop.is_set():
            creds = store.read("app")
            try:
                with pg.connect(user=creds["username"], password=creds["password"]) as conn:
                    identity = conn.execute("SELECT current_user").fetchone()[0]
            except psycopg.Error as exc:
                failures.append("%s: %s" % (creds["username"], type(exc).__name__))
                identity = None
            with seen_cond:
                seen.append((creds["username"], identity))
                seen_cond.notify_all()

    def wait_seen(username):
        with seen_cond:
            assert seen_cond.wait_for(lambda: any(u == username for u, _i in seen), timeout=120), username

    worker = threading.Thread(target=application, daemon=True)
    worker.start()
    try:
        wait_seen("app")
        old = store.read("app")
        store.due("app", T0 + datetime.timedelta(days=1))
        t1 = T0 + datetime.timedelta(days=2)
        r = run(sync, model, store, t1)
        assert r["rotation"]["events"] == ["app: password rotated, new user app261205"]
        assert store.read("app")["username"] == "app261205"
        wait_seen("app261205")
        # during the grace period both credentials work; the new user acts as the parent
        assert can_login(pg, old, "app") == "app"
        assert can_login(pg, store.read("app")) == "app"
        # a second rotation a month later, then the grace period of the first one ends
        store.due("app", t1 + datetime.timedelta(days=30))
        t2 = t1 + datetime.timedelta(days=31)
        second_old = store.read("app")
        run(sync, model, store, t2)
        assert store.read("app")["username"] == "app270105"
        wait_seen("app270105")
        assert can_login(pg, second_old) == "app"
        after_grace = t2 + datetime.timedelta(hours=25)
        run(sync, model, store, after_grace)
        assert can_login(pg, old, "app") is None
        assert can_login(pg, second_old) is None
        assert pg.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app261205'") == [(False,)]
        assert pg.query("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'app'") == [(True,)]
        with seen_cond:
            count = len(seen)
            assert seen_cond.wait_for(lambda: len(seen) > count + 2, timeout=120)
    finally:
        stop.set()
        worker.join(60)
    assert failures == []
    assert {identity for _u, identity in seen} == {"app"}

    # the superuser is untouched (listed for in-place rotation, but the cluster did not allow it)
    assert pg.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'") == superuser_before
    assert store.read("postgres").get("username") == "postgres"
    # the database owner is not rotated by the cluster-wide switch
    assert store.read("owner_user")["username"] == "owner_user"

    # a no-op sync afterwards runs zero statements
    again = run(sync, model, store, after_grace)
    assert (again["changed"], again["statements"], again["queries"]) == (False, 0, [])
    assert sorted(again["secrets"]) == []

    # retention: the first rotation user goes once it is older than 60 days
    late = T0 + datetime.timedelta(days=70)
    store.due("app", late + datetime.timedelta(days=10))  # not due again
    dropped = run(sync, model, store, late)
    assert dropped["rotation"]["dropped"] == ["app261205"]
    assert pg.query("SELECT count(*) FROM pg_roles WHERE rolname = 'app261205'") == [(0,)]
    assert can_login(pg, store.read("app")) == "app"
    final = run(sync, model, store, late)
    assert (final["changed"], final["statements"]) == (False, 0)


def test_superuser_rotates_only_when_the_cluster_asks(pg, sync):
    model = sync.model(SPEC)
    store = Store(model)
    run(sync, model, store, T0)
    store.due("postgres", T0)
    asked = {rotation.ANNOTATION_SYSTEM: "postgres"}
    r = run(sync, model, store, T0 + datetime.timedelta(hours=1), annotations=asked)
    assert r["rotation"]["events"] == ["postgres: password rotated in place"]
    creds = store.read("postgres")
    assert creds["username"] == "postgres"
    assert can_login(pg, creds) == "postgres"
    # the harness keeps working with the new superuser password
    pg.password = creds["password"]
    sync.params = pg.params


def test_per_cluster_switch_off_restores_the_role_name(pg, sync):
    model = sync.model(SPEC)
    store = Store(model)
    run(sync, model, store, T0)
    store.due("app", T0)
    run(sync, model, store, T0 + datetime.timedelta(hours=1))
    rotated = store.read("app")
    assert rotated["username"] == "app261203"
    off = {rotation.ANNOTATION_SWITCH: "off"}
    r = run(sync, model, store, T0 + datetime.timedelta(hours=2), annotations=off)
    back = store.read("app")
    assert back["username"] == "app" and not back.get("nextRotation")
    assert r["rotation"]["events"][0].startswith("app: rotation off")
    assert can_login(pg, back) == "app"
    assert can_login(pg, rotated) == "app"  # grace period
    r = run(sync, model, store, T0 + datetime.timedelta(days=2), annotations=off)
    assert can_login(pg, rotated) is None
    assert (run(sync, model, store, T0 + datetime.timedelta(days=2), annotations=off)["statements"]) == 0


def test_md5_to_scram_rehashes_what_we_own_including_rotation_users(pg, sync):
    model = sync.model(SPEC)
    store = Store(model)
    pol = rotation.policy_from(CONFIG, model["spec"], {})

    # the test server's pg_hba asks for SCRAM: the superuser this test connects as stays out of it
    roles = [r for r in model["roles"] if r["name"] != "postgres"]

    def run(now, encryption):
        result = sync.roles(roles, password_encryption=encryption,
                            rotation={"policy": pol, "secrets": store.snapshot(), "now": now})
        store.write(result["secrets"])
        return result

    run(T0, "md5")
    store.due("app", T0)
    run(T0 + datetime.timedelta(hours=1), "md5")
    current = store.read("app")
    kinds = dict(pg.query("SELECT rolname, left(rolpassword, 3) FROM pg_authid WHERE rolname IN ('owner_user', %s)",
                          (current["username"],)))
    assert kinds == {"owner_user": "md5", current["username"]: "md5"}
    r = run(T0 + datetime.timedelta(hours=2), "scram-sha-256")
    rehashed = sorted(a["role"] for a in r["actions"] if a["action"] == "set_password")
    assert "owner_user" in rehashed and current["username"] in rehashed and "app" not in rehashed
    kinds = dict(pg.query("SELECT rolname, left(rolpassword, 5) FROM pg_authid WHERE rolname IN ('owner_user', %s)",
                          (current["username"],)))
    assert kinds == {"owner_user": "SCRAM", current["username"]: "SCRAM"}
    assert can_login(pg, current) == "app" and can_login(pg, store.read("owner_user")) == "owner_user"
    assert run(T0 + datetime.timedelta(hours=3), "scram-sha-256")["statements"] == 0
