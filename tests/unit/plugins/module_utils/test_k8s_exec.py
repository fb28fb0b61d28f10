"""k8s/exec.py: the pods/exec WebSocket client against a tiny WebSocket server started by each test."""

import base64
import hashlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s import exec as kexec
from ansible_collections.pgfleet.postgres.tests.k8s_double.execs import frame

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_client_frame(conn):
    def read(n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    b0, b1 = read(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read(8))[0]
    assert b1 & 0x80, "client frames must be masked (RFC 6455 5.3)"
    mask = read(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read(n)))
    return b0 & 0x0F, payload


class TinyServer(object):
    """Accepts one connection, checks the handshake, answers with ``script`` (bytes to send after the 101)."""

    def __init__(self, script=b"", protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"), status=101,
                 body=b"", bad_accept=False, hold=0.0, expect_pong=False, tls=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.tls = tls  # an ssl.SSLContext (server side)
        self.peer_cert = None
        self.port = self.sock.getsockname()[1]
        self.script, self.protocols, self.status, self.body = script, protocols, status, body
        self.bad_accept, self.hold, self.expect_pong = bad_accept, hold, expect_pong
        self.request = None
        self.client_frames = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _addr = self.sock.accept()
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused us
                self.peer_cert = conn.getpeercert()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head = data.split(b"\r\n\r\n")[0].decode("latin-1")
            lines = head.split("\r\n")
            headers = dict((k.strip().lower(), v.strip()) for k, _c, v in (line.partition(":") for line in lines[1:]))
            self.request = {"line": lines[0], "headers": headers}
            if self.status != 101:
                conn.sendall(("HTTP/1.1 %d Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                              % (self.status, len(self.body))).encode("latin-1") + self.body)
                return
            offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
            chosen = next((p for p in self.protocols if p in offered), "")
            key = headers["sec-websocket-key"] + ("x" if self.bad_accept else "")
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n" % (accept, chosen)).encode())
            conn.sendall(self.script)
            if self.expect_pong:
                self.client_frames.append(read_client_frame(conn))
            if self.hold:
                threading.Event().wait(self.hold)
            conn.settimeout(2)
            try:
                while True:
                    self.client_frames.append(read_client_frame(conn))
            except (EOFError, OSError):
                pass
        finally:
            conn.close()
            self.sock.close()

    @property
    def settings(self):
        scheme = "https" if self.tls is not None else "http"
        return {"server": "%s://127.0.0.1:%d" % (scheme, self.port), "headers": {"Authorization": "Bearer t0k"}}


def status_frame(code):
    if code == 0:
        status = {"status": "Success", "metadata": {}}
    else:
        status = {"status": "Failure", "reason": "NonZeroExitCode", "message": "exit %d" % code,
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return frame(2, b"\x03" + json.dumps(status).encode())


CLOSE = frame(8, struct.pack("!H", 1000))


def test_stdout_stderr_and_exit_code_zero_with_v5():
    srv = TinyServer(frame(2, b"\x01hello ") + frame(2, b"\x01world\n") + frame(2, b"\x02warn\n") + status_frame(0) + CLOSE)
    out = kexec.run(srv.settings, "ns1", "pod-0", ["/bin/su", "postgres", "-c", "echo hi | tee x"], container="postgres",
                    timeout=10)
    srv.thread.join(5)
    assert out["exit_code"] == 0 and out["stdout"] == "hello world\n" and out["stderr"] == "warn\n"
    assert out["protocol"] == "v5.channel.k8s.io" and not out["truncated"] and not out["timed_out"]
    line = srv.request["line"]
    assert line.startswith("GET /api/v1/namespaces/ns1/pods/pod-0/exec?command=%2Fbin%2Fsu&command=postgres&command=-c&")
    assert "container=postgres" in line and "stdout=true" in line and "stdin=false" in line
    assert srv.request["headers"]["authorization"] == "Bearer t0k"
    assert srv.request["headers"]["sec-websocket-protocol"] == "v5.channel.k8s.io, v4.channel.k8s.io"
    assert srv.client_frames and srv.client_frames[0][0] == 8  # the close is answered


def test_v4_fallback_and_non_zero_exit_code():
    srv = TinyServer(frame(2, b"\x01ERROR: boom\n") + status_frame(3) + CLOSE, protocols=("v4.channel.k8s.io",))
    out = kexec.run(srv.settings, "ns", "p", ["false"], timeout=10)
    assert out["protocol"] == "v4.channel.k8s.io"
    assert out["exit_code"] == 3 and out["stdout"] == "ERROR: boom\n" and "exit 3" in out["message"]


def test_output_is_bounded_to_the_last_bytes():
    body = b"".join(frame(2, b"\x01" + (b"%05d\n" % i)) for i in range(1000))
    srv = TinyServer(body + status_frame(0) + CLOSE)
    out = kexec.run(srv.settings, "ns", "p", ["seq"], timeout=10, limit=60)
    assert out["truncated"] and len(out["stdout"]) == 60 and out["stdout"].endswith("00999\n")


def test_fragmented_message_large_frame_and_ping():
    big = b"\x01" + b"a" * 70000
    script = (frame(9, b"ping?") + frame(2, big[:30000], fin=False) + frame(0, big[30000:], fin=True)
              + status_frame(0) + CLOSE)
    srv = TinyServer(script, expect_pong=True)
    out = kexec.run(srv.settings, "ns", "p", ["cat"], timeout=10, limit=100000)
    srv.thread.join(5)
    assert len(out["stdout"]) == 70000 and out["exit_code"] == 0
    assert srv.client_frames[0] == (0xA, b"ping?")


def test_a_refused_exec_raises_with_the_api_message():
    body = json.dumps({"kind": "Status", "message": 'pods "p" not found', "code": 404}).encode()
    srv = TinyServer(status=404, body=body)
    with pytest.raises(KubernetesError) as err:
        kexec.run(srv.settings, "ns", "p", ["true"], timeout=10)
    assert err.value.context["status"] == 404 and 'pods "p" not found' in err.value.msg


def test_a_wrong_accept_key_is_refused():
    srv = TinyServer(status_frame(0) + CLOSE, bad_accept=True)
    with pytest.raises(KubernetesError, match="Sec-WebSocket-Accept"):
        kexec.run(srv.settings, "ns", "p", ["true"], timeout=10)


def test_an_unknown_protocol_is_refused():
    srv = TinyServer(status_frame(0) + CLOSE, protocols=("channel.k8s.io",))
    with pytest.raises(KubernetesError, match="exec protocol"):
        kexec.run(srv.settings, "ns", "p", ["true"], timeout=10)


def test_timeout_reports_what_came_so_far():
    srv = TinyServer(frame(2, b"\x01step 1\n"), hold=3)
    out = kexec.run(srv.settings, "ns", "p", ["sleep", "100"], timeout=0.5)
    assert out["timed_out"] and out["exit_code"] is None and out["stdout"] == "step 1\n"
    assert "may still be running" in out["message"]


def test_a_connection_closed_without_status_has_no_exit_code():
    srv = TinyServer(frame(2, b"\x02oops\n"))
    srv.hold = 0
    out = kexec.run(srv.settings, "ns", "p", ["true"], timeout=5)
    assert out["exit_code"] is None and out["stderr"] == "oops\n"


def test_exit_code_of_statuses():
    assert kexec.exit_code_of({"status": "Success"}) == (0, "")
    assert kexec.exit_code_of({"status": "Failure", "message": "container not found"}) == (None, "container not found")
    assert kexec.exit_code_of(None)[0] is None


class _Pool(object):
    connection_pool_kw = {"cert_reqs": "CERT_REQUIRED", "ca_certs": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}


class _FastLike(object):
    server = "https://api.example:6443"
    headers = {"Authorization": "Bearer abc", "User-Agent": "pgfleet/0.1.0", "Accept": "application/json"}
    pool = _Pool()


class _ApiLike(object):
    def __init__(self, transport):
        self.transport = transport
        self.log = []


def test_settings_come_from_the_rest_client():
    s = kexec.settings_from_api(_ApiLike(_FastLike()))
    assert s == {"server": "https://api.example:6443", "headers": _FastLike.headers, "verify": True,
                 "ca": "/ca.pem", "cert": "/c.pem", "key": "/k.pem"}


def test_a_transport_without_settings_cannot_exec():
    with pytest.raises(KubernetesError, match="cannot run commands"):
        kexec.settings_from_api(_ApiLike(object()))


def test_exec_in_pod_logs_the_request():
    srv = TinyServer(status_frame(0) + CLOSE)

    class T(object):
        server = "http://127.0.0.1:%d" % srv.port
        headers = {}
        pool = type("P", (), {"connection_pool_kw": {}})()

    api = _ApiLike(T())
    out = kexec.exec_in_pod(api, "ns", "p", ["true"], timeout=10)
    assert out["exit_code"] == 0 and api.log == [{"method": "GET", "path": "/api/v1/namespaces/ns/pods/p/exec", "status": 101}]


def _self_signed(tmp_path, name):
    key, crt = str(tmp_path / (name + ".key")), str(tmp_path / (name + ".crt"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "1",
                    "-subj", "/CN=%s" % name, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make test certificates")
def test_tls_with_the_ca_and_a_client_certificate(tmp_path):
    server_crt, server_key = _self_signed(tmp_path, "server")
    client_crt, client_key = _self_signed(tmp_path, "client")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server_crt, server_key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_crt)
    srv = TinyServer(frame(2, b"\x01secure\n") + status_frame(0) + CLOSE, tls=ctx)
    settings = dict(srv.settings, ca=server_crt, cert=client_crt, key=client_key, verify=True)
    out = kexec.run(settings, "ns", "p", ["true"], timeout=10)
    srv.thread.join(5)
    assert out["exit_code"] == 0 and out["stdout"] == "secure\n"
    assert dict(x[0] for x in srv.peer_cert["subject"])["commonName"] == "client"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make test certificates")
def test_tls_refuses_an_unknown_server_unless_verification_is_off(tmp_path):
    server_crt, server_key = _self_signed(tmp_path, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(server_crt, server_key)
    srv = TinyServer(status_frame(0) + CLOSE, tls=ctx)
    with pytest.raises(KubernetesError, match="cannot connect"):
        kexec.run(dict(srv.settings, verify=True), "ns", "p", ["true"], timeout=5)
    srv2 = TinyServer(status_frame(0) + CLOSE, tls=ctx)
    assert kexec.run(dict(srv2.settings, verify=False), "ns", "p", ["true"], timeout=10)["exit_code"] == 0


class _Configuration(object):
    host = "https://10.0.0.1:6443"
    ssl_ca_cert = "/sa/ca.crt"
    cert_file = None
    key_file = None
    verify_ssl = True
    proxy = None

    def get_api_key_with_prefix(self, name):
        return "Bearer from-core" if name == "authorization" else None


def test_settings_from_kubernetes_core_client():
    core = type("Core", (), {"client": type("Dyn", (), {"client": type("ApiClient", (), {"configuration": _Configuration()})()})()})()
    s = kexec.settings_from_api(_ApiLike(core))
    assert s["server"] == "https://10.0.0.1:6443" and s["ca"] == "/sa/ca.crt" and s["verify"] is True
    assert s["headers"]["Authorization"] == "Bearer from-core"
    cfg = _Configuration()
    cfg.proxy = "http://proxy:3128"
    core.client.client.configuration = cfg
    with pytest.raises(KubernetesError, match="proxy"):
        kexec.settings_from_api(_ApiLike(core))
