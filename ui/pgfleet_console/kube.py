"""A small Kubernetes REST client that always speaks with the CALLER's identity.

The console never holds a credential of its own in multi-user mode: every request carries the bearer
token of the person in front of the browser, so the API server's RBAC decides what they may do. In
single-user mode the token comes from a kubeconfig or the pod's service account (``Target``).
"""

import base64
import http.cookiejar
import json
import os
import tempfile
import threading
import urllib.parse

import requests
import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
GROUP = "acid.zalan.do"
VERSION = "v1"
PLURAL = "postgresqls"
USER_AGENT = "pgfleet-console/0.1"


class KubeError(Exception):
    """The API answered with an error, or could not be reached (``status`` None)."""

    def __init__(self, status, reason, message, path=None):
        super(KubeError, self).__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.path = path

    @property
    def forbidden(self):
        return self.status == 403

    def describe(self):
        if self.status is None:
            return "The Kubernetes API is unreachable: %s" % self.message
        if self.status == 401:
            return "The Kubernetes API did not accept your token (401 Unauthorized): sign in again"
        if self.status == 403:
            return "Forbidden by the Kubernetes API (403): %s" % self.message
        return "The Kubernetes API answered %s %s: %s" % (self.status, self.reason or "", self.message)


class Target(object):
    """Where the API is (server URL, CA) and, in single-user mode, whose token to use."""

    def __init__(self, server, ca_file=None, verify=True, token=None, namespace="default"):
        self.server = server.rstrip("/")
        self.ca_file = ca_file
        self.verify = verify
        self.token = token  # only in single-user mode (kubeconfig or in-cluster)
        self.namespace = namespace or "default"
        self._session = None
        self._lock = threading.Lock()

    def session(self):
        """One pooled HTTP session for every caller: identities travel in each request's header, and the
        session keeps no cookies, so nothing of one caller sticks to the next."""
        with self._lock:
            if self._session is None:
                s = requests.Session()
                s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
                s.trust_env = False
                self._session = s
            return self._session

    @classmethod
    def in_cluster(cls):
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubeError(None, None, "not running in a pod (KUBERNETES_SERVICE_HOST is not set)")
        if ":" in host:
            host = "[%s]" % host
        with open(os.path.join(SA_DIR, "token")) as fh:
            token = fh.read().strip()
        ns = "default"
        if os.path.exists(os.path.join(SA_DIR, "namespace")):
            with open(os.path.join(SA_DIR, "namespace")) as fh:
                ns = fh.read().strip() or "default"
        return cls("https://%s:%s" % (host, port), ca_file=os.path.join(SA_DIR, "ca.crt"), token=token, namespace=ns)

    @classmethod
    def from_kubeconfig(cls, path, context=None, with_token=True):
        """Server, CA and (``with_token``) the bearer token of a kubeconfig's context. Token users only:
        exec plugins and client certificates are for kubectl, not for a console that acts per caller."""
        with open(os.path.expanduser(path)) as fh:
            cfg = yaml.safe_load(fh) or {}
        ctx_name = context or cfg.get("current-context")

        def named(section, name):
            for item in cfg.get(section) or []:
                if item.get("name") == name:
                    return item.get(section[:-1]) or {}
            raise KubeError(None, None, "kubeconfig %s has no %s named %r" % (path, section[:-1], name))

        ctx = named("contexts", ctx_name)
        cluster = named("clusters", ctx.get("cluster"))
        ca_file, verify = None, not cluster.get("insecure-skip-tls-verify", False)
        if cluster.get("certificate-authority-data"):
            fd, ca_file = tempfile.mkstemp(prefix="pgfleet-console-ca-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64decode(cluster["certificate-authority-data"]))
        elif cluster.get("certificate-authority"):
            ca_file = os.path.join(os.path.dirname(os.path.abspath(path)), cluster["certificate-authority"])
        token = None
        if with_token:
            user = named("users", ctx.get("user"))
            token = user.get("token")
            if not token and user.get("tokenFile"):
                with open(user["tokenFile"]) as fh:
                    token = fh.read().strip()
            if not token:
                raise KubeError(None, None, "the kubeconfig user %r has no bearer token; start the console in "
                                "multi-user mode (--auth token) and sign in with a token" % ctx.get("user"))
        return cls(cluster["server"], ca_file=ca_file, verify=verify, token=token,
                   namespace=ctx.get("namespace") or "default")


class Kube(object):
    """One caller's view of the API. ``token``: the caller's bearer token."""

    def __init__(self, target, token, timeout=10.0, session=None):
        self.target = target
        self.token = token
        self.timeout = timeout
        self.http = session or target.session()

    # --- transport ----------------------------------------------------------------------------
    def request(self, method, path, body=None, query=None, content_type="application/json", raw=False):
        url = self.target.server + path
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = "Bearer %s" % self.token
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        verify = self.target.ca_file or self.target.verify
        try:
            resp = self.http.request(method, url, params=query, data=data, headers=headers, timeout=self.timeout,
                                     verify=verify, allow_redirects=False)
        except requests.RequestException as err:
            raise KubeError(None, None, "%s (%s)" % (self.target.server, err.__class__.__name__), path) from None
        if resp.status_code >= 400:
            message, reason = resp.text[:500], None
            try:
                status = resp.json()
                message, reason = status.get("message") or message, status.get("reason")
            except ValueError:
                pass
            raise KubeError(resp.status_code, reason, message, path)
        if raw:
            return resp.content
        try:
            return resp.json()
        except ValueError:
            return resp.text

    # --- paths --------------------------------------------------------------------------------
    @staticmethod
    def _q(part):
        return urllib.parse.quote(part, safe="")

    def pg_path(self, namespace=None, name=None):
        path = "/apis/%s/%s" % (GROUP, VERSION)
        if namespace:
            path += "/namespaces/%s" % self._q(namespace)
        path += "/" + PLURAL
        if name:
            path += "/" + self._q(name)
        return path

    def core_path(self, plural, namespace, name=None, group_version="v1"):
        base = "/api/v1" if group_version == "v1" else "/apis/%s" % group_version
        path = "%s/namespaces/%s/%s" % (base, self._q(namespace), plural)
        if name:
            path += "/" + self._q(name)
        return path

    # --- postgresql objects -------------------------------------------------------------------
    def list_clusters(self, namespaces=None):
        """(items, problems): every postgresql the caller may list. Cluster-wide first; when that is
        forbidden, namespace by namespace (``namespaces``, else the ones the caller may list, else the
        default namespace). A forbidden namespace is a problem, not an empty list."""
        problems = []
        if not namespaces:
            try:
                return self.request("GET", self.pg_path()).get("items") or [], problems
            except KubeError as err:
                if err.status != 403:
                    raise
                problems.append("listing clusters in all namespaces is forbidden; showing the namespaces you may see")
            try:
                namespaces = [n["metadata"]["name"] for n in self.request("GET", "/api/v1/namespaces").get("items") or []]
            except KubeError as err:
                if err.status != 403:
                    raise
                namespaces = [self.target.namespace]
        items = []
        for ns in namespaces:
            try:
                items.extend(self.request("GET", self.pg_path(ns)).get("items") or [])
            except KubeError as err:
                if err.status != 403:
                    raise
                problems.append("namespace %s: %s" % (ns, err.describe()))
        return items, problems

    def get_cluster(self, namespace, name):
        return self.request("GET", self.pg_path(namespace, name))

    def create_cluster(self, cr, dry_run=False):
        ns = cr["metadata"].get("namespace") or self.target.namespace
        return self.request("POST", self.pg_path(ns), body=cr, query={"dryRun": "All"} if dry_run else None)

    def replace_cluster(self, cr):
        ns, name = cr["metadata"]["namespace"], cr["metadata"]["name"]
        return self.request("PUT", self.pg_path(ns, name), body=cr)

    def patch_cluster(self, namespace, name, patch):
        return self.request("PATCH", self.pg_path(namespace, name), body=patch,
                            content_type="application/merge-patch+json")

    def delete_cluster(self, namespace, name, uid=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
        if uid:
            body["preconditions"] = {"uid": uid}
        return self.request("DELETE", self.pg_path(namespace, name), body=body)

    # --- what belongs to a cluster ------------------------------------------------------------
    def list_in(self, plural, namespace, selector=None, field_selector=None, group_version="v1"):
        query = {}
        if selector:
            query["labelSelector"] = selector
        if field_selector:
            query["fieldSelector"] = field_selector
        return self.request("GET", self.core_path(plural, namespace, group_version=group_version),
                            query=query or None).get("items") or []

    def get_in(self, plural, namespace, name, group_version="v1"):
        try:
            return self.request("GET", self.core_path(plural, namespace, name, group_version=group_version))
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def pod_proxy(self, namespace, pod, port, path=""):
        """GET through the API server's pod proxy (``pods/proxy``: the caller needs that right)."""
        p = "/api/v1/namespaces/%s/pods/%s:%d/proxy/%s" % (self._q(namespace), self._q(pod), int(port),
                                                           path.lstrip("/"))
        return self.request("GET", p, raw=True)
