# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The local cluster's etcd: its command line, health, and authentication.

etcd listens on loopback only (client and peer port). Anyone on this machine can reach a
loopback port, so the DCS must not trust its callers: right after the first start we create a
``root`` user (kept for us, never given to Patroni) and a ``patroni`` user whose role may read and
write only the ``/pgfleet/`` prefix, then enable etcd's authentication. From then on every key
read or write needs a token from ``/v3/auth/authenticate``; an anonymous ``/v3/kv/put`` is refused.
The passwords live in the state file and in each member's ``patroni.yml`` (both mode 0600, owned
by the service user). All calls go through etcd's JSON gateway (``/v3/...``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import time

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

try:
    from urllib.error import HTTPError, URLError
except ImportError:  # pragma: no cover
    HTTPError = URLError = Exception

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError

LOOPBACK = "127.0.0.1"
KEY_PREFIX = "/pgfleet/"  # Patroni's namespace on the local target
PATRONI_USER = "patroni"
ROOT_USER = "root"


class EtcdError(PgfleetError):
    """etcd did not start, or refused to set up its users."""


def argv(etcd_bin, cluster, data_dir, client_port, peer_port):
    """etcd's command line: one member, v3 only, both ports on loopback."""
    peer = "http://%s:%d" % (LOOPBACK, peer_port)
    client = "http://%s:%d" % (LOOPBACK, client_port)
    name = "etcd-%s" % cluster
    return [etcd_bin, "--name", name, "--data-dir", data_dir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "%s=%s" % (name, peer),
            "--initial-cluster-state", "new", "--initial-cluster-token", name,
            "--enable-v2=false", "--log-outputs", "stderr", "--logger", "zap"]


def patroni_section(client_port, credentials):
    """Patroni's ``etcd3`` section: the loopback client URL and the ``patroni`` user."""
    return {"hosts": ["%s:%d" % (LOOPBACK, client_port)],
            "username": credentials["patroni"]["username"], "password": credentials["patroni"]["password"]}


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def prefix_end(prefix):
    """The first key after every key starting with ``prefix`` (etcd's range end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def call(port, path, body=None, token=None, timeout=5.0):
    """POST (or GET without ``body``) to etcd's JSON gateway; ``(status, answer)``; raises on no answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    data = None if body is None else json.dumps(body)
    url = "http://%s:%d%s" % (LOOPBACK, port, path)
    try:
        resp = open_url(url, data=data, method="GET" if body is None else "POST", headers=headers,
                        timeout=timeout, follow_redirects="none", use_proxy=False)
        status, raw = resp.status, resp.read()
    except HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return status, {"error": raw.decode("utf-8", "replace")[:200]}


def healthy(port):
    try:
        status, answer = call(port, "/health", timeout=1.0)
    except (URLError, OSError, ValueError, UrlsConnectionError):
        return False
    return status == 200 and str(answer.get("health")) == "true"


def wait_healthy(port, alive, timeout, log_tail):
    """Poll ``/health`` until etcd answers; ``alive()`` false stops early. ``log_tail()`` for the error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(port):
            return
        if not alive():
            break
        time.sleep(0.1)
    raise EtcdError("etcd on port %d did not become healthy; last log lines: %s" % (port, " | ".join(log_tail())))


def authenticate(port, user):
    """A token for ``user`` (``{"username", "password"}``), or None when etcd refuses them."""
    status, answer = call(port, "/v3/auth/authenticate", {"name": user["username"], "password": user["password"]})
    return answer.get("token") if status == 200 else None


def _step(port, path, body, tolerate=("already exists",)):
    status, answer = call(port, path, body)
    if status == 200:
        return
    message = str(answer.get("message") or answer.get("error") or answer)
    if any(t in message for t in tolerate):
        return
    raise EtcdError("etcd refused %s: HTTP %s %s" % (path, status, message[:200]))


def enable_auth(port, credentials):
    """Create the root and patroni users and roles, then turn authentication on. Idempotent: when
    authentication is already on, it only checks that our root user still gets a token."""
    if authenticate(port, credentials["root"]) is not None:
        return False
    root, patroni = credentials["root"], credentials["patroni"]
    _step(port, "/v3/auth/role/add", {"name": "root"})
    _step(port, "/v3/auth/user/add", {"name": root["username"], "password": root["password"]})
    _step(port, "/v3/auth/user/grant", {"user": root["username"], "role": "root"})
    _step(port, "/v3/auth/role/add", {"name": PATRONI_USER})
    _step(port, "/v3/auth/role/grant", {"name": PATRONI_USER, "perm": {
        "permType": "READWRITE", "key": _b64(KEY_PREFIX), "range_end": _b64(prefix_end(KEY_PREFIX))}})
    _step(port, "/v3/auth/user/add", {"name": patroni["username"], "password": patroni["password"]})
    _step(port, "/v3/auth/user/grant", {"user": patroni["username"], "role": PATRONI_USER})
    _step(port, "/v3/auth/enable", {})
    if authenticate(port, root) is None:
        raise EtcdError("etcd authentication is on but our root user gets no token; remove the cluster "
                        "(state=absent) and create it again")
    return True


def data_dir(state_dir):
    return os.path.join(state_dir, "etcd")
