"""The console's HTTP rules without a browser: CSRF on every write, read-only mode, cookies, headers.

No API server runs: every refusal here happens before the console would call one (the target points at a
closed port, so a call that slipped through would show as "unreachable", not as the refusal asserted)."""

import re

import pytest
from pgfleet_console.app import SESSION_COOKIE, Console, create_app
from pgfleet_console.kube import Target


def client(read_only=False, auth="kubeconfig"):
    target = Target("http://127.0.0.1:9", token="single-user-token" if auth == "kubeconfig" else None)
    app = create_app(Console(target=target, auth=auth, read_only=read_only, local_enabled=False))
    return app.test_client()


def csrf(c, path="/login"):
    page = c.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("path", ["/k8s/new", "/k8s/default/acid-a/delete", "/k8s/default/acid-a/edit", "/k8s/yaml",
                                  "/logout"])
def test_every_write_needs_the_csrf_token(path):
    c = client(auth="token")
    c.get("/login")
    r = c.post(path, data={"confirm": "acid-a"})
    assert r.status_code == 403 and b"CSRF" in r.data
    r = c.post(path, data={"confirm": "acid-a", "csrf_token": "guess"})
    assert r.status_code == 403


def test_a_token_of_another_session_does_not_work():
    a, b = client(auth="token"), client(auth="token")
    token_a = csrf(a)
    b.get("/login")
    assert b.post("/login", data={"token": "x", "csrf_token": token_a}).status_code == 403


def test_sign_in_keeps_the_token_server_side():
    c = client(auth="token")
    token = csrf(c)
    r = c.post("/login", data={"token": "my-secret-bearer", "csrf_token": token})
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "my-secret-bearer" not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert SESSION_COOKIE in cookie


def test_a_cross_site_post_is_refused_even_with_a_token():
    c = client(auth="token")
    token = csrf(c)
    r = c.post("/login", data={"token": "t", "csrf_token": token}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_read_only_refuses_writes_before_any_api_call():
    c = client(read_only=True)
    page = c.get("/k8s/new").get_data(as_text=True)  # the form needs no API call
    token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    for path in ("/k8s/new", "/k8s/default/acid-a/delete", "/k8s/yaml"):
        r = c.post(path, data={"csrf_token": token, "confirm": "acid-a"})
        assert r.status_code == 403 and b"read-only" in r.data


def test_an_unreachable_api_is_a_clear_error():
    c = client()
    r = c.get("/k8s")
    assert r.status_code == 502
    assert b"The Kubernetes API is unreachable" in r.data


def test_security_headers():
    r = client().get("/healthz")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"


def test_too_large_a_request_is_refused():
    c = client(auth="token")
    token = csrf(c)
    r = c.post("/login", data={"token": "x" * (600 * 1024), "csrf_token": token})
    assert r.status_code == 413


REDIRECTS = [("/k8s", "/k8s"), ("//evil.example/x", "/"), ("/\\evil.example", "/"), ("https://evil.example", "/"),
             ("/k8s\r\nSet-Cookie: x=1", "/")]


@pytest.mark.parametrize("nxt,where", REDIRECTS)
def test_sign_in_redirects_only_inside_the_console(nxt, where):
    c = client(auth="token")
    token = csrf(c)
    r = c.post("/login", query_string={"next": nxt}, data={"token": "t", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == where


def test_sessions_are_capped(monkeypatch):
    from pgfleet_console import app as app_module

    monkeypatch.setattr(app_module, "MAX_SESSIONS", 10)
    sessions = app_module.Sessions()
    ids = [sessions.new()[0] for _n in range(25)]
    assert len(sessions._data) == 10 and sessions.get(ids[-1]) is not None and sessions.get(ids[0]) is None


def test_command_line_token_mode_needs_no_kubeconfig(tmp_path):
    from pgfleet_console.__main__ import build, parse_args

    console = build(parse_args(["--auth", "token", "--api-server", "https://kubernetes.default.svc",
                                "--kubeconfig", str(tmp_path / "missing"), "--no-local"]))
    assert console.target.server == "https://kubernetes.default.svc" and console.target.token is None
    with pytest.raises(SystemExit):
        build(parse_args(["--auth", "kubeconfig", "--api-server", "https://x", "--no-local"]))
    with pytest.raises(SystemExit) as err:
        build(parse_args(["--kubeconfig", str(tmp_path / "missing"), "--no-local"]))
    assert "--no-kubernetes" in str(err.value)


def test_logout_without_kubernetes(tmp_path):
    app = create_app(Console(target=None, auth="local", local_roots=[str(tmp_path)]))
    c = app.test_client()
    token = re.search(r'data-csrf="([^"]+)"', c.get("/local").get_data(as_text=True)).group(1)
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/"
