#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: operator_metrics
short_description: Send labelled Prometheus samples to ansible-operator's custom-metrics endpoint
version_added: 0.1.0
description:
  - Sends each sample of O(metrics) to the local endpoint through which ansible-operator lets a playbook
    add metrics of its own (C(POST http://localhost:5050/metrics), one JSON document per sample); the
    operator registers them in its own registry and serves them on its Prometheus C(/metrics) port.
  - That endpoint knows metric names only, not labels. O(metrics[].labels) are therefore folded into the
    name the endpoint sees, C(<name>__<key>__<value>) for each label in key order, before a counter's
    C(_total); the ServiceMonitor shipped in C(operator/config/prometheus) turns each such name back into
    the metric with its labels when Prometheus scrapes it. See C(docs/operator.md), "Metrics and events".
  - Label values keep letters and digits; any other run of characters becomes one C(_).
  - Never fails because of the endpoint. When nothing answers (a playbook run from a laptop with
    O(url) pointing nowhere), the first sample's connection error ends the run within O(timeout)
    seconds, RV(reachable=false) and a warning say so, and the task succeeds. A sample the endpoint
    refuses (for example one name sent once as a counter and once as a gauge) is named in RV(errors).
  - Reports C(changed=false) always, as metrics are not a state this module manages.
  - In check mode nothing is sent; RV(payloads) shows what would be.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pgfleet.postgres.attributes
options:
  metrics:
    description:
      - The samples, sent in this order, one request each.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
    suboptions:
      name:
        description:
          - The metric name, starting with a letter, then letters, digits and single underscores (no C(__),
            which separates folded labels); a counter's name ends in C(_total).
        type: str
        required: true
      help:
        description:
          - The metric's help text (the C(# HELP) line). The endpoint keeps the text of the first sample of a name.
        type: str
        default: ""
      type:
        description:
          - The Prometheus metric type. The endpoint keeps the type of the first sample of a name and refuses another.
        type: str
        required: true
        choices: [counter, gauge, histogram, summary]
      value:
        description:
          - V(counter) - added to the counter (not negative; V(0) makes the series appear without changing it).
          - V(gauge) - the value the gauge is set to. The endpoint ignores a set to V(0).
          - V(histogram) and V(summary) - one observation.
        type: float
        default: 1.0
      set_to_current_time:
        description:
          - V(gauge) only - set the gauge to the current Unix time (on the operator's clock) instead of O(metrics[].value).
        type: bool
        default: false
      labels:
        description:
          - Label names (lower case letters, digits, single underscores) and their values.
        type: dict
        default: {}
  url:
    description:
      - The endpoint. ansible-operator listens on this address, inside its own container only.
    type: str
    default: http://localhost:5050/metrics
    version_added: 0.1.0
  timeout:
    description:
      - Seconds to wait for one request. The first sample that cannot be delivered for a network reason
        ends the run, so an absent endpoint costs at most this long.
    type: float
    default: 1.0
    version_added: 0.1.0
notes:
  - C(playbooks/reconcile.yml) calls it once per reconcile through C(roles/reconcile/tasks/metrics.yml),
    only when run by ansible-operator or when C(reconcile_metrics_url) is set.
"""

EXAMPLES = r"""
- name: Count one reconcile by its outcome and observe its duration
  pgfleet.postgres.operator_metrics:
    metrics:
      - name: pgfleet_reconciles_total
        help: Reconciles of postgresql objects, by outcome.
        type: counter
        labels:
          outcome: ok
      - name: pgfleet_reconcile_duration_seconds
        help: How long a reconcile took, by outcome.
        type: histogram
        value: 4.2
        labels:
          outcome: ok

- name: Send to a metrics endpoint elsewhere (a test server, a port-forward)
  pgfleet.postgres.operator_metrics:
    url: http://127.0.0.1:15050/metrics
    timeout: 0.5
    metrics:
      - name: pgfleet_last_reconcile_timestamp_seconds
        type: gauge
        set_to_current_time: true
"""

RETURN = r"""
payloads:
  description:
    - The JSON documents sent (in check mode, that would be sent), in order, as the endpoint reads them -
      C(name) (with the labels folded in), C(description), and one of C(counter), C(gauge), C(histogram), C(summary).
  returned: always
  type: list
  elements: dict
  sample:
    - name: pgfleet_reconciles__outcome__ok_total
      description: Reconciles of postgresql objects, by outcome.
      counter:
        add: 1.0
posted:
  description: How many samples the endpoint accepted.
  returned: always
  type: int
  sample: 7
reachable:
  description:
    - False when the endpoint could not be reached (nothing more was sent after the first such sample).
    - Not named C(unreachable), which Ansible reads as a host it cannot reach.
  returned: always
  type: bool
  sample: true
errors:
  description: Why a sample was not accepted, one line per sample.
  returned: always
  type: list
  elements: str
  sample: []
"""

import json
import re
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$")
LABEL = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# the suffixes a scrape may follow a folded label with: a counter's, and a histogram's or summary's series
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def label_value(value):
    """A label value as it can stand in a metric name: letters and digits, single underscores between
    them, never ending like a series suffix (so the ServiceMonitor's rule reads it back whole)."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", to_native(value if value is not None else "")).strip("_") or "none"
    for suffix in SUFFIXES:
        if text.endswith(suffix):
            text = text[:-len(suffix)] + suffix[1:]
    return text


def wire_name(name, mtype, labels):
    """The name the endpoint sees: ``labels`` folded in as ``__key__value`` in key order, before a
    counter's ``_total``."""
    if not labels:
        return name
    base, suffix = name, ""
    if mtype == "counter" and name.endswith("_total"):
        base, suffix = name[:-len("_total")], "_total"
    return base + "".join("__%s__%s" % (key, label_value(labels[key])) for key in sorted(labels)) + suffix


def check_metric(metric):
    """Why ``metric`` cannot be sent, or None."""
    name, mtype = metric["name"], metric["type"]
    if not NAME.match(name) or "__" in name:
        return "metric name %r: letters, digits and single underscores only" % name
    if mtype == "counter" and not name.endswith("_total"):
        return "counter %s: a counter's name ends in _total" % name
    if mtype == "counter" and metric["value"] < 0:
        return "counter %s: a counter cannot decrease (value %s)" % (name, metric["value"])
    if metric["set_to_current_time"] and mtype != "gauge":
        return "%s: set_to_current_time is for gauges" % name
    for key in metric["labels"] or {}:
        if not LABEL.match(key) or key.endswith(SUFFIXES):
            return "%s: label name %r: lower case letters, digits and single underscores, not ending like a series suffix" % (name, key)
    return None


def payload(metric):
    """The JSON document ansible-operator's endpoint reads for one sample."""
    mtype, value = metric["type"], float(metric["value"])
    if mtype == "counter":
        body = {"add": value}
    elif mtype == "gauge":
        body = {"set_to_current_time": True} if metric["set_to_current_time"] else {"set": value}
    else:
        body = {"observe": value}
    return {"name": wire_name(metric["name"], mtype, metric["labels"]), "description": metric["help"] or "", mtype: body}


def post(url, doc, timeout, opener=open_url):
    """Send one document: None when accepted, else (reachable, why)."""
    try:
        resp = opener(url, data=json.dumps(doc), method="POST", headers={"Content-Type": "application/json"},
                      timeout=timeout, use_proxy=False, follow_redirects="none", validate_certs=False)
        resp.read()
        return None
    except HTTPError as e:
        try:
            why = to_native(e.read()).strip()
        except Exception:  # the body of a refusal is a courtesy
            why = ""
        return True, "%s: HTTP %s %s" % (doc["name"], e.code, why or e.reason)
    except (URLError, socket.error, socket.timeout, OSError) as e:
        return False, "%s: %s unreachable: %s" % (doc["name"], url, to_native(getattr(e, "reason", e)))


def argument_spec():
    return dict(
        metrics=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            help=dict(type="str", default=""),
            type=dict(type="str", required=True, choices=["counter", "gauge", "histogram", "summary"]),
            value=dict(type="float", default=1.0),
            set_to_current_time=dict(type="bool", default=False),
            labels=dict(type="dict", default={}),
        )),
        url=dict(type="str", default="http://localhost:5050/metrics"),
        timeout=dict(type="float", default=1.0),
    )


def run(module, opener=open_url):
    p = module.params
    problems = [why for why in (check_metric(m) for m in p["metrics"]) if why]
    if problems:
        module.fail_json(msg="; ".join(problems))
    docs = [payload(m) for m in p["metrics"]]
    result = dict(changed=False, payloads=docs, posted=0, reachable=True, errors=[])
    if module.check_mode:
        return result
    for doc in docs:
        failure = post(p["url"], doc, p["timeout"], opener)
        if failure is None:
            result["posted"] += 1
            continue
        reachable, why = failure
        result["errors"].append(why)
        if not reachable:
            result["reachable"] = False
            break
    if not result["reachable"]:
        module.warn("no metrics sent: %s" % result["errors"][-1])
    elif result["errors"]:
        module.warn("%d metric sample(s) refused: %s" % (len(result["errors"]), "; ".join(result["errors"])))
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
