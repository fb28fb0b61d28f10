"""The operator's metrics, read as Prometheus reads them.

``MetricsEndpoint`` stands in for ansible-operator: a POST endpoint with its custom-metrics contract
(docs/operator.md, "Metrics and events") that registers every sample in a prometheus_client
CollectorRegistry, and that registry served in the text exposition format, as the operator serves
its own on --metrics-bind-address. Reconciles of playbooks/reconcile.yml run against the API double
(conftest.py), sending to it through reconcile_metrics_url. A scrape is parsed with prometheus_client's
text parser, and the ServiceMonitor's metricRelabelings (operator/config/prometheus/monitor.yaml) are
applied to every sample the way Prometheus applies them, so the assertions are on the labelled
series a PromQL query sees.
"""

import json
import os
import re
import socket
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer

import pytest
import yaml
from harness import QuietHandler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, manifest, sql_double

pytestmark = [pytest.mark.k8s]

NAME = "acid-metrics-cluster"
NS = "default"
MONITOR = os.path.join(REPO, "operator", "config", "prometheus", "monitor.yaml")
SERVICE = os.path.join(REPO, "operator", "config", "default", "metrics_service.yaml")
TYPES = ("counter", "gauge", "histogram", "summary")
TEXT = (("Content-Type", "text/plain"),)
EXPOSITION = (("Content-Type", "text/plain; version=0.0.4"),)
# the buckets a histogram gets there (no way to choose others through the endpoint)
GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# ansible-operator's Go client exposes no *_created series; prometheus_client does unless told not to
disable_created_metrics()


class MetricsEndpoint(object):
    """ansible-operator's custom-metrics endpoint and its Prometheus port, for one test module.

    The contract (docs/operator.md, "Metrics and events"): POST /metrics, a JSON object with ``name``,
    ``description`` and exactly one of ``counter`` / ``gauge`` / ``histogram`` / ``summary`` (other keys
    are ignored; none or two is a 400). The first POST of a name registers a metric of that type with
    that help, without labels; a later POST of the name with another type is a 400. A counter
    ``increment``s, else ``add``s a non-zero value (a negative one is a 400); a gauge
    ``increment``s, ``decrement``s, ``add``s, ``subtract``s, ``set``s a non-zero value or
    ``set_to_current_time`` (the first that is given); a histogram or summary ``observe``s. Other
    methods are a 405."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.metrics = {}
        self.posts = []
        endpoint = self

        class Handler(QuietHandler):
            def do_POST(self):
                doc = json.loads(self.body() or b"null")
                endpoint.posts.append(doc)
                code, text = endpoint.handle(doc)
                self.send_body(code, text.encode(), TEXT)

            def do_GET(self):
                if self.path == "/scrape":
                    self.send_body(200, generate_latest(endpoint.registry), EXPOSITION)
                else:
                    self.send_body(405, b"Method not allowed", TEXT)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/metrics" % self.server.server_address[1]
        self.scrape_url = "http://127.0.0.1:%d/scrape" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, doc):
        given = [t for t in TYPES if isinstance(doc, dict) and doc.get(t) is not None]
        if len(given) != 1:
            return 400, "exactly one metric type per request"
        mtype, spec, name = given[0], doc[given[0]] or {}, doc.get("name") or ""
        if name not in self.metrics:
            cls = {"counter": Counter, "gauge": Gauge, "histogram": Histogram, "summary": Summary}[mtype]
            extra = {"buckets": GO_DEFAULT_BUCKETS} if mtype == "histogram" else {}
            self.metrics[name] = (mtype, cls(name, doc.get("description") or "", registry=self.registry, **extra))
        known, metric = self.metrics[name]
        if known != mtype:
            return 400, "cannot change metric type of %s, which is a %s" % (name, known)
        if mtype == "counter":
            if spec.get("increment"):
                metric.inc()
            elif spec.get("add"):
                if spec["add"] < 0:
                    return 400, "counter metrics cannot decrease in value"
                metric.inc(spec["add"])
        elif mtype == "gauge":
            for key, act in (("increment", lambda v: metric.inc()), ("decrement", lambda v: metric.dec()),
                             ("add", metric.inc), ("subtract", metric.dec), ("set", metric.set),
                             ("set_to_current_time", lambda v: metric.set_to_current_time())):
                if spec.get(key):
                    act(spec[key])
                    break
        else:
            metric.observe(spec.get("observe") or 0.0)
        return 200, ""

    def scrape(self):
        with urllib.request.urlopen(self.scrape_url, timeout=5) as resp:
            return resp.read().decode()


# ----------------------------------------------------------------------------------------------
# Prometheus' side: metric_relabel_configs from the ServiceMonitor, applied to a parsed scrape
# ----------------------------------------------------------------------------------------------
def relabelings():
    with open(MONITOR) as fh:
        monitor = yaml.safe_load(fh)
    (endpoint,) = monitor["spec"]["endpoints"]
    return endpoint["metricRelabelings"]


def expand(template, match):
    """Go regexp's Expand for $N and ${N} (a group that did not take part is empty)."""
    return re.sub(r"\$\{?(\d+)\}?", lambda m: match.group(int(m.group(1))) or "", template)


def relabel(labels, rules):
    """One series' labels after the rules (action replace, as Prometheus runs metric_relabel_configs)."""
    labels = dict(labels)
    for rule in rules:
        assert rule.get("action", "replace") == "replace", rule
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule.get("sourceLabels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if not match:
            continue
        target, result = expand(rule["targetLabel"], match), expand(rule.get("replacement", "$1"), match)
        if result:
            labels[target] = result
        else:
            labels.pop(target, None)
    return labels


def exposition_lines(text):
    """Every sample of a scrape as Prometheus stores it after relabeling: 'name{k="v",...} value'."""
    rules = relabelings()
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = relabel(dict(sample.labels, __name__=sample.name), rules)
            name = labels.pop("__name__")
            pairs = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
            out.append("%s%s %s" % (name, "{%s}" % pairs if pairs else "", repr(float(sample.value))))
    return out


def value(lines, series):
    """The value of one series ('name' or 'name{k="v"}'), or None."""
    found = [float(line.rsplit(" ", 1)[1]) for line in lines if line.rsplit(" ", 1)[0] == series]
    assert len(found) <= 1, (series, found)
    return found[0] if found else None


@pytest.fixture(scope="module")
def endpoint(api):
    ep = MetricsEndpoint()
    api.watch_vars["reconcile_metrics_url"] = ep.url
    try:
        yield ep
    finally:
        api.watch_vars.pop("reconcile_metrics_url", None)
        ep.stop()


@pytest.fixture(scope="module")
def lifecycle(api, endpoint):
    """create (writes everything), a resync (writes nothing), a spec change (rolls both pods with one
    switchover), a reconcile whose read fails, and the one that recovers: each with a scrape after it."""
    scrapes, results = [], []

    def step(prepare=None):
        if prepare:
            prepare()
        results.append(api.reconcile(NAME, NS))
        api.settle()
        scrapes.append(exposition_lines(endpoint.scrape()))

    def change_spec(**spec):
        def prepare():
            cr = api.current_cr(NAME, NS)
            cr["spec"].setdefault("resources", {}).setdefault("limits", {}).update(spec)
            api.put(cr)
        return prepare

    def failing_read():
        change_spec(memory="700Mi")()
        if api.kind == "double":
            api.double.fail_next.append(("GET", "/namespaces/%s/secrets" % NS, 503))
        else:
            api.fail_next("GET", "/namespaces/%s/secrets" % NS, 503)

    api.put(manifest(NAME, NS))
    step()
    step()
    step(change_spec(memory="600Mi"))
    step(failing_read)
    step()
    return results, scrapes


def test_create_counts_an_ok_reconcile_and_every_object_written(lifecycle, endpoint):
    results, scrapes = lifecycle
    assert results[0].rc == 0, results[0].stdout[-3000:]
    lines = scrapes[0]
    assert value(lines, 'pgfleet_reconciles_total{outcome="ok"}') == 1.0, lines
    assert value(lines, 'pgfleet_reconcile_duration_seconds_count{outcome="ok"}') == 1.0
    assert value(lines, 'pgfleet_reconcile_duration_seconds_sum{outcome="ok"}') > 0
    assert value(lines, 'pgfleet_reconcile_duration_seconds_bucket{le="+Inf",outcome="ok"}') == 1.0
    created = value(lines, 'pgfleet_objects_written_total{action="create"}')
    assert created is not None and created >= 5, lines
    for action in ("apply", "replace", "delete", "resize", "flag", "annotate"):
        assert value(lines, 'pgfleet_objects_written_total{action="%s"}' % action) == 0.0, action
    assert value(lines, "pgfleet_pods_rolled_total") == 0.0
    assert value(lines, 'pgfleet_switchovers_total{reason="rolling_update"}') == 0.0
    assert value(lines, "pgfleet_sql_statements_total") == 0.0
    assert value(lines, 'pgfleet_reconcile_cluster_status_total{status="Running"}') == 1.0
    assert value(lines, 'pgfleet_cluster_status_changes_total{status="Running"}') == 1.0
    assert abs(value(lines, "pgfleet_last_reconcile_timestamp_seconds") - time.time()) < 600
    # every sample was taken: nothing refused, nothing left with a folded label in its name
    assert not [line for line in lines if "__" in line.split("{")[0].split(" ")[0]], lines


def test_resync_writes_nothing_and_changes_no_status(lifecycle):
    results, scrapes = lifecycle
    assert results[1].rc == 0, results[1].stdout[-3000:]
    before, lines = scrapes[0], scrapes[1]
    resyncs = sum(value(lines, 'pgfleet_reconciles_total{outcome="%s"}' % o) or 0 for o in ("ok", "skipped_fast"))
    assert resyncs == 2.0, lines
    for action in ("create", "apply", "delete"):
        series = 'pgfleet_objects_written_total{action="%s"}' % action
        assert value(lines, series) == value(before, series), series
    assert value(lines, 'pgfleet_reconcile_cluster_status_total{status="Running"}') == 2.0
    assert value(lines, 'pgfleet_cluster_status_changes_total{status="Running"}') == 1.0


def test_rolling_update_counts_pods_and_the_switchover(lifecycle):
    results, scrapes = lifecycle
    assert results[2].rc == 0, results[2].stdout[-3000:]
    lines = scrapes[2]
    assert value(lines, "pgfleet_pods_rolled_total") == 2.0, lines
    assert value(lines, 'pgfleet_switchovers_total{reason="rolling_update"}') == 1.0
    assert value(lines, 'pgfleet_switchovers_total{reason="scale_down"}') == 0.0
    assert value(lines, 'pgfleet_objects_written_total{action="apply"}') >= 1.0


def test_failed_reconcile_counts_as_failed_with_its_status(lifecycle):
    results, scrapes = lifecycle
    assert results[3].rc != 0
    lines = scrapes[3]
    assert value(lines, 'pgfleet_reconciles_total{outcome="failed"}') == 1.0, lines
    assert value(lines, 'pgfleet_reconcile_duration_seconds_count{outcome="failed"}') == 1.0
    assert value(lines, 'pgfleet_reconcile_cluster_status_total{status="UpdateFailed"}') == 1.0
    assert value(lines, 'pgfleet_cluster_status_changes_total{status="UpdateFailed"}') == 1.0
    # and the recovery moves it back
    assert results[4].rc == 0, results[4].stdout[-3000:]
    assert value(scrapes[4], 'pgfleet_cluster_status_changes_total{status="Running"}') == 2.0


def test_exposition_as_the_operator_serves_it(lifecycle, endpoint):
    """The raw scrape (before relabeling) holds only names ansible-operator can register, each with
    its HELP and TYPE, and the endpoint refused no sample."""
    text = endpoint.scrape()
    assert "# TYPE pgfleet_reconciles__outcome__ok_total counter" in text, text
    assert "# TYPE pgfleet_reconcile_duration_seconds__outcome__ok histogram" in text
    assert "# TYPE pgfleet_last_reconcile_timestamp_seconds gauge" in text
    # the spec change and the recovery after the failed read each rolled both pods, with one switchover
    assert re.search(r"^pgfleet_switchovers__reason__rolling_update_total 2\.0$", text, re.M), text
    assert re.search(r"^pgfleet_pods_rolled_total 4\.0$", text, re.M), text
    for name in re.findall(r"^# TYPE (\S+) ", text, re.M):
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name), name
    for doc in endpoint.posts:
        assert endpoint.handle(dict(doc, **{t: None for t in TYPES if t not in doc}))[0] == 200, doc


def test_the_service_monitor_selects_the_metrics_service():
    with open(MONITOR) as fh:
        monitor = yaml.safe_load(fh)
    with open(SERVICE) as fh:
        service = yaml.safe_load(fh)
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert set(selector.items()) <= set(service["metadata"]["labels"].items())
    ports = [p["port"] for p in monitor["spec"]["endpoints"]]
    assert ports == [service["spec"]["ports"][0]["name"]]
    # the label names, last folded first (the module folds them in sorted order)
    names = [r["targetLabel"] for r in relabelings() if r["targetLabel"] != "__name__"]
    assert names == sorted(names, reverse=True)


def test_relabeling_restores_every_label_combination():
    rules = relabelings()
    for raw, want in (
        ("pgfleet_reconciles__outcome__skipped_fast_total", ("pgfleet_reconciles_total", {"outcome": "skipped_fast"})),
        ("pgfleet_reconcile_duration_seconds__outcome__ok_bucket", ("pgfleet_reconcile_duration_seconds_bucket", {"outcome": "ok"})),
        ("pgfleet_reconcile_duration_seconds__outcome__ok_count", ("pgfleet_reconcile_duration_seconds_count", {"outcome": "ok"})),
        ("pgfleet_x__outcome__ok__status__SyncFailed_total", ("pgfleet_x_total", {"outcome": "ok", "status": "SyncFailed"})),
        ("pgfleet_pods_rolled_total", ("pgfleet_pods_rolled_total", {})),
        ("ansible_operator_reconciles_count", ("ansible_operator_reconciles_count", {})),
    ):
        labels = relabel({"__name__": raw}, rules)
        assert (labels.pop("__name__"), labels) == want, raw


def test_an_unreachable_endpoint_does_not_fail_or_slow_the_reconcile(api, lifecycle):
    """A run pointed at an endpoint that never answers (a port that accepts connections and is silent):
    the reconcile succeeds, and the metrics task gives up after its first sample, within its timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    saved = dict(api.watch_vars)
    api.watch_vars.update(reconcile_metrics_url="http://127.0.0.1:%d/metrics" % silent.getsockname()[1],
                          reconcile_metrics_timeout=0.5)
    try:
        result = api.reconcile(NAME, NS)
    finally:
        api.watch_vars.clear()
        api.watch_vars.update(saved)
        silent.close()
    assert result.rc == 0, result.stdout[-3000:]
    (res,) = result.task_results("pgfleet.postgres.operator_metrics")
    assert res["reachable"] is False and res["posted"] == 0 and len(res["errors"]) == 1, res
    assert not res.get("failed")
    (event,) = [e["event_data"] for e in result.events
                if (e.get("event"), e["event_data"].get("task_action")) == ("runner_on_ok", "pgfleet.postgres.operator_metrics")]
    # the module's own start-up is most of it; one connection attempt of 0.5 s at most
    assert event["duration"] < 10, event["duration"]


def events_of(api, but=()):
    """(reason, type, message) of the events on the cluster's postgresql object, by creation, leaving
    out those named in ``but``."""
    evs = [e for e in api.list("v1", "Event", NS) if e["involvedObject"]["name"] == NAME and e["metadata"]["name"] not in but]
    evs.sort(key=lambda e: (e.get("firstTimestamp") or "", int(e["metadata"].get("resourceVersion") or 0)))
    return [(e["reason"], e["type"], e["message"]) for e in evs]


def event_names(api):
    return set(e["metadata"]["name"] for e in api.list("v1", "Event", NS))


def test_flagged_pods_are_an_event(api, lifecycle):
    """The spec change flagged both pods before the rollout recreated them: one event says why."""
    flagged = [e for e in events_of(api) if e[0] == "RollingUpdate" and e[2].startswith("flagged for a rolling update: ")]
    assert len(flagged) == 2, events_of(api)  # the spec change, and the recovery after the failed read
    assert "%s-0" % NAME in flagged[0][2] and "%s-1" % NAME in flagged[0][2]


def test_resize_recreate_and_prune_are_events_and_counted(api, lifecycle, endpoint):
    """A volume growth resizes the PVCs and re-creates the StatefulSet; a pooler switched off is deleted."""
    seen = event_names(api)
    before = exposition_lines(endpoint.scrape())
    for spec in ({"volume": {"size": "2Gi"}}, {"enableConnectionPooler": True}, {"enableConnectionPooler": False}):
        cr = api.current_cr(NAME, NS)
        cr["spec"].update(spec)
        api.put(cr)
        result = api.reconcile(NAME, NS)
        assert result.rc == 0, result.stdout[-3000:]
        api.settle()
    new = events_of(api, but=seen)
    by_reason = dict((reason, (kind, message)) for reason, kind, message in new)
    assert set(by_reason) >= {"Resize", "Update", "Delete"}, "\n".join(map(str, new))
    assert by_reason["Resize"][0] == "Normal", new
    assert "PersistentVolumeClaim/pgdata-%s-0" % NAME in by_reason["Resize"][1] and "-> 2Gi" in by_reason["Resize"][1], new
    assert by_reason["Update"][1].startswith("re-created StatefulSet/%s, which Kubernetes cannot change in place" % NAME), new
    assert by_reason["Delete"][1].startswith("deleted "), new
    assert "Deployment/%s-pooler" % NAME in by_reason["Delete"][1] and "Service/%s-pooler" % NAME in by_reason["Delete"][1], new
    lines = exposition_lines(endpoint.scrape())

    def grown(series):
        return (value(lines, series) or 0) - (value(before, series) or 0)

    assert grown('pgfleet_objects_written_total{action="resize"}') == 2.0
    assert grown('pgfleet_objects_written_total{action="replace"}') == 1.0
    assert grown('pgfleet_objects_written_total{action="delete"}') >= 2.0
    assert grown('pgfleet_objects_written_total{action="create"}') >= 2.0
    assert grown('pgfleet_reconciles_total{outcome="failed"}') == 0.0, lines


@pytest.mark.postgres
def test_sql_statements_are_counted(postgres, tmp_path_factory):
    """The role and database sync against a real PostgreSQL (conftest.sql_double): the first
    reconcile's write statements are in pgfleet_sql_statements_total."""
    ep = MetricsEndpoint()
    try:
        with sql_double(str(tmp_path_factory.mktemp("metrics-sql")), postgres, "acid-metrics-sql",
                        reconcile_metrics_url=ep.url, pgfleet_no_log=False) as harness:
            harness.put(manifest("acid-metrics-sql", NS))
            result = harness.reconcile("acid-metrics-sql", NS)
            assert result.rc == 0, result.stdout[-3000:]
            sent = sum(int(res.get("statements") or 0) for action in ("postgresql_role_sync", "postgresql_database_sync")
                       for res in result.task_results("pgfleet.postgres." + action) if isinstance(res.get("statements"), int))
            lines = exposition_lines(ep.scrape())
    finally:
        ep.stop()
    assert value(lines, 'pgfleet_reconciles_total{outcome="ok"}') == 1.0, lines
    # pgfleet_no_log off, so that the modules' results can be read here
    assert sent > 0
    assert value(lines, "pgfleet_sql_statements_total") == float(sent), lines
