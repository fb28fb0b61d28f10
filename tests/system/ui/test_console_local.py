"""The console against a REAL local cluster (etcd + 2 Patroni members + PostgreSQL 15), in headless Chromium.

Created through the console's manifest form (an invalid one first: refused, nothing started), watched
until healthy; the monitoring view under a pgbench load shows sessions and metrics that change;
switchover and rolling restart from the buttons; delete with the typed name. One cluster per module.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
import requests
from ansible_collections.pgfleet.postgres.tests.harness import skip_without_local_cluster
from pgfleet_console import collection
from pgfleet_console.app import Console
from selenium.webdriver.common.by import By
from ui_helpers import ConsoleServer

pytestmark = pytest.mark.patroni

NAME = "acid-uilocal"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
MANIFEST = """apiVersion: acid.zalan.do/v1
kind: postgresql
metadata:
  name: %s
  namespace: default
spec:
  teamId: acid
  numberOfInstances: %s
  volume:
    size: 1Gi
  postgresql:
    version: "15"
  patroni:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
"""


@pytest.fixture(scope="module")
def root():
    skip_without_local_cluster()
    path = tempfile.mkdtemp(prefix="pgf-ui-")
    os.chmod(path, 0o755)  # the postgres user must reach the state dirs below it
    yield path
    state_dir = os.path.join(path, NAME)
    if os.path.exists(os.path.join(state_dir, "state.json")):
        collection.LocalCluster(NAME, state_dir=state_dir).absent(timeout=30)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def console(root):
    server = ConsoleServer(Console(target=None, auth="local", local_roots=[root]))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def b(console, browser_factory):
    return browser_factory("local")


def set_value(d, element_id, text):
    area = d.find_element(By.ID, element_id)
    d.execute_script("arguments[0].value = arguments[1];", area, text)


def state(root):
    with open(os.path.join(root, NAME, "state.json")) as fh:
        return json.load(fh)


def leader_row(d):
    for row in d.find_elements(By.CSS_SELECTOR, "#members tbody tr"):
        if row.find_element(By.CSS_SELECTOR, ".role").text == "leader":
            return row.get_attribute("data-member")
    return None


def assert_no_secret(d, root):
    """No password of the cluster in the page or in the JSON the page polls."""
    creds = state(root)["credentials"]
    secrets = [creds[k]["password"] for k in ("superuser", "replication", "restapi")]
    secrets += [v["password"] for v in (creds.get("secrets") or {}).values()]
    seen = d.page_source + d.execute_script(
        "return fetch(arguments[0]).then(function (r) { return r.text(); });", "/local/%s/status.json" % NAME)
    assert not [s for s in secrets if s and s in seen]


def wait_job(b, kind, timeout=300):
    """Wait for the job of ``kind`` to end (the page may still show the previous job, already
    done, until the click's page loads) and assert it is done."""
    d = b.driver

    def ended():
        kinds = d.find_elements(By.ID, "job-kind")
        if not kinds or kinds[0].text != kind:
            return None
        state = d.find_element(By.ID, "job-state").text
        return state if state in ("done", "failed") else None

    state = b.wait_for(ended, timeout=timeout, what="the %s to end" % kind)
    assert state == "done", d.find_element(By.ID, "job").text


def test_create_through_the_console(console, b, root):
    d = b.driver
    d.get(console.url + "/local")
    b.shot("01-local-list-empty")
    d.find_element(By.ID, "new-local").click()
    set_value(d, "manifest", MANIFEST % (NAME, "two"))
    d.find_element(By.ID, "create-local").click()
    err = b.wait_for(lambda: d.find_elements(By.ID, "yaml-errors"), timeout=30, what="the manifest error")
    assert "spec.numberOfInstances" in err[0].text
    assert not os.path.exists(os.path.join(root, NAME))
    b.shot("02-local-invalid")
    set_value(d, "manifest", MANIFEST % (NAME, 2))
    d.find_element(By.ID, "create-local").click()
    b.wait_for(lambda: d.find_elements(By.ID, "members"), timeout=30, what="the cluster page")
    b.shot("03-local-creating")
    wait_job(b, "create", timeout=300)
    b.wait_for(lambda: d.find_element(By.ID, "health").text == "healthy", timeout=120, what="a healthy cluster")
    assert leader_row(d) in ("%s-0" % NAME, "%s-1" % NAME)
    assert_no_secret(d, root)
    b.shot("04-local-healthy")


def test_write_without_csrf_token_is_refused(console):
    s = requests.Session()
    s.get(console.url + "/local", timeout=30)
    r = s.post(console.url + "/local/%s/switchover" % NAME, data={}, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text
    assert console.console.jobs.running("local/%s" % NAME) is None


def pgbench_env(root):
    st = state(root)
    creds = st["credentials"]["superuser"]
    leader = next(m for m, a in collection.LocalCluster(NAME, state_dir=os.path.join(root, NAME)).answers().items()
                  if a and a.get("role") in ("primary", "master"))
    env = dict(os.environ, PGPASSWORD=creds["password"], PGHOST="127.0.0.1",
               PGPORT=str(st["members"][leader]["pg_port"]), PGUSER=creds["username"], PGDATABASE="postgres")
    return env


def test_monitor_under_pgbench(console, b, root):
    env = pgbench_env(root)
    subprocess.run([PGBENCH, "-i", "-s", "2", "-q"], env=env, check=True, capture_output=True, timeout=300)
    load = subprocess.Popen([PGBENCH, "-c", "4", "-T", "600", "-n"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        d = b.driver
        d.get(console.url + "/local/%s/monitor" % NAME)
        box = d.find_element(By.ID, "monitor")

        def pgbench_sessions():
            rows = d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
            return [r.text for r in rows if "pgbench" in r.text]

        b.wait_for(lambda: len(pgbench_sessions()) >= 1, timeout=120, what="pgbench sessions")
        b.wait_for(lambda: float(d.find_element(By.ID, "tps").text.replace("-", "0") or 0) > 0, timeout=120,
                   what="TPS above zero")
        first = (int(box.get_attribute("data-samples")), pgbench_sessions(), d.find_element(By.ID, "tps").text)
        b.wait_for(lambda: int(box.get_attribute("data-samples")) >= first[0] + 2, timeout=120, what="more samples")
        b.wait_for(lambda: (pgbench_sessions(), d.find_element(By.ID, "tps").text) != first[1:], timeout=120,
                   what="sessions or TPS to change")
        cpu = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#sessions td.cpu") if c.text not in ("-", "")]
        assert cpu, "per-backend CPU from /proc"
        assert d.find_elements(By.CSS_SELECTOR, "#chart-tps path"), "the TPS chart is drawn"
        assert "postgres" in d.find_element(By.ID, "databases").text
        assert d.find_elements(By.CSS_SELECTOR, "#replication tbody tr"), "the replica shows with its lag"
        b.shot("05-monitor-pgbench")
    finally:
        load.terminate()
        load.wait(timeout=60)


def test_switchover_from_the_console(console, b, root):
    d = b.driver
    d.get(console.url + "/local/%s" % NAME)
    before = b.wait_for(lambda: leader_row(d), timeout=60, what="the leader row")
    d.find_element(By.ID, "switchover").click()
    b.wait_for(lambda: d.find_elements(By.ID, "job-state"), timeout=30, what="the job")
    wait_job(b, "switchover", timeout=180)
    after = b.wait_for(lambda: (leader_row(d) not in (None, before)) and leader_row(d), timeout=120,
                       what="another leader")
    assert after != before
    assert "leader is now %s" % after in d.find_element(By.ID, "job-log").text
    assert_no_secret(d, root)
    b.shot("06-after-switchover")


def test_rolling_restart_from_the_console(console, b, root):
    d = b.driver
    d.get(console.url + "/local/%s" % NAME)
    d.find_element(By.ID, "restart").click()
    b.wait_for(lambda: d.find_elements(By.ID, "job-state"), timeout=30, what="the job")
    wait_job(b, "rolling restart", timeout=400)
    steps = d.find_element(By.ID, "job-steps").text
    assert steps.count("done") == 2, steps
    b.wait_for(lambda: d.find_element(By.ID, "health").text == "healthy", timeout=120, what="healthy again")
    assert_no_secret(d, root)
    b.shot("07-after-rolling-restart")


def test_delete_with_typed_confirmation(console, b, root):
    d = b.driver
    d.get(console.url + "/local/%s" % NAME)
    button = d.find_element(By.ID, "delete-button")
    assert not button.is_enabled()
    d.find_element(By.ID, "confirm-name").send_keys(NAME)
    assert button.is_enabled()
    b.shot("08-delete-confirm")
    button.click()
    wait_job(b, "delete", timeout=180)
    assert not os.path.exists(os.path.join(root, NAME))
    d.get(console.url + "/local")
    assert NAME not in d.find_element(By.ID, "local-clusters").text
    b.shot("09-local-list-after-delete")
