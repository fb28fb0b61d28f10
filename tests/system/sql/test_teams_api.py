"""The Teams API against a real HTTP server on 127.0.0.1 (the answer format of the reference API)
and a real PostgreSQL 15: members become LOGIN roles; a timeout, a 401 or a 5xx keeps the existing
member roles and says why. No clock speed matters: the hanging answer waits for an event the test
sets after the client gave up."""

import json
import threading
from http.server import ThreadingHTTPServer

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import teams_api
from ansible_collections.pgfleet.postgres.tests.harness import QuietHandler

pytestmark = pytest.mark.postgres

TOKEN = "test-token-not-a-secret"  # noqa: S105 (a fixed test value)


class TeamsServer(object):
    def __init__(self):
        self.mode = "ok"
        self.teams = {"acid": ["alice", "bob"], "dba": ["dan"]}
        self.release = threading.Event()
        self.seen_auth = []
        outer = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                outer.seen_auth.append(self.headers.get("Authorization") == "Bearer " + TOKEN)
                if outer.mode == "hang":
                    outer.release.wait(60)
                if outer.mode in ("401", "500", "503"):
                    self.send_body(int(outer.mode), b"", ())
                    return
                team = self.path.rsplit("/", 1)[-1]
                if self.path.rsplit("/", 2)[-2] != "teams" or team not in outer.teams:
                    self.send_body(404, b"", ())
                    return
                body = json.dumps({"dn": "cn=%s,ou=teams" % team, "id": team, "id_name": team, "team_id": team,
                                   "type": "official", "name": team.upper(), "mail": [team + "@example.org"],
                                   "member": outer.teams[team], "cost_center": "0", "parent_team_id": ""})
                if outer.mode == "garbage":
                    body = "<html>not json</html>"
                self.send_body(200, body.encode("utf-8"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/api/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api():
    server = TeamsServer().start()
    try:
        yield server
    finally:
        server.stop()


def config(api, **extra):
    cfg = {"enable_teams_api": True, "teams_api_url": api.url, "pam_role_name": "zalandos",
           "team_admin_role": "admin", "team_api_role_configuration": {"log_statement": "all"},
           "enable_team_member_deprecation": True, "enable_team_superuser": True, "postgres_superuser_teams": ["dba"]}
    cfg.update(extra)
    return cfg


def login_of(pg, name):
    rows = pg.query("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (name,))
    return rows[0] if rows else None


def test_members_from_the_api_and_failures_keep_roles(pg, sync, api):
    model = sync.model({})

    def run(**extra):
        return sync.roles(model["roles"], teams={"config": config(api, **extra), "team_id": "acid",
                                                 "api_token": TOKEN, "api_timeout": 2})

    r = run()
    assert login_of(pg, "alice") == (True, False) and login_of(pg, "bob") == (True, False)
    assert login_of(pg, "dan") == (True, True)  # superuser team
    assert all(api.seen_auth) and api.seen_auth
    assert pg.query("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'alice'") == [(True,)]
    assert run()["statements"] == 0

    for mode, reason in (("401", "refused the token (HTTP 401)"), ("500", "HTTP 500"), ("503", "HTTP 503"),
                         ("garbage", "not JSON"), ("hang", "did not answer within 2 s")):
        api.mode = mode
        api.teams["acid"] = ["alice"]  # bob left, but the answer cannot be trusted
        r = run()
        api.release.set()
        text = " | ".join(r["warnings"])
        assert reason in text and "existing team member roles are kept" in text, (mode, text)
        assert TOKEN not in text
        assert login_of(pg, "bob") == (True, False), mode
        assert r["statements"] == 0, mode
        api.release.clear()

    # a good answer again: bob left and is retired (not dropped)
    api.mode = "ok"
    r = run()
    assert r["teams"]["events"] == ["team member bob left: LOGIN removed, renamed to bob_deleted"]
    assert login_of(pg, "bob") is None and login_of(pg, "bob_deleted") == (False, False)
    # a promoted member: alice's team becomes a superuser team
    r = run(postgres_superuser_teams=["dba", "acid"])
    assert login_of(pg, "alice") == (True, True)
    assert run(postgres_superuser_teams=["dba", "acid"])["statements"] == 0


def test_client_refuses_bad_urls_and_huge_answers(api):
    with pytest.raises(teams_api.TeamsApiError, match="not an http"):
        teams_api.fetch_team("file:///etc/passwd", "acid", TOKEN)
    api.teams["big"] = ["m%d" % i for i in range(120000)]
    with pytest.raises(teams_api.TeamsApiError, match="larger than"):
        teams_api.fetch_team(api.url, "big", TOKEN)
    with pytest.raises(teams_api.TeamsApiError, match="unknown to the Teams API"):
        teams_api.fetch_team(api.url, "nobody", TOKEN)
    assert teams_api.fetch_team(api.url, "acid", TOKEN) == ["alice", "bob"]
