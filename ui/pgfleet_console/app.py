"""The web console: Flask routes, sessions, CSRF, and the two targets.

Security model:
* multi-user (``auth="token"``): each person signs in with their own Kubernetes bearer token; it
  is kept in this process's memory only (the browser gets a random session id), and every API call
  carries it, so RBAC decides. Single-user (``auth="kubeconfig"`` / ``"in-cluster"``): the token
  of the kubeconfig or of the pod's service account, for one person on loopback.
* every POST needs the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``)
  and, when the browser sends one, an Origin equal to the console's own.
* no secret value ever reaches a page: credential secrets are shown by name only.
* ``read_only``: every write is refused before any API or Patroni call.
"""

import datetime
import hmac
import json
import os
import secrets
import threading
import time

from flask import Flask, abort, g, jsonify, redirect, render_template, request, url_for

from . import collection, forms, k8sview
from .jobs import Jobs
from .kube import Kube, KubeError
from .local import LocalTarget
from .monitor import BgMonSampler, LocalSampler

SESSION_COOKIE = "pgfleet_console_sid"
SESSION_IDLE = 8 * 3600
MAX_SESSIONS = 5000
MAX_SAMPLERS = 200
MAX_BODY = 512 * 1024


class Sessions(object):
    """Server-side sessions: the cookie holds a random id; the token and CSRF secret stay here."""

    def __init__(self):
        self._data = {}
        self._lock = threading.Lock()

    def get(self, sid):
        if not sid:
            return None
        with self._lock:
            s = self._data.get(sid)
            if s is None or time.time() - s["seen"] > SESSION_IDLE:
                self._data.pop(sid, None)
                return None
            s["seen"] = time.time()
            return s

    def new(self, token=None):
        sid = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._data) >= MAX_SESSIONS:  # a flood of cookie-less requests must not grow memory
                now = time.time()
                for old in [k for k, v in self._data.items() if now - v["seen"] > SESSION_IDLE]:
                    self._data.pop(old, None)
                for old in sorted(self._data, key=lambda k: self._data[k]["seen"])[:len(self._data) - MAX_SESSIONS + 1]:
                    self._data.pop(old, None)
            self._data[sid] = {"token": token, "csrf": secrets.token_urlsafe(32), "seen": time.time()}
        return sid, self._data[sid]

    def drop(self, sid):
        with self._lock:
            self._data.pop(sid, None)


class Console(object):
    def __init__(self, target=None, auth="token", read_only=False, local_roots=None, operator_config=None,
                 namespaces=None, local_enabled=True, secure_cookies=False):
        self.target = target  # kube.Target or None (no Kubernetes)
        self.auth = auth
        self.read_only = read_only
        self.config = collection.load_config(operator_config)
        self.namespaces = namespaces or []
        self.local = LocalTarget(local_roots, operator_config) if local_enabled else None
        self.secure_cookies = secure_cookies
        self.sessions = Sessions()
        self.jobs = Jobs()
        self.samplers = {}
        self._samplers_lock = threading.Lock()

    def sampler(self, key, factory):
        with self._samplers_lock:
            if key not in self.samplers:
                if len(self.samplers) >= MAX_SAMPLERS:  # drop the one watched least recently
                    oldest = min(self.samplers, key=lambda k: self.samplers[k].last_time)
                    self.samplers.pop(oldest)
                self.samplers[key] = factory()
            return self.samplers[key]


def create_app(console):
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY
    app.jinja_env.globals.update(FIELDS=forms.FIELDS, VERSIONS=forms.VERSIONS, PRINTER_COLUMNS=k8sview.PRINTER_COLUMNS)
    app.console = console
    role_label = console.config.get("pod_role_label") or "spilo-role"
    name_label = console.config.get("cluster_name_label") or "cluster-name"

    # --- sessions, identity, CSRF -----------------------------------------------------------------
    @app.before_request
    def load_session():
        g.console = console
        g.sid = request.cookies.get(SESSION_COOKIE)
        g.session = console.sessions.get(g.sid)
        g.new_cookie = None
        if g.session is None:
            token = console.target.token if (console.target and console.auth != "token") else None
            g.sid, g.session = console.sessions.new(token)
            g.new_cookie = g.sid
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and origin != request.host_url.rstrip("/"):
                return error_page(403, "Refused: the request came from another site (%s)" % origin)
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
            if not hmac.compare_digest(sent, g.session["csrf"]):
                return error_page(403, "Refused: the form's CSRF token is missing or stale; reload the page and "
                                  "try again")
            if console.read_only and request.endpoint not in ("login", "logout"):
                return error_page(403, "Refused: the console runs in read-only mode")
        return None

    @app.after_request
    def headers(resp):
        if g.get("new_cookie"):
            resp.set_cookie(SESSION_COOKIE, g.new_cookie, httponly=True, samesite="Strict",
                            secure=console.secure_cookies, path="/")
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                                   "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes browsers send Origin: null
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.context_processor
    def common():
        return {"csrf_token": g.session["csrf"] if g.get("session") else "", "read_only": console.read_only,
                "k8s_enabled": console.target is not None, "local_enabled": console.local is not None,
                "signed_in": bool(g.get("session") and g.session.get("token")), "auth": console.auth}

    def error_page(code, message):
        if request.path.endswith(".json") or request.headers.get("Accept") == "application/json":
            return jsonify({"error": message}), code
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(KubeError)
    def kube_error(err):
        code = err.status if err.status in (401, 403, 404, 409, 422) else 502
        return error_page(code, err.describe())

    @app.errorhandler(collection.PgfleetError)
    def pgfleet_error(err):
        return error_page(500 if not isinstance(err, collection.LocalClusterError) else 409, err.msg)

    @app.errorhandler(413)
    def too_large(_err):
        return error_page(413, "Refused: the request is larger than %d KiB" % (MAX_BODY // 1024))

    def kube():
        if console.target is None:
            abort(404)
        token = g.session.get("token")
        if not token:
            return None
        return Kube(console.target, token)

    def need_kube():
        k = kube()
        if k is None:
            raise _Redirect(url_for("login", next=request.path))
        return k

    class _Redirect(Exception):
        def __init__(self, where):
            super(_Redirect, self).__init__(where)
            self.where = where

    @app.errorhandler(_Redirect)
    def do_redirect(err):
        return redirect(err.where)

    # --- sign in ------------------------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login():
        if console.auth != "token":
            return redirect(url_for("index"))
        if request.method == "POST":
            token = (request.form.get("token") or "").strip()
            if not token or len(token) > 16384 or any(c in token for c in "\r\n\x00 "):
                return render_template("login.html", problem="Paste a bearer token (one line)"), 400
            console.sessions.drop(g.sid)
            g.sid, g.session = console.sessions.new(token)
            g.new_cookie = g.sid
            nxt = request.args.get("next") or "/"
            safe = nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt and len(nxt) < 512
            return redirect(nxt if safe and not any(ord(c) < 32 for c in nxt) else "/")
        return render_template("login.html", problem=None)

    @app.route("/logout", methods=["POST"])
    def logout():
        console.sessions.drop(g.sid)
        single = console.target.token if (console.target is not None and console.auth != "token") else None
        g.sid, g.session = console.sessions.new(single)
        g.new_cookie = g.sid
        return redirect(url_for("login") if console.auth == "token" else url_for("index"))

    @app.route("/healthz")
    def healthz():
        return "ok"

    @app.route("/")
    def index():
        if console.target is not None:
            return redirect(url_for("clusters"))
        return redirect(url_for("local_list"))

    # --- Kubernetes: list, detail, progress ----------------------------------------------------------
    @app.route("/k8s")
    def clusters():
        k = need_kube()
        items, problems = k.list_clusters(console.namespaces)
        rows = sorted((k8sview.cluster_row(cr) for cr in items), key=lambda r: (r["namespace"], r["name"]))
        return render_template("clusters.html", rows=rows, problems=problems)

    def cluster_parts(k, ns, name):
        cr = k.get_cluster(ns, name)
        parts = {"cr": cr, "problems": []}
        sel = "%s=%s" % (name_label, name)

        def read(key, func, default):
            try:
                parts[key] = func()
            except KubeError as err:
                if err.status is None:
                    raise
                parts[key] = default
                parts["problems"].append("%s: %s" % (key, err.describe()))

        read("pods", lambda: k.list_in("pods", ns, sel), [])
        read("statefulset", lambda: k.get_in("statefulsets", ns, name, "apps/v1"), None)
        return parts

    @app.route("/k8s/<ns>/<name>")
    def cluster(ns, name):
        k = need_kube()
        parts = cluster_parts(k, ns, name)
        cr = parts["cr"]
        sel = "%s=%s" % (name_label, name)

        def safe(func, what):
            try:
                return func()
            except KubeError as err:
                if err.status is None:
                    raise
                parts["problems"].append("%s: %s" % (what, err.describe()))
                return []

        services = safe(lambda: k.list_in("services", ns, sel), "services")
        poolers = [d for d in (safe(lambda: [k.get_in("deployments", ns, "%s-%s" % (name, suffix), "apps/v1")
                                             for suffix in ("pooler", "pooler-repl")], "poolers") or []) if d]
        events = safe(lambda: k.list_in("events", ns, None, "involvedObject.name=%s" % name), "events")
        events = sorted((k8sview.event_row(e) for e in events), key=lambda e: e["last"], reverse=True)[:30]
        return render_template(
            "cluster.html", ns=ns, name=name, row=k8sview.cluster_row(cr), cr=cr,
            status=k8sview.status_of(cr), pods=[k8sview.pod_row(p, role_label) for p in parts["pods"]],
            services=[k8sview.service_row(s) for s in services], poolers=poolers, events=events,
            secrets=forms.secret_names(cr, console.config), problems=parts["problems"],
            protection=k8sview.delete_protection(cr, console.config),
            progress=k8sview.progress(cr, parts["statefulset"], parts["pods"], role_label,
                                      console.config.get("enable_database_access", True)))

    @app.route("/k8s/<ns>/<name>/progress.json")
    def progress(ns, name):
        k = kube()
        if k is None:
            return jsonify({"error": "sign in first"}), 401
        try:
            parts = cluster_parts(k, ns, name)
        except KubeError as err:
            if err.status == 404:
                return jsonify({"gone": True, "steps": [], "done": False})
            raise
        out = k8sview.progress(parts["cr"], parts["statefulset"], parts["pods"], role_label,
                               console.config.get("enable_database_access", True))
        out["pods"] = [k8sview.pod_row(p, role_label) for p in parts["pods"]]
        out["conditions"] = [dict((k, c.get(k, "")) for k in ("type", "status", "reason", "message", "lastTransitionTime"))
                             for c in k8sview.status_of(parts["cr"]).get("conditions") or [] if isinstance(c, dict)]
        out["problems"] = parts["problems"]
        return jsonify(out)

    # --- Kubernetes: create / edit through the form ---------------------------------------------------
    def form_page(cr_values, problems, general, mode, ns=None, name=None, warnings=None, code=200):
        return render_template("form.html", values=cr_values, problems=problems, general=general, mode=mode,
                               ns=ns, name=name, warnings=warnings or []), code

    @app.route("/k8s/new", methods=["GET", "POST"])
    def new_cluster():
        k = need_kube()
        if request.method == "GET":
            defaults = {"metadata": {"namespace": console.target.namespace, "name": ""},
                        "spec": {"teamId": "", "numberOfInstances": 2, "postgresql": {"version": "15"},
                                 "volume": {"size": "1Gi"}}}
            return form_page(forms.form_values(defaults), {}, [], "create")[0]
        cr, input_problems = forms.manifest_from_form(request.form)
        pairs, warnings = ([], []) if input_problems else forms.validate(cr, console.config)
        by_field, general = forms.group_problems(pairs, input_problems)
        if by_field or general:
            return form_page(dict(request.form), by_field, general, "create", code=422)
        cr["metadata"] = {"name": cr["metadata"]["name"], "namespace": cr["metadata"]["namespace"]}
        try:
            k.create_cluster(cr)
        except KubeError as err:
            if err.status in (None, 401):
                raise
            return form_page(dict(request.form), {}, [err.describe()], "create", code=err.status)
        return redirect(url_for("cluster", ns=cr["metadata"]["namespace"], name=cr["metadata"]["name"], created=1))

    @app.route("/k8s/<ns>/<name>/edit", methods=["GET", "POST"])
    def edit_cluster(ns, name):
        k = need_kube()
        current = k.get_cluster(ns, name)
        if request.method == "GET":
            values = forms.form_values(current)
            values["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion", "")
            return form_page(values, {}, [], "edit", ns, name)[0]
        base = forms.editable(current)
        expected = request.form.get("resourceVersion") or ""
        cr, input_problems = forms.manifest_from_form(request.form, base)
        pairs, warnings = ([], []) if input_problems else forms.validate(cr, console.config)
        by_field, general = forms.group_problems(pairs, input_problems)
        if by_field or general:
            return form_page(dict(request.form), by_field, general, "edit", ns, name, code=422)
        if expected:
            cr["metadata"]["resourceVersion"] = expected
        try:
            k.replace_cluster(cr)
        except KubeError as err:
            if err.status in (None, 401):
                raise
            return form_page(dict(request.form), {}, [err.describe()], "edit", ns, name, code=err.status)
        return redirect(url_for("cluster", ns=ns, name=name))

    # --- Kubernetes: YAML view / editor ---------------------------------------------------------------
    @app.route("/k8s/yaml", methods=["GET", "POST"], defaults={"ns": None, "name": None})
    @app.route("/k8s/<ns>/<name>/yaml", methods=["GET", "POST"])
    def yaml_editor(ns, name):
        k = need_kube()
        if request.method == "GET":
            if name:
                text = forms.dump_yaml(forms.editable(k.get_cluster(ns, name)))
            else:
                text = forms.dump_yaml({"apiVersion": forms.API_VERSION, "kind": forms.KIND,
                                        "metadata": {"name": "", "namespace": console.target.namespace},
                                        "spec": {"teamId": "", "numberOfInstances": 2, "volume": {"size": "1Gi"},
                                                 "postgresql": {"version": "15"}}})
            return render_template("yaml.html", ns=ns, name=name, text=text, problems=[])
        text = request.form.get("manifest", "")
        try:
            cr = forms.parse_manifest_yaml(text)
        except forms.InputProblem as err:
            return render_template("yaml.html", ns=ns, name=name, text=text,
                                   problems=["%s: %s" % (err.field, err.message)]), 422
        if name and (cr["metadata"].get("name") != name or cr["metadata"].get("namespace", "default") != ns):
            return render_template("yaml.html", ns=ns, name=name, text=text,
                                   problems=["metadata: the name and namespace of an existing cluster cannot change "
                                             "(%s/%s)" % (ns, name)]), 422
        pairs, _warnings = forms.validate(cr, console.config)
        if pairs:
            return render_template("yaml.html", ns=ns, name=name, text=text,
                                   problems=["%s: %s" % p for p in pairs]), 422
        cr.pop("status", None)
        cr["metadata"].setdefault("namespace", console.target.namespace)
        if name:
            k.replace_cluster(cr)
        else:
            cr["metadata"].pop("resourceVersion", None)
            k.create_cluster(cr)
        return redirect(url_for("cluster", ns=cr["metadata"]["namespace"], name=cr["metadata"]["name"]))

    # --- Kubernetes: delete -------------------------------------------------------------------------
    @app.route("/k8s/<ns>/<name>/delete", methods=["POST"])
    def delete_cluster(ns, name):
        k = need_kube()
        if request.form.get("confirm", "") != name:
            return error_page(422, "Not deleted: type the cluster name (%s) exactly to confirm" % name)
        cr = k.get_cluster(ns, name)
        need = k8sview.delete_protection(cr, console.config)
        if need:  # the operator deletes a protected cluster's objects only when these are set
            k.patch_cluster(ns, name, {"metadata": {"annotations": dict(need)}})
        k.delete_cluster(ns, name, uid=(cr.get("metadata") or {}).get("uid"))
        return redirect(url_for("clusters", deleted="%s/%s" % (ns, name)))

    # --- Kubernetes: monitoring (bg_mon through the pod proxy) ------------------------------------------
    @app.route("/k8s/<ns>/<name>/monitor")
    def k8s_monitor(ns, name):
        need_kube()
        return render_template("monitor.html", title="%s/%s" % (ns, name),
                               data_url=url_for("k8s_monitor_json", ns=ns, name=name),
                               back=url_for("cluster", ns=ns, name=name))

    @app.route("/k8s/<ns>/<name>/monitor.json")
    def k8s_monitor_json(ns, name):
        k = kube()
        if k is None:
            return jsonify({"error": "sign in first"}), 401
        pods = k.list_in("pods", ns, "%s=%s" % (name_label, name))
        leader = next((p["metadata"]["name"] for p in pods
                       if (p["metadata"].get("labels") or {}).get(role_label) in ("master", "primary")), None)

        def fetch():
            problems, doc, members = [], None, []
            if leader is None:
                return None, [], ["no leader pod (label %s=master) found" % role_label]
            try:
                doc = json.loads(k.pod_proxy(ns, leader, 8080, "").decode("utf-8", "replace"))
            except KubeError as err:
                problems.append("bg_mon on %s:8080: %s" % (leader, err.describe()))
            except ValueError:
                problems.append("bg_mon on %s:8080 did not answer JSON" % leader)
            try:
                cluster = json.loads(k.pod_proxy(ns, leader, 8008, "cluster").decode("utf-8", "replace"))
                members = cluster.get("members") or [] if isinstance(cluster, dict) else []
            except KubeError as err:
                problems.append("Patroni on %s:8008: %s" % (leader, err.describe()))
            except ValueError:
                problems.append("Patroni on %s:8008 did not answer JSON" % leader)
            return doc, members, problems

        sampler = console.sampler(("k8s", g.sid, ns, name), BgMonSampler)
        with sampler.lock:
            sampler.fetch = fetch
        return jsonify(sampler.snapshot())

    # --- local clusters ---------------------------------------------------------------------------------
    def need_local():
        if console.local is None:
            abort(404)
        return console.local

    @app.route("/local")
    def local_list():
        loc = need_local()
        rows = []
        for name in sorted(loc.names()):
            rows.append(loc.summary(name))
        return render_template("local_list.html", rows=rows)

    @app.route("/local/new", methods=["GET", "POST"])
    def local_new():
        loc = need_local()
        if request.method == "GET":
            text = forms.dump_yaml({"apiVersion": forms.API_VERSION, "kind": forms.KIND,
                                    "metadata": {"name": "", "namespace": "default"},
                                    "spec": {"teamId": "", "numberOfInstances": 2, "volume": {"size": "1Gi"},
                                             "postgresql": {"version": "15"}}})
            return render_template("local_new.html", text=text, problems=[])
        text = request.form.get("manifest", "")
        try:
            cr = forms.parse_manifest_yaml(text)
        except forms.InputProblem as err:
            return render_template("local_new.html", text=text, problems=["%s: %s" % (err.field, err.message)]), 422
        pairs, _w = forms.validate(cr, console.config)
        name = cr["metadata"].get("name")
        if not pairs and name in loc.names():
            pairs = [("metadata.name", "a local cluster named %s exists already" % name)]
        if pairs:
            return render_template("local_new.html", text=text, problems=["%s: %s" % p for p in pairs]), 422
        job = console.jobs.start("create", "local/%s" % name, lambda job: loc.create(cr, job))
        if job is None:
            return error_page(409, "Another operation on %s is running" % name)
        return redirect(url_for("local_cluster", name=name, job=job.id))

    @app.route("/local/<name>")
    def local_cluster(name):
        loc = need_local()
        summary = loc.summary(name)
        job = console.jobs.get(request.args.get("job", "")) or console.jobs.latest("local/%s" % name)
        if summary is None and job is None:
            abort(404)
        return render_template("local_cluster.html", name=name, summary=summary, job=job.to_dict() if job else None)

    @app.route("/local/<name>/status.json")
    def local_status(name):
        loc = need_local()
        summary = loc.summary(name)
        job = console.jobs.latest("local/%s" % name)
        return jsonify({"summary": summary, "job": job.to_dict() if job else None})

    def start_local(name, kind, func):
        loc = need_local()
        if name not in loc.names():
            abort(404)
        job = console.jobs.start(kind, "local/%s" % name, func)
        if job is None:
            return error_page(409, "Another operation on %s is running; wait for it to finish" % name)
        if request.headers.get("Accept") == "application/json":
            return jsonify(job.to_dict()), 202
        return redirect(url_for("local_cluster", name=name, job=job.id))

    @app.route("/local/<name>/switchover", methods=["POST"])
    def local_switchover(name):
        candidate = (request.form.get("candidate") or "").strip()
        if len(candidate) > 100 or any(c in candidate for c in "\r\n\x00"):
            return error_page(422, "candidate: not a member name")
        return start_local(name, "switchover", lambda job: need_local().switchover(name, candidate, job))

    @app.route("/local/<name>/restart", methods=["POST"])
    def local_restart(name):
        return start_local(name, "rolling restart", lambda job: need_local().rolling_restart(name, job))

    @app.route("/local/<name>/delete", methods=["POST"])
    def local_delete(name):
        if request.form.get("confirm", "") != name:
            return error_page(422, "Not deleted: type the cluster name (%s) exactly to confirm" % name)
        return start_local(name, "delete", lambda job: need_local().delete(name, job))

    @app.route("/jobs/<job_id>.json")
    def job_json(job_id):
        job = console.jobs.get(job_id)
        if job is None:
            return jsonify({"error": "no such job"}), 404
        return jsonify(job.to_dict())

    @app.route("/local/<name>/monitor")
    def local_monitor(name):
        loc = need_local()
        if name not in loc.names():
            abort(404)
        return render_template("monitor.html", title="local %s" % name,
                               data_url=url_for("local_monitor_json", name=name),
                               back=url_for("local_cluster", name=name))

    @app.route("/local/<name>/monitor.json")
    def local_monitor_json(name):
        loc = need_local()
        if name not in loc.names():
            return jsonify({"error": "no local cluster named %s" % name}), 404
        sampler = console.sampler(("local", name), lambda: LocalSampler(lambda: loc.superuser_conninfo(name)))
        try:
            return jsonify(sampler.snapshot())
        except Exception as err:  # psycopg errors: the message, never the connection string
            return jsonify({"error": "cannot sample %s: %s" % (name, str(err).splitlines()[0][:300])}), 502

    app.jinja_env.filters["bytes"] = _bytes
    app.jinja_env.filters["when"] = lambda ts: datetime.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else ""
    return app


def _bytes(value):
    if value is None:
        return "-"
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0
    return str(value)


def env_flag(name):
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
