# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The Teams API client: ``GET <teams_api_url>/teams/<team>`` with a bearer token, the ``member``
list of the answer. See docs/design/credentials.md.

Every failure (timeout, refused connection, 401, 5xx, an answer that is not the expected JSON)
makes the member lists incomplete: the role sync then keeps every existing member role as it is
and reports the reason. The token never appears in a message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import ProxyHandler, Request, build_opener

#: Largest answer read, in bytes (a team is a few kB).
MAX_ANSWER = 1024 * 1024
MAX_MEMBERS = 10000
DEFAULT_TIMEOUT = 10


class TeamsApiError(Exception):
    """One sentence for people: which team, what went wrong (never the token)."""


def team_url(base, team):
    return base.rstrip("/") + "/teams/" + quote(team, safe="")


def fetch_team(base, team, token, timeout=DEFAULT_TIMEOUT, opener=None):
    """The member names of ``team``; raises ``TeamsApiError``."""
    if not isinstance(base, str) or not base.startswith(("https://", "http://")):
        raise TeamsApiError("teams_api_url %r is not an http(s) URL" % (base,))
    request = Request(team_url(base, team), headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", "Bearer %s" % token)
    opener = opener or build_opener(ProxyHandler({}))
    try:
        response = opener.open(request, timeout=timeout)
        try:
            body = response.read(MAX_ANSWER + 1)
        finally:
            response.close()
    except HTTPError as err:
        if err.code in (401, 403):
            raise TeamsApiError("team %s: the Teams API refused the token (HTTP %d); check oauth_token_secret_name"
                                % (team, err.code)) from None
        if err.code == 404:
            raise TeamsApiError("team %s: unknown to the Teams API (HTTP 404)" % team) from None
        raise TeamsApiError("team %s: the Teams API answered HTTP %d" % (team, err.code)) from None
    except (socket.timeout, TimeoutError):
        raise TeamsApiError("team %s: the Teams API did not answer within %s s" % (team, timeout)) from None
    except URLError as err:
        reason = err.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise TeamsApiError("team %s: the Teams API did not answer within %s s" % (team, timeout)) from None
        raise TeamsApiError("team %s: the Teams API cannot be reached (%s)" % (team, reason)) from None
    except (OSError, ValueError) as err:
        raise TeamsApiError("team %s: the Teams API cannot be reached (%s)" % (team, type(err).__name__)) from None
    if len(body) > MAX_ANSWER:
        raise TeamsApiError("team %s: the Teams API answer is larger than %d bytes" % (team, MAX_ANSWER))
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise TeamsApiError("team %s: the Teams API answer is not JSON" % team) from None
    members = data.get("member") if isinstance(data, dict) else None
    if not isinstance(members, list) or len(members) > MAX_MEMBERS:
        raise TeamsApiError("team %s: the Teams API answer has no list 'member'" % team)
    return [m for m in members if isinstance(m, str) and m]


def api_members(config, team_id, merged, token, timeout=DEFAULT_TIMEOUT, opener=None, max_teams=50):
    """``(members, complete, errors)``: ``{team: [users]}`` for the cluster's team, the teams reachable
    from it through ``merged`` (PostgresTeam maps) and the superuser teams. ``complete`` is False when
    any team could not be read."""
    wanted = [team_id]
    for key in ("additionalTeams", "additionalSuperuserTeams"):
        for team in (merged or {}).get(key, {}).get(team_id) or []:
            wanted.append(team)
    if config.get("enable_team_superuser"):
        wanted += list(config.get("postgres_superuser_teams") or [])
    todo, seen = list(wanted), []
    while todo and len(seen) < max_teams:
        team = todo.pop(0)
        if team in seen or not isinstance(team, str) or not team:
            continue
        seen.append(team)
        todo += [t for t in (merged or {}).get("additionalTeams", {}).get(team) or [] if t not in seen]
    members, errors = {}, []
    for team in seen:
        try:
            members[team] = fetch_team(config.get("teams_api_url") or "", team, token, timeout, opener)
        except TeamsApiError as err:
            errors.append(str(err))
    return members, not errors, errors
