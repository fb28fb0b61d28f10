"""``pods/<pod>/exec`` of the API double: a WebSocket (RFC 6455) answering with the
``v5.channel.k8s.io`` / ``v4.channel.k8s.io`` framing, and commands the tests control.

THIS IS A TEST DOUBLE. No container runs: a command is answered by the first handler registered
for it (the latest registration first). A handler gets an :class:`ExecCall` and returns
``(exit_code, stdout, stderr)``; a command no handler takes ends with exit code 127 and says so.

    double.execs.register("inplace_upgrade.py", lambda call: (0, "ok\\n", ""))
    double.execs.upgrade_script(succeed=True)   # Spilo's script: the running major becomes PGVERSION
    double.execs.calls                          # every exec: namespace, pod, container, command, exit code
"""

import base64
import hashlib
import json
import socket
import struct
import threading

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]


class ExecCall(object):
    """What a handler sees: ``double``, ``namespace``, ``pod`` (the stored object), ``container``, ``command``."""

    def __init__(self, double, namespace, pod, container, command):
        self.double = double
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.command = list(command)

    @property
    def text(self):
        return " ".join(self.command)

    def env(self, name):
        for c in (self.pod.get("spec") or {}).get("containers") or []:
            if c.get("name") == self.container:
                for env in c.get("env") or []:
                    if env.get("name") == name:
                        return env.get("value")
        return None


class Execs(object):
    """The registry of command handlers and the log of exec calls."""

    def __init__(self, double):
        self.double = double
        self.handlers = []      # [(matcher, handler)], the latest first
        self.calls = []
        self.protocols = list(PROTOCOLS)  # what the double accepts, in its order of preference
        self.lock = threading.Lock()

    def register(self, match, handler):
        """``match``: a substring of the command line (joined by spaces) or a callable(command list) -> bool."""
        self.handlers.insert(0, (match, handler))
        return handler

    def clear(self):
        self.handlers = []
        self.calls = []

    def find(self, command):
        line = " ".join(command)
        for match, handler in self.handlers:
            if (callable(match) and match(list(command))) or (not callable(match) and match in line):
                return handler
        return None

    def upgrade_script(self, succeed=True, output=None):
        """A handler for Spilo's ``/scripts/inplace_upgrade.py``: on success the fake Patroni's running
        major (``server_version``) becomes the pod's PGVERSION; on failure nothing changes."""

        def handler(call):
            target = call.env("PGVERSION")
            if not succeed:
                return 1, output if output is not None else "ERROR: upgrade failed (k8s double)\n", ""
            patroni = self.double.controllers.patroni if self.double.controllers else None
            if patroni is not None and target and target.isdigit():
                patroni.set_server_version(call.namespace, call.pod, int(target) * 10000)
            return 0, output if output is not None else "upgrade to %s done (k8s double)\n" % target, ""

        return self.register("/scripts/inplace_upgrade.py", handler)

    def run(self, call):
        handler = self.find(call.command)
        if handler is None:
            code, out, err = 127, "", "k8s double: no handler for the command %r\n" % call.text
        else:
            code, out, err = handler(call)
        with self.lock:
            self.calls.append({"namespace": call.namespace, "pod": call.pod["metadata"]["name"],
                               "container": call.container, "command": list(call.command), "exit_code": code})
        return code, out or "", err or ""


# --- the WebSocket side ---------------------------------------------------------------------------
def frame(opcode, payload, fin=True):
    """One server WebSocket frame (unmasked); the exec unit tests build theirs with it too."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 65536:
        head.append(126)
        head.extend(struct.pack("!H", n))
    else:
        head.append(127)
        head.extend(struct.pack("!Q", n))
    return bytes(head) + payload


def _status(code):
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: exit status %d" % code,
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _drain_close(rfile, sock, timeout=2.0):
    """Read the client's frames until its close frame (or EOF, or ``timeout``)."""
    try:
        sock.settimeout(timeout)
        while True:
            head = rfile.read(2)
            if len(head) < 2:
                return
            b0, b1 = bytearray(head)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", rfile.read(8))[0]
            if b1 & 0x80:
                rfile.read(4)
            rfile.read(n)
            if b0 & 0x0F == 0x8:
                return
    except (OSError, socket.error, ValueError):
        return


def serve(handler, method, namespace, pod_name, query, rec):
    """Answer one exec request on ``handler`` (the double's BaseHTTPRequestHandler).

    Returns (code, body) when the request is refused before the upgrade (the caller sends it), or
    None when the WebSocket was served (the connection is then closed)."""
    from .store import ApiError

    d = handler.double
    pod = d.get("v1", "Pod", pod_name, namespace)
    if pod is None:
        raise ApiError(404, "NotFound", 'pods "%s" not found' % pod_name)
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    container = (query.get("container") or [None])[0] or (containers[0] if containers else None)
    if container not in containers:
        raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (container, pod_name))
    if (pod.get("status") or {}).get("phase") != "Running":
        raise ApiError(400, "BadRequest", "pod %s is not running (phase %s)"
                       % (pod_name, (pod.get("status") or {}).get("phase")))
    command = query.get("command") or []
    if not command:
        raise ApiError(400, "BadRequest", "you must specify at least 1 command")
    if (handler.headers.get("Upgrade") or "").lower() != "websocket":
        raise ApiError(400, "BadRequest", "Upgrade request required")
    offered = [p.strip() for p in (handler.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
    chosen = next((p for p in d.execs.protocols if p in offered), None)
    if chosen is None:
        raise ApiError(400, "BadRequest", "none of the offered subprotocols %s is supported" % offered)
    key = handler.headers.get("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")
    rec["status"] = 101
    rec["exec"] = True
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", chosen)
    handler.end_headers()
    handler.wfile.flush()
    code, out, err = d.execs.run(ExecCall(d, namespace, pod, container, command))
    frames = []
    for channel, text in ((1, out), (2, err)):
        data = text.encode("utf-8")
        for i in range(0, len(data), 16384):
            frames.append(frame(0x2, bytes([channel]) + data[i:i + 16384]))
    frames.append(frame(0x2, bytes([3]) + json.dumps(_status(code)).encode("utf-8")))
    frames.append(frame(0x8, struct.pack("!H", 1000)))
    try:
        handler.wfile.write(b"".join(frames))
        handler.wfile.flush()
        _drain_close(handler.rfile, handler.connection)
    except (OSError, socket.error):
        pass
    handler.close_connection = True
    return None
