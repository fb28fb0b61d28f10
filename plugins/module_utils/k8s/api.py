# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A thin Kubernetes REST client for pgfleet's k8s_* modules, on top of kubernetes.core's client.

Authentication is exactly kubernetes.core's (the same module options and ``K8S_AUTH_*``
environment variables, in-cluster config, kubeconfig), so a playbook that works with
``kubernetes.core.k8s`` works with these modules, including under ansible-operator, whose proxy
kubeconfig arrives in ``K8S_AUTH_KUBECONFIG``.

Two transports. The fast one speaks HTTP with urllib3 and reads kubeconfig files and the in-cluster
service account itself: importing the ``kubernetes`` package costs about a second per module run,
which is most of a no-op reconcile. It handles tokens (also ``tokenFile``), client certificates,
basic auth, CA data/files, ``insecure-skip-tls-verify`` and plain-HTTP proxies such as
ansible-operator's ``localhost:8888``. Anything else (exec or auth-provider plugins, proxies,
impersonation, several kubeconfig files) goes through kubernetes.core's own client, unchanged.

What this layer adds: plain dicts in and out (no ResourceInstance), paths from a static table of
the kinds pgfleet touches (no discovery round trips for them), one error type
(:class:`KubernetesError` with the HTTP status) so that a failed read is never mistaken for an
empty answer, and a log of every request (method, path, status) returned to the caller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import json
import os
import tempfile

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    HAS_K8S_CORE = True
except ImportError as _exc:  # pragma: no cover - reported by the module
    AUTH_ARG_SPEC = {}
    HAS_K8S_CORE = False

try:
    import urllib3
    HAS_URLLIB3 = True
except ImportError:  # pragma: no cover
    HAS_URLLIB3 = False

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
USER_AGENT = "pgfleet/0.1.0"

FIELD_MANAGER = "pgfleet"

# (apiVersion, kind) -> (plural, namespaced)
KINDS = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Service"): ("services", True),
    ("v1", "Endpoints"): ("endpoints", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "Event"): ("events", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("acid.zalan.do/v1", "postgresql"): ("postgresqls", True),
    ("acid.zalan.do/v1", "OperatorConfiguration"): ("operatorconfigurations", True),
    ("acid.zalan.do/v1", "PostgresTeam"): ("postgresteams", True),
    ("zalando.org/v1", "FabricEventStream"): ("fabriceventstreams", True),
}

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def auth_argument_spec():
    """kubernetes.core's authentication options (documented by ``kubernetes.core.k8s_auth_options``)."""
    import copy

    return copy.deepcopy(AUTH_ARG_SPEC)


def obj_key(obj):
    """(apiVersion, kind, namespace, name) of an object."""
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


def describe(obj):
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return "%s %s%s" % (obj.get("kind"), (ns + "/") if ns else "", meta.get("name"))


class _Unsupported(Exception):
    """The fast transport cannot do this configuration; use kubernetes.core's client."""


def _auth_value(auth, name):
    """A module option, else its K8S_AUTH_* environment variable (kubernetes.core's rule)."""
    if auth.get(name) not in (None, ""):
        return auth[name]
    return os.environ.get("K8S_AUTH_%s" % name.upper()) or None


def _bool(value):
    if isinstance(value, bool) or value is None:
        return value
    return str(value).lower() not in ("0", "false", "no", "off")


class _Fast(object):
    """urllib3 transport with its own kubeconfig/in-cluster loading (see the module docstring)."""

    def __init__(self, auth, user_agent=None):
        if not HAS_URLLIB3 or not HAS_YAML:
            raise _Unsupported("urllib3 or PyYAML missing")
        for opt in ("proxy", "no_proxy", "proxy_headers", "impersonate_user", "impersonate_groups", "persist_config"):
            if _auth_value(auth, opt):
                raise _Unsupported(opt)
        self.headers = {"User-Agent": user_agent or USER_AGENT, "Accept": "application/json"}
        self._tmp = []
        host = _auth_value(auth, "host")
        kubeconfig = _auth_value(auth, "kubeconfig")
        context = _auth_value(auth, "context")
        token = _auth_value(auth, "api_key")
        user, password = _auth_value(auth, "username"), _auth_value(auth, "password")
        cert, key, ca = _auth_value(auth, "client_cert"), _auth_value(auth, "client_key"), _auth_value(auth, "ca_cert")
        verify = _bool(_auth_value(auth, "validate_certs"))
        if host and (token or (user and password) or (cert and key)):
            cfg = {"server": host}
        elif kubeconfig or context:
            cfg = self._kubeconfig(kubeconfig, context)
        elif os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(os.path.join(SA_DIR, "token")):
            cfg = self._in_cluster()
        else:
            cfg = self._kubeconfig(None, None)
        if host:
            cfg["server"] = host
        if token:
            cfg["token"] = token
        if user and password:
            cfg["basic"] = (user, password)
        if cert and key:
            cfg["cert"], cfg["key"] = cert, key
        if ca:
            cfg["ca"] = ca
        if verify is not None:
            cfg["verify"] = verify
        self.server = cfg["server"].rstrip("/")
        if cfg.get("token"):
            self.headers["Authorization"] = "Bearer %s" % cfg["token"]
        elif cfg.get("basic"):
            self.headers.update(urllib3.make_headers(basic_auth="%s:%s" % cfg["basic"]))
        kwargs = {"maxsize": 4, "retries": False, "timeout": urllib3.Timeout(connect=10, read=60)}
        if self.server.startswith("https://"):
            if cfg.get("verify", True):
                kwargs["cert_reqs"] = "CERT_REQUIRED"
                if cfg.get("ca"):
                    kwargs["ca_certs"] = cfg["ca"]
            else:
                kwargs["cert_reqs"] = "CERT_NONE"
                urllib3.disable_warnings()
            if cfg.get("cert"):
                kwargs["cert_file"], kwargs["key_file"] = cfg["cert"], cfg["key"]
        self.pool = urllib3.PoolManager(**kwargs)

    def _file_from_data(self, data):
        if not self._tmp:
            atexit.register(self.close)
        fd, path = tempfile.mkstemp(prefix="pgfleet-k8s-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64decode(data))
        self._tmp.append(path)
        return path

    def close(self):
        for path in self._tmp:
            try:
                os.remove(path)
            except OSError:
                pass

    def _in_cluster(self):
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if ":" in host:
            host = "[%s]" % host
        with open(os.path.join(SA_DIR, "token")) as fh:
            token = fh.read().strip()
        return {"server": "https://%s:%s" % (host, port), "token": token, "ca": os.path.join(SA_DIR, "ca.crt")}

    def _kubeconfig(self, path, context):
        if isinstance(path, dict):
            raise _Unsupported("in-memory kubeconfig")
        path = path or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        if os.pathsep in path:
            raise _Unsupported("several kubeconfig files")
        try:
            with open(os.path.expanduser(path)) as fh:
                doc = yaml.safe_load(fh) or {}
        except (IOError, OSError) as exc:
            raise KubernetesError("cannot read the kubeconfig %s: %s" % (path, exc)) from exc
        base = os.path.dirname(os.path.abspath(os.path.expanduser(path)))

        def named(section, name):
            for item in doc.get(section) or []:
                if item.get("name") == name:
                    return item.get(section[:-1]) or {}
            raise KubernetesError("kubeconfig %s has no %s named %r" % (path, section[:-1], name))

        ctx = named("contexts", context or doc.get("current-context"))
        cluster = named("clusters", ctx.get("cluster"))
        user = named("users", ctx.get("user")) if ctx.get("user") else {}
        if user.get("exec") or user.get("auth-provider"):
            raise _Unsupported("exec/auth-provider credentials")

        def rel(p):
            return p if os.path.isabs(p) else os.path.join(base, p)

        cfg = {"server": cluster["server"], "verify": not cluster.get("insecure-skip-tls-verify", False)}
        if cluster.get("certificate-authority-data"):
            cfg["ca"] = self._file_from_data(cluster["certificate-authority-data"])
        elif cluster.get("certificate-authority"):
            cfg["ca"] = rel(cluster["certificate-authority"])
        if user.get("token"):
            cfg["token"] = user["token"]
        elif user.get("tokenFile"):
            with open(rel(user["tokenFile"])) as fh:
                cfg["token"] = fh.read().strip()
        if user.get("username") and user.get("password"):
            cfg["basic"] = (user["username"], user["password"])
        for kind, data_key, file_key in (("cert", "client-certificate-data", "client-certificate"),
                                         ("key", "client-key-data", "client-key")):
            if user.get(data_key):
                cfg[kind] = self._file_from_data(user[data_key])
            elif user.get(file_key):
                cfg[kind] = rel(user[file_key])
        return cfg

    def request(self, method, path, params, body, content_type):
        url = self.server + path
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode(params)
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(body).encode("utf-8")
        try:
            resp = self.pool.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            return None, str(exc)
        return resp.status, resp.data.decode("utf-8", "replace")


class _Core(object):
    """kubernetes.core's client (every auth method it supports), for what _Fast cannot do."""

    def __init__(self, auth):
        try:
            from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
            from kubernetes.dynamic.exceptions import DynamicApiError
        except ImportError as exc:
            raise KubernetesError("the kubernetes Python package and the kubernetes.core collection are "
                                  "required: %s" % exc) from exc
        self.error = DynamicApiError
        try:
            self.client = get_api_client(**auth).client
        except Exception as exc:  # config errors, unreachable API during discovery
            raise KubernetesError("could not create a Kubernetes API client: %s" % exc) from exc

    def close(self):
        pass

    def request(self, method, path, params, body, content_type):
        kwargs = {"serialize": False, "query_params": list(params)}
        if content_type:
            kwargs["content_type"] = content_type
        if body is not None:
            kwargs["body"] = body
        try:
            resp = self.client.request(method.lower(), path, **kwargs)
        except self.error as exc:
            body = getattr(exc, "body", "")
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            return getattr(exc, "status", 500), body or str(exc)
        except Exception as exc:
            return None, str(exc)
        return getattr(resp, "status", 200), resp.data.decode("utf-8", "replace")


class Api(object):
    """Plain-dict REST calls; every request is recorded in ``self.log``."""

    def __init__(self, auth=None, dry_run=False, transport=None, user_agent=None):
        auth = dict((k, v) for k, v in (auth or {}).items() if v is not None and k in AUTH_ARG_SPEC)
        self.dry_run = dry_run
        self.log = []
        self._plurals = {}
        if transport is not None:
            self.transport = transport
        else:
            try:
                self.transport = _Fast(auth, user_agent)
            except _Unsupported:
                self.transport = _Core(auth)

    def close(self):
        self.transport.close()

    # --- paths --------------------------------------------------------------------------------
    def path(self, api_version, kind, namespace=None, name=None, subresource=None):
        entry = KINDS.get((api_version, kind)) or self._discover(api_version, kind)
        plural, namespaced = entry
        base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        if namespaced:
            if not namespace:
                raise KubernetesError("%s %s needs a namespace" % (kind, name or ""), kind=kind)
            base += "/namespaces/%s" % namespace
        base += "/" + plural
        if name:
            base += "/" + name
        if subresource:
            base += "/" + subresource
        return base

    def _discover(self, api_version, kind):
        """(plural, namespaced) of a kind outside the static table, from the discovery document."""
        if (api_version, kind) in self._plurals:
            return self._plurals[(api_version, kind)]
        path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
        doc = self.request("GET", path)
        for res in doc.get("resources") or []:
            if res.get("kind") == kind and "/" not in res.get("name", ""):
                self._plurals[(api_version, kind)] = (res["name"], bool(res.get("namespaced")))
                return self._plurals[(api_version, kind)]
        raise KubernetesError("the API server does not serve %s %s" % (api_version, kind), kind=kind,
                              api_version=api_version)

    # --- transport ----------------------------------------------------------------------------
    def request(self, method, path, body=None, query=None, content_type=None, write=False):
        params = list((query or {}).items())
        if write and self.dry_run:
            params.append(("dryRun", "All"))
        status, text = self.transport.request(method, path, params, body, content_type)
        self.log.append({"method": method, "path": path, "status": status})
        if status is None:
            raise KubernetesError("%s %s got no answer from the Kubernetes API: %s" % (method, path, text),
                                  status=None, path=path, method=method)
        data = None
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) and data.get("message") else (text or "")[:500]
            raise KubernetesError("%s %s failed (HTTP %s): %s" % (method, path, status, message), status=status,
                                  path=path, method=method,
                                  reason=data.get("reason") if isinstance(data, dict) else None)
        return data if data is not None else ({"raw": text} if text else {})

    # --- verbs --------------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None, subresource=None):
        """The object, or None when it does not exist (404). Any other failure raises."""
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name, subresource))
        except KubernetesError as exc:
            if exc.context.get("status") == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        """Items of a list, each with apiVersion and kind filled in. 404 of the type raises."""
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        answer = self.request("GET", self.path(api_version, kind, namespace), query=query)
        items = answer.get("items")
        if not isinstance(items, list):
            raise KubernetesError("GET %s returned no item list" % self.path(api_version, kind, namespace),
                                  kind=kind)
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def create(self, obj):
        meta = obj.get("metadata") or {}
        return self.request("POST", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace")),
                            body=obj, write=True)

    def apply(self, obj, field_manager=FIELD_MANAGER, force=True):
        """Server-side apply (``PATCH application/apply-patch+yaml``); creates when absent."""
        meta = obj.get("metadata") or {}
        query = {"fieldManager": field_manager}
        if force:
            query["force"] = "true"
        return self.request("PATCH", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]),
                            body=obj, query=query, content_type=PATCH_TYPES["apply"], write=True)

    def patch(self, api_version, kind, name, namespace, body, patch_type="merge", subresource=None,
              field_manager=FIELD_MANAGER):
        return self.request("PATCH", self.path(api_version, kind, namespace, name, subresource), body=body,
                            query={"fieldManager": field_manager}, content_type=PATCH_TYPES[patch_type], write=True)

    def delete(self, api_version, kind, name, namespace=None, propagation=None, grace_period=None, uid=None):
        """Delete; returns the API answer, or None when the object was already gone."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace_period is not None:
            body["gracePeriodSeconds"] = int(grace_period)
        if uid:
            body["preconditions"] = {"uid": uid}
        if self.dry_run:
            body["dryRun"] = ["All"]
        try:
            return self.request("DELETE", self.path(api_version, kind, namespace, name), body=body, write=True)
        except KubernetesError as exc:
            if exc.context.get("status") == 404:
                return None
            raise

    def writes(self):
        return [r for r in self.log if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


def strip_server_fields(obj):
    """Drop managedFields (large, never needed) from a live object, in place; returns it."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj
