# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Run a command in a container: the ``pods/exec`` subresource over WebSocket, standard library only.

The API server upgrades ``GET .../pods/<pod>/exec?command=...&container=...&stdout=true&stderr=true``
to a WebSocket (RFC 6455) with one of the ``*.channel.k8s.io`` subprotocols. We offer
``v5.channel.k8s.io`` and fall back to ``v4.channel.k8s.io``; both frame every message as one channel
byte and the payload: 1 = stdout, 2 = stderr, 3 = the final status (a ``Status`` object in JSON;
``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the exit code in ``details.causes``).
v5 adds channel 255 (the client closes its stdin); we never open stdin, so it is not needed.

Connection and authentication are those of the REST client (``api.py``): server, bearer token or
basic auth, client certificate, CA, ``insecure-skip-tls-verify``, read from its transport, so a
kubeconfig or the in-cluster service account works here exactly as for the other requests.

Output is bounded: only the last ``limit`` bytes of each stream are kept (``truncated`` says that
more came). ``timeout`` bounds the whole call; a command that outlives it is reported with
``timed_out`` (it may still be running in the container). See docs/design/upgrade.md ("Kubernetes").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
STDOUT, STDERR, ERROR, CLOSE = 1, 2, 3, 255
DEFAULT_LIMIT = 64 * 1024

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def settings_from_api(api):
    """``{"server", "headers", "verify", "ca", "cert", "key"}`` of the REST client ``api`` (an ``Api``).

    The fast transport keeps them in its urllib3 pool; kubernetes.core's client in its
    ``Configuration``. Anything else (a test transport) cannot exec and says so.
    """
    transport = getattr(api, "transport", None)
    pool = getattr(transport, "pool", None)
    if pool is not None and getattr(transport, "server", None):
        kw = getattr(pool, "connection_pool_kw", {}) or {}
        return {"server": transport.server, "headers": dict(transport.headers),
                "verify": kw.get("cert_reqs") != "CERT_NONE", "ca": kw.get("ca_certs"),
                "cert": kw.get("cert_file"), "key": kw.get("key_file")}
    client = getattr(transport, "client", None)
    cfg = None
    for cand in (client, getattr(client, "client", None), getattr(getattr(client, "client", None), "client", None)):
        if cand is not None and getattr(cand, "configuration", None) is not None:
            cfg = cand.configuration
            break
    if cfg is None:
        raise KubernetesError("this Kubernetes client cannot run commands in pods (no connection settings)")
    if getattr(cfg, "proxy", None):
        raise KubernetesError("running a command in a pod through the HTTP proxy %s is not supported" % cfg.proxy)
    headers = {"User-Agent": "pgfleet/0.1.0"}
    token = cfg.get_api_key_with_prefix("authorization") if hasattr(cfg, "get_api_key_with_prefix") else None
    if token:
        headers["Authorization"] = token
    elif getattr(cfg, "username", None) and getattr(cfg, "password", None):
        raw = ("%s:%s" % (cfg.username, cfg.password)).encode("utf-8")
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
    return {"server": cfg.host, "headers": headers, "verify": bool(getattr(cfg, "verify_ssl", True)),
            "ca": getattr(cfg, "ssl_ca_cert", None), "cert": getattr(cfg, "cert_file", None),
            "key": getattr(cfg, "key_file", None)}


class _Tail(object):
    """The last ``limit`` bytes written, and whether anything was dropped."""

    def __init__(self, limit):
        self.limit = max(0, int(limit))
        self.buf = bytearray()
        self.total = 0

    def write(self, data):
        self.total += len(data)
        self.buf.extend(data)
        if len(self.buf) > self.limit:
            del self.buf[:len(self.buf) - self.limit]

    @property
    def truncated(self):
        return self.total > len(self.buf)

    def text(self):
        return bytes(self.buf).decode("utf-8", "replace")


def exit_code_of(status):
    """(exit code or None, message) of the status channel's ``Status`` object."""
    if not isinstance(status, dict):
        return None, "no status from the API server"
    if status.get("status") == "Success":
        return 0, ""
    message = status.get("message") or status.get("reason") or "failed"
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), message
                except (TypeError, ValueError):
                    break
    return None, message


class WebSocket(object):
    """A minimal RFC 6455 client over one socket (client frames masked, server frames not)."""

    def __init__(self, sock, rest=b""):
        self.sock = sock
        self.rest = bytearray(rest)
        self.closed = False

    def _read(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(max(65536, n - len(self.rest)))
            if not chunk:
                raise EOFError("connection closed")
            self.rest.extend(chunk)
        out = bytes(self.rest[:n])
        del self.rest[:n]
        return out

    def send(self, opcode, payload=b""):
        head = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head.append(0x80 | n)
        elif n < 65536:
            head.append(0x80 | 126)
            head.extend(struct.pack("!H", n))
        else:
            head.append(0x80 | 127)
            head.extend(struct.pack("!Q", n))
        mask = os.urandom(4)
        head.extend(mask)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(bytearray(payload)))
        self.sock.sendall(bytes(head) + masked)

    def frame(self):
        """(fin, opcode, payload) of the next frame."""
        b0, b1 = bytearray(self._read(2))
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(n) if n else b""
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(bytearray(payload)))
        return fin, opcode, payload

    def message(self):
        """(opcode, payload) of the next data or close message; pings are answered on the way."""
        parts, first = [], None
        while True:
            fin, opcode, payload = self.frame()
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                return OP_CLOSE, payload
            if first is None:
                first = opcode
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def close(self, code=1000):
        if not self.closed:
            self.closed = True
            try:
                self.send(OP_CLOSE, struct.pack("!H", code))
            except (OSError, socket.error):
                pass


def _connect(settings, timeout):
    url = urlsplit(settings["server"])
    https = url.scheme == "https"
    host = url.hostname
    port = url.port or (443 if https else 80)
    sock = socket.create_connection((host, port), timeout=timeout)
    if https:
        ctx = ssl.create_default_context(cafile=settings.get("ca") or None)
        if not settings.get("verify", True):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if settings.get("cert"):
            ctx.load_cert_chain(settings["cert"], settings.get("key") or None)
        sock = ctx.wrap_socket(sock, server_hostname=host)
    netloc = host if (https and port == 443) or (not https and port == 80) else "%s:%d" % (host, port)
    if ":" in host and not host.startswith("["):
        netloc = "[%s]" % host if netloc == host else "[%s]:%d" % (host, port)
    return sock, netloc, url.path.rstrip("/")


def _handshake(sock, netloc, path, headers, protocols):
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % netloc, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Protocol: %s" % ", ".join(protocols)]
    for name, value in sorted(headers.items()):
        if name.lower() not in ("accept", "content-type", "connection", "upgrade", "host"):
            lines.append("%s: %s" % (name, value))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise KubernetesError("the API server closed the connection during the WebSocket handshake",
                                  path=path.split("?")[0])
        data.extend(chunk)
        if len(data) > 65536:
            raise KubernetesError("the API server's answer to the WebSocket handshake has no end of headers")
    head, _sep, rest = bytes(data).partition(b"\r\n\r\n")
    status_line, _nl, header_text = head.decode("latin-1").partition("\r\n")
    try:
        status = int(status_line.split(" ")[1])
    except (IndexError, ValueError) as exc:
        raise KubernetesError("not an HTTP answer to the WebSocket handshake: %r" % status_line[:200]) from exc
    answer = {}
    for line in header_text.split("\r\n"):
        name, _c, value = line.partition(":")
        answer[name.strip().lower()] = value.strip()
    if status != 101:
        body = bytearray(rest)
        length = int(answer.get("content-length") or 0)
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                break
            body.extend(chunk)
        text = bytes(body).decode("utf-8", "replace")
        try:
            message = json.loads(text).get("message") or text
        except (ValueError, AttributeError):
            message = text
        raise KubernetesError("exec %s failed (HTTP %s): %s" % (path.split("?")[0], status, message[:500]),
                              status=status, path=path.split("?")[0], method="GET")
    expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")
    if answer.get("sec-websocket-accept") != expected:
        raise KubernetesError("the API server's Sec-WebSocket-Accept does not match the key sent")
    protocol = answer.get("sec-websocket-protocol") or ""
    if protocol not in protocols:
        raise KubernetesError("the API server chose the exec protocol %r; pgfleet speaks %s"
                              % (protocol, ", ".join(protocols)))
    return protocol, rest


def exec_path(namespace, pod, command, container=None):
    query = [("command", str(c)) for c in command]
    if container:
        query.append(("container", container))
    query += [("stdin", "false"), ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    return "/api/v1/namespaces/%s/pods/%s/exec?%s" % (quote(namespace, safe=""), quote(pod, safe=""),
                                                      urlencode(query))


def run(settings, namespace, pod, command, container=None, timeout=300, limit=DEFAULT_LIMIT,
        protocols=PROTOCOLS, monotonic=time.monotonic):
    """Run ``command`` (a list) in ``pod``; returns a dict:

    ``exit_code`` (None when unknown: timed out, or the API refused with a non-exit status),
    ``stdout``/``stderr`` (the last ``limit`` bytes each, as text), ``truncated``, ``status`` (the
    status channel's object), ``message``, ``timed_out``, ``protocol``.
    Raises :class:`KubernetesError` when the exec cannot start (HTTP error, no WebSocket).
    """
    if not command:
        raise KubernetesError("exec needs a command")
    deadline = monotonic() + timeout
    try:
        sock, netloc, prefix = _connect(settings, min(timeout, 30))
    except (OSError, socket.error, ssl.SSLError) as exc:
        raise KubernetesError("cannot connect to the Kubernetes API %s for exec: %s"
                              % (settings.get("server"), exc)) from exc
    out, err = _Tail(limit), _Tail(limit)
    result = {"exit_code": None, "status": None, "message": "", "timed_out": False, "protocol": None}
    try:
        path = prefix + exec_path(namespace, pod, command, container)
        protocol, rest = _handshake(sock, netloc, path, settings.get("headers") or {}, tuple(protocols))
        result["protocol"] = protocol
        ws = WebSocket(sock, rest)
        status_raw = bytearray()
        while True:
            left = deadline - monotonic()
            if left <= 0:
                raise socket.timeout()
            sock.settimeout(left)
            try:
                opcode, payload = ws.message()
            except EOFError:
                break
            if opcode == OP_CLOSE:
                ws.close()
                break
            if not payload:
                continue
            channel, data = bytearray(payload[:1])[0], payload[1:]
            if channel == STDOUT:
                out.write(data)
            elif channel == STDERR:
                err.write(data)
            elif channel == ERROR:
                status_raw.extend(data)
        if status_raw:
            try:
                result["status"] = json.loads(bytes(status_raw).decode("utf-8", "replace"))
            except ValueError:
                result["status"] = {"status": "Failure", "message": bytes(status_raw).decode("utf-8", "replace")}
        result["exit_code"], result["message"] = exit_code_of(result["status"])
    except socket.timeout:
        result["timed_out"] = True
        result["message"] = "no end of the command within %ss; it may still be running in %s" % (timeout, pod)
    except (OSError, socket.error, ssl.SSLError) as exc:
        result["message"] = "the exec connection broke: %s" % exc
    finally:
        try:
            sock.close()
        except (OSError, socket.error):
            pass
    result.update(stdout=out.text(), stderr=err.text(), truncated=out.truncated or err.truncated)
    return result


def exec_in_pod(api, namespace, pod, command, container=None, timeout=300, limit=DEFAULT_LIMIT):
    """:func:`run` with the connection settings of ``api``; the request is added to ``api.log``."""
    settings = settings_from_api(api)
    path = "/api/v1/namespaces/%s/pods/%s/exec" % (namespace, pod)
    try:
        result = run(settings, namespace, pod, command, container=container, timeout=timeout, limit=limit)
    except KubernetesError as exc:
        api.log.append({"method": "GET", "path": path, "status": exc.context.get("status")})
        raise
    api.log.append({"method": "GET", "path": path, "status": 101})
    return result
