"""The console against the Kubernetes API double, in a real headless Chromium.

Create through the form with one invalid field (the error shows next to it, nothing reaches the API),
fix it, submit, watch the creation progress until Running while the operator's own playbooks
reconcile it; a viewer's write is refused by the API and shown as such; a write without the CSRF
token is refused; delete needs the typed name and honours the delete-protection annotations.
"""

import pytest
import requests
from pgfleet_console.app import Console
from pgfleet_console.kube import Target
from selenium.webdriver.common.by import By
from ui_helpers import DELETE_KEYS, ConsoleServer

pytestmark = pytest.mark.k8s

NAME = "acid-webui"


@pytest.fixture(scope="module")
def console(rbac_double, operator):
    double, _harness, kubeconfig = rbac_double
    target = Target.from_kubeconfig(kubeconfig, with_token=False)
    cfg = dict(DELETE_KEYS, enable_database_access="false")
    server = ConsoleServer(Console(target=target, auth="token", local_enabled=False, operator_config=cfg))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(console, browser_factory):
    b = browser_factory("k8s")
    sign_in(b, console, "admin-token")
    return b


def sign_in(b, console, token):
    d = b.driver
    d.get(console.url + "/login")
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "sign-in").click()
    b.wait_for(lambda: d.find_elements(By.ID, "clusters"), timeout=30, what="the cluster list")


def fill(d, values):
    for key, value in values.items():
        el = d.find_element(By.NAME, key)
        el.clear()
        el.send_keys(value)


def postgresqls(double):
    return double.list("acid.zalan.do/v1", "postgresql")


def test_list_needs_a_signed_in_caller(console):
    r = requests.get(console.url + "/k8s", allow_redirects=False, timeout=30)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_create_invalid_then_fix_and_watch_running(console, admin, rbac_double, operator):
    double = rbac_double[0]
    d = admin.driver
    admin.shot("01-cluster-list-empty")
    d.find_element(By.ID, "new-cluster").click()
    fill(d, {"metadata.name": NAME, "spec.teamId": "acid", "spec.numberOfInstances": "2",
             "spec.volume.size": "ten gigabytes", "spec.users": "app_owner: createdb\napp_user:",
             "spec.databases": "app: app_owner"})
    mark = double.mark()
    d.find_element(By.ID, "submit").click()
    err = admin.wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#field-spec-volume-size .field-error"),
                         what="the volume size error")
    assert "quantity" in err[0].text
    # only that field is marked, the rest of the form kept what was typed
    assert [e.get_attribute("data-field") for e in d.find_elements(By.CSS_SELECTOR, ".field-error")] == ["spec.volume.size"]
    assert d.find_element(By.NAME, "spec.users").get_attribute("value").startswith("app_owner: createdb")
    admin.shot("02-form-invalid-volume")
    assert [r for r in double.requests_since(mark) if r["method"] != "GET"] == []
    assert postgresqls(double) == []

    fill(d, {"spec.volume.size": "1Gi"})
    d.find_element(By.ID, "submit").click()
    admin.wait_for(lambda: d.find_elements(By.ID, "progress"), what="the cluster page")
    assert [c["metadata"]["name"] for c in postgresqls(double)] == [NAME]
    admin.shot("03-cluster-creating")
    admin.wait_for(lambda: d.find_element(By.ID, "status").text == "Running", timeout=240,
                   what="status Running (operator runs: %s)" % operator.runs)
    admin.wait_for(lambda: "Ready" in d.find_element(By.ID, "conditions").text, what="conditions, updated live")
    admin.wait_for(lambda: "done" in d.find_element(By.CSS_SELECTOR, "li[data-step='Leader elected']").get_attribute(
        "class"), what="leader elected")
    pods = admin.wait_for(lambda: [t.text for t in d.find_elements(By.CSS_SELECTOR, "#pods tbody tr")
                                   if "master" in t.text or "replica" in t.text], what="pods with roles")
    assert any("master" in p for p in pods)
    creds = d.find_element(By.ID, "credentials").text
    assert "in secret app-owner.%s.credentials" % NAME in creds.replace("_", "-")
    admin.shot("04-cluster-running")
    d.get(console.url + "/k8s")
    row = d.find_element(By.CSS_SELECTOR, "tr[data-name='%s']" % NAME)
    assert "Running" in row.text and "acid" in row.text and "1Gi" in row.text
    admin.shot("05-cluster-list-running")


def test_monitoring_through_the_pod_proxy(console, admin):
    d = admin.driver
    d.get(console.url + "/k8s/default/%s" % NAME)
    d.find_element(By.ID, "monitor-link").click()
    rows = admin.wait_for(lambda: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")
                                   if "UPDATE accounts" in r.text], timeout=60, what="bg_mon sessions")
    assert len(rows) == 2 and "Lock: transactionid" in rows[1]  # the blocked one, under its blocker
    box = d.find_element(By.ID, "monitor")
    first = d.find_element(By.CSS_SELECTOR, "#sessions tbody tr").text
    admin.wait_for(lambda: d.find_element(By.CSS_SELECTOR, "#sessions tbody tr").text != first, timeout=60,
                   what="the sessions to change")
    assert "bg_mon" in d.find_element(By.ID, "source").text
    assert d.find_element(By.ID, "connections").text == "3"
    assert int(box.get_attribute("data-samples")) >= 2
    admin.wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#chart-tps path"), timeout=60, what="the TPS chart")
    admin.shot("06a-monitor-bg-mon")


def test_yaml_view_and_editor_refuses_tricks(console, admin, rbac_double):
    d = admin.driver
    d.get(console.url + "/k8s/default/%s/yaml" % NAME)
    text = d.find_element(By.ID, "manifest").get_attribute("value")
    assert "numberOfInstances: 2" in text and "status" not in text and "password" not in text.lower()
    admin.shot("06-yaml-view")
    tricky = text.replace("numberOfInstances: 2", "numberOfInstances: &n 2\n  maxInstances: *n")
    area = d.find_element(By.ID, "manifest")
    area.clear()
    d.execute_script("arguments[0].value = arguments[1];", area, tricky)
    d.find_element(By.ID, "save-yaml").click()
    err = admin.wait_for(lambda: d.find_elements(By.ID, "yaml-errors"), what="the YAML error")
    assert "anchors" in err[0].text or "aliases" in err[0].text
    admin.shot("07-yaml-refused")


def test_edit_keeps_what_the_form_does_not_show(console, admin, rbac_double):
    double = rbac_double[0]
    stored = double.get("acid.zalan.do/v1", "postgresql", NAME, "default")
    d = admin.driver
    d.get(console.url + "/k8s/default/%s/edit" % NAME)
    assert d.find_element(By.NAME, "metadata.name").get_attribute("readonly")
    fill(d, {"spec.numberOfInstances": "-1"})
    mark = double.mark()
    d.find_element(By.ID, "submit").click()
    err = admin.wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#field-spec-numberOfInstances .field-error"),
                         timeout=30, what="the instances error")
    assert err[0].text.strip()
    assert [r for r in double.requests_since(mark) if r["method"] != "GET"] == []
    fill(d, {"spec.numberOfInstances": "3", "spec.resources.requests.memory": "150Mi"})
    d.find_element(By.ID, "submit").click()
    admin.wait_for(lambda: d.find_elements(By.ID, "progress"), timeout=30, what="the cluster page")
    after = double.get("acid.zalan.do/v1", "postgresql", NAME, "default")
    assert after["spec"]["numberOfInstances"] == 3
    assert after["spec"]["resources"]["requests"]["memory"] == "150Mi"
    assert after["spec"]["users"] == stored["spec"]["users"] and after["spec"]["databases"] == stored["spec"]["databases"]
    admin.shot("07b-after-edit")


def test_viewer_write_is_refused_by_the_api(console, browser_factory, rbac_double):
    double = rbac_double[0]
    b = browser_factory("k8s-viewer")
    sign_in(b, console, "viewer-token")
    d = b.driver
    assert NAME in d.find_element(By.ID, "clusters").text  # reading is allowed
    d.find_element(By.ID, "new-cluster").click()
    fill(d, {"metadata.name": "acid-notallowed", "spec.teamId": "acid", "spec.volume.size": "1Gi"})
    d.find_element(By.ID, "submit").click()
    err = b.wait_for(lambda: d.find_elements(By.ID, "general-errors"), what="the API refusal")
    assert "Forbidden by the Kubernetes API (403)" in err[0].text
    b.shot("08-viewer-forbidden")
    refused = [r for r in double.requests if r["method"] == "POST" and r["status"] == 403]
    assert refused, "the refusal must come from the API"
    assert "acid-notallowed" not in [c["metadata"]["name"] for c in postgresqls(double)]
    # the pod proxy is not the viewer's either: the monitoring view says so
    d.get(console.url + "/k8s/default/%s/monitor" % NAME)
    err = b.wait_for(lambda: "Forbidden" in d.find_element(By.ID, "monitor-error").text
                     and d.find_element(By.ID, "monitor-error").text, timeout=60, what="the proxy refusal")
    assert "bg_mon" in err
    b.shot("08b-viewer-monitor-forbidden")


def test_write_without_csrf_token_is_refused(console, rbac_double):
    double = rbac_double[0]
    s = requests.Session()
    page = s.get(console.url + "/login", timeout=30)
    assert page.status_code == 200
    mark = double.mark()
    r = s.post(console.url + "/login", data={"token": "admin-token"}, timeout=30, allow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = s.post(console.url + "/k8s/default/%s/delete" % NAME, data={"confirm": NAME}, timeout=30)
    assert r.status_code == 403 and "CSRF" in r.text
    r = s.post(console.url + "/k8s/default/%s/delete" % NAME, data={"confirm": NAME, "csrf_token": "forged"}, timeout=30)
    assert r.status_code == 403
    # nothing reached the API but reads: a page an earlier test left open may still refresh its pods
    # (CI saw one such GET of the pods by label in this window)
    assert double.writes(mark) == []
    assert [r for r in double.requests_since(mark) if r["method"] != "GET"] == []


def test_delete_with_typed_confirmation(console, admin, rbac_double, operator):
    double = rbac_double[0]
    d = admin.driver
    d.get(console.url + "/k8s/default/%s" % NAME)
    button = d.find_element(By.ID, "delete-button")
    assert not button.is_enabled()
    d.find_element(By.ID, "confirm-name").send_keys(NAME[:-1])
    assert not button.is_enabled()
    d.find_element(By.ID, "confirm-name").send_keys(NAME[-1])
    assert button.is_enabled()
    admin.shot("09-delete-confirm")
    button.click()
    admin.wait_for(lambda: d.find_elements(By.ID, "deleted-notice"), what="the list after delete")
    # the console set the protection annotations first, so the operator tears the cluster down
    admin.wait_for(lambda: not postgresqls(double), timeout=240, what="the CR gone (runs: %s)" % operator.runs)
    admin.wait_for(lambda: not double.list("v1", "Pod", "default", "cluster-name=%s" % NAME), timeout=120,
                   what="the pods torn down")
    d.get(console.url + "/k8s")
    assert NAME not in d.find_element(By.ID, "clusters").text
    admin.shot("10-after-delete")
