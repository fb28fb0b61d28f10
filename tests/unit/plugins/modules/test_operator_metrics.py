"""operator_metrics: documentation matches the argument spec, labels fold into names the way the
ServiceMonitor reads them back, each type becomes the JSON document ansible-operator's endpoint reads
(docs/operator.md, "Metrics and events"), and an absent or refusing endpoint never fails the task."""

import io
import json
import socket

import pytest
import yaml
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible_collections.pgfleet.postgres.plugins.modules import operator_metrics as om

URL = "http://localhost:5050/metrics"


def metric(**kw):
    base = dict(name="pgfleet_reconciles_total", help="h", type="counter", value=1.0, set_to_current_time=False, labels={})
    base.update(kw)
    return base


class Opener(object):
    """open_url's stand-in: records each request; ``answers`` are exceptions to raise, in order (None = 200)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def __call__(self, url, data=None, method=None, headers=None, timeout=None, **kw):
        self.sent.append(dict(url=url, doc=json.loads(data), method=method, headers=headers, timeout=timeout, kw=kw))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return io.BytesIO(b"")


class FakeModule(object):
    def __init__(self, check_mode=False, **params):
        self.params = dict(url=URL, timeout=1.0)
        self.params.update(params)
        self.params["metrics"] = [metric(**m) for m in self.params.get("metrics", [])]
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **kw):
        raise AssertionError("fail_json: %s" % kw["msg"])


def test_every_option_is_documented_with_the_same_type_default_and_choices():
    doc = yaml.safe_load(om.DOCUMENTATION)
    spec = om.argument_spec()
    assert set(doc["options"]) == set(spec)
    for name, opt in doc["options"].items():
        assert opt.get("version_added") == "0.1.0", name
        assert opt.get("type", "str") == spec[name].get("type", "str"), name
        assert opt.get("default") == spec[name].get("default"), name
        assert bool(opt.get("required")) == bool(spec[name].get("required")), name
    subdoc, subspec = doc["options"]["metrics"]["suboptions"], spec["metrics"]["options"]
    assert set(subdoc) == set(subspec)
    for name, opt in subdoc.items():
        assert opt.get("type", "str") == subspec[name].get("type", "str"), name
        assert opt.get("default") == subspec[name].get("default"), name
        assert opt.get("choices") == subspec[name].get("choices"), name
    assert "pgfleet.postgres.attributes" in doc["extends_documentation_fragment"]
    for section in (om.EXAMPLES, om.RETURN):
        assert yaml.safe_load(section)


@pytest.mark.parametrize("name, mtype, labels, wire", [
    ("pgfleet_reconciles_total", "counter", {}, "pgfleet_reconciles_total"),
    ("pgfleet_reconciles_total", "counter", {"outcome": "ok"}, "pgfleet_reconciles__outcome__ok_total"),
    ("pgfleet_reconcile_duration_seconds", "histogram", {"outcome": "skipped_fast"},
     "pgfleet_reconcile_duration_seconds__outcome__skipped_fast"),
    ("pgfleet_x_total", "counter", {"status": "SyncFailed", "outcome": "failed"}, "pgfleet_x__outcome__failed__status__SyncFailed_total"),
    ("pgfleet_state", "gauge", {"status": "Update Failed!"}, "pgfleet_state__status__Update_Failed"),
    ("pgfleet_state", "gauge", {"status": ""}, "pgfleet_state__status__none"),
    ("pgfleet_state", "gauge", {"status": None}, "pgfleet_state__status__none"),
    # a value never ends like a series suffix, so the relabeling rule cannot split it there
    ("pgfleet_state", "gauge", {"status": "row_count"}, "pgfleet_state__status__rowcount"),
    ("pgfleet_state", "gauge", {"status": "a__b--c"}, "pgfleet_state__status__a_b_c"),
])
def test_labels_fold_into_the_name(name, mtype, labels, wire):
    assert om.wire_name(name, mtype, labels) == wire
    assert "___" not in wire


@pytest.mark.parametrize("m, body", [
    (metric(), {"counter": {"add": 1.0}}),
    (metric(value=0), {"counter": {"add": 0.0}}),
    (metric(name="pgfleet_g", type="gauge", value=3), {"gauge": {"set": 3.0}}),
    (metric(name="pgfleet_g", type="gauge", set_to_current_time=True), {"gauge": {"set_to_current_time": True}}),
    (metric(name="pgfleet_h", type="histogram", value=2.5), {"histogram": {"observe": 2.5}}),
    (metric(name="pgfleet_s", type="summary", value=0), {"summary": {"observe": 0.0}}),
])
def test_payload_is_the_endpoints_document(m, body):
    doc = om.payload(m)
    assert doc == dict(body, name=m["name"], description="h")


@pytest.mark.parametrize("m, why", [
    (metric(name="pgfleet__double_total"), "single underscores"),
    (metric(name="9lives_total"), "letters, digits"),
    (metric(name="pgfleet-dash_total"), "letters, digits"),
    (metric(name="pgfleet_reconciles"), "ends in _total"),
    (metric(value=-1), "cannot decrease"),
    (metric(name="pgfleet_h", type="histogram", set_to_current_time=True), "for gauges"),
    (metric(labels={"Outcome": "ok"}), "label name"),
    (metric(labels={"row_count": "1"}), "label name"),
])
def test_invalid_samples_are_refused_before_anything_is_sent(m, why):
    assert why in om.check_metric(m)


def test_valid_samples_pass():
    assert om.check_metric(metric(labels={"outcome": "ok", "status": "Running"})) is None
    assert om.check_metric(metric(name="pgfleet_g", type="gauge", set_to_current_time=True)) is None


def test_run_posts_each_sample_as_json_without_a_proxy():
    opener = Opener()
    module = FakeModule(metrics=[dict(labels={"outcome": "ok"}), dict(name="pgfleet_h", type="histogram", value=0.5)])
    result = om.run(module, opener)
    assert result["posted"] == 2 and result["reachable"] is True and result["errors"] == []
    assert result["changed"] is False
    assert [s["doc"]["name"] for s in opener.sent] == ["pgfleet_reconciles__outcome__ok_total", "pgfleet_h"]
    sent = opener.sent[0]
    assert (sent["url"], sent["method"], sent["timeout"]) == (URL, "POST", 1.0)
    assert sent["headers"] == {"Content-Type": "application/json"}
    assert sent["kw"]["use_proxy"] is False
    assert module.warnings == []


@pytest.mark.parametrize("error", [
    URLError(ConnectionRefusedError(111, "Connection refused")),
    socket.timeout("timed out"),
    ConnectionResetError(104, "reset"),
])
def test_an_absent_endpoint_stops_after_the_first_sample_and_only_warns(error):
    opener = Opener(error)
    module = FakeModule(metrics=[dict(), dict(), dict()])
    result = om.run(module, opener)
    assert len(opener.sent) == 1
    assert result["reachable"] is False and result["posted"] == 0 and len(result["errors"]) == 1
    assert "unreachable" in result["errors"][0]
    assert len(module.warnings) == 1 and "no metrics sent" in module.warnings[0]


def test_a_refused_sample_is_named_and_the_rest_still_sent():
    refusal = HTTPError(URL, 400, "Bad Request", {}, io.BytesIO(b"cannot change metric type of pgfleet_x, which is a counter"))
    opener = Opener(None, refusal, None)
    module = FakeModule(metrics=[dict(), dict(name="pgfleet_x", type="gauge", value=2), dict()])
    result = om.run(module, opener)
    assert len(opener.sent) == 3 and result["posted"] == 2 and result["reachable"] is True
    assert result["errors"] == ["pgfleet_x: HTTP 400 cannot change metric type of pgfleet_x, which is a counter"]
    assert len(module.warnings) == 1 and "1 metric sample(s) refused" in module.warnings[0]


def test_check_mode_sends_nothing_and_shows_the_payloads():
    opener = Opener()
    result = om.run(FakeModule(check_mode=True, metrics=[dict(labels={"outcome": "failed"})]), opener)
    assert opener.sent == [] and result["posted"] == 0
    assert result["payloads"] == [{"name": "pgfleet_reconciles__outcome__failed_total", "description": "h", "counter": {"add": 1.0}}]


def test_main_runs_end_to_end_on_a_closed_port(run_module):
    """No endpoint at all: the module exits normally (no failure) with reachable=false."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out = run_module(om, {"url": "http://127.0.0.1:%d/metrics" % port, "timeout": 0.5,
                          "metrics": [{"name": "pgfleet_reconciles_total", "type": "counter", "labels": {"outcome": "ok"}}]})
    assert out.kind == "exit", out.result
    assert out.result["reachable"] is False and out.result["changed"] is False
