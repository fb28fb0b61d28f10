# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The Spilo pods of one cluster: wait until they are ready, and recreate them one by one.

Readiness: ``instances`` pods exist, each is Running and Ready and carries the
role label (``spilo-role`` = ``master`` or ``replica``), and exactly one is ``master``. More than one
master is an error (split brain is never "nearly ready").

Recreation (docs/design/reconcile.md, section 3): delete one pod, wait until it is gone, then until a *new* pod of that
name (another uid) is Ready and labelled; the next pod only then. Each pod got the persistent flag
before (module ``k8s_apply_set``), so an interrupted run leaves the rest flagged for the next one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import KubernetesError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.state import pods_summary, readiness


class Pods(object):
    def __init__(self, api, name, namespace, selector, role_label="spilo-role", interval=2.0,
                 sleep=time.sleep, monotonic=time.monotonic):
        self.api = api
        self.name = name
        self.namespace = namespace
        self.selector = selector
        self.role_label = role_label
        self.interval = interval
        self.sleep = sleep
        self.monotonic = monotonic

    def read(self):
        pods = self.api.list("v1", "Pod", self.namespace, self.selector)
        mine = [p for p in pods if p["metadata"]["name"].rpartition("-")[0] == self.name
                and p["metadata"]["name"].rpartition("-")[2].isdigit()]
        return pods_summary(mine, self.role_label)

    def check(self, pods, instances):
        """(ready, reasons, leader); more than one master raises."""
        ready, reasons, leader, masters = readiness(pods, instances, self.role_label)
        if len(masters) > 1:
            raise KubernetesError("more than one pod is labelled %s=master: %s; Patroni must resolve this "
                                  "before anything else is done" % (self.role_label, ", ".join(p["name"] for p in masters)),
                                  pods=pods)
        return ready, reasons, leader

    def wait_ready(self, instances, timeout):
        deadline = self.monotonic() + timeout
        while True:
            pods = self.read()
            ready, reasons, leader = self.check(pods, instances)
            if ready or self.monotonic() >= deadline:
                return {"ready": ready, "reasons": reasons, "leader": leader, "pods": pods}
            self.sleep(self.interval)

    def recreate(self, names, timeout, delete_timeout=None, dry_run=False):
        """Recreate ``names`` in order. Returns (done list, error message or None)."""
        done = []
        delete_timeout = delete_timeout or timeout
        for name in names:
            before = dict((p["name"], p) for p in self.read())
            old = before.get(name)
            if old is None:
                done.append({"name": name, "skipped": "pod does not exist"})
                continue
            started = self.monotonic()
            if not old["terminating"]:
                self.api.delete("v1", "Pod", name, self.namespace, uid=old["uid"])
            if dry_run:
                done.append({"name": name, "old_uid": old["uid"], "check_mode": True})
                continue
            new = None
            deadline = started + delete_timeout
            while True:
                pods = dict((p["name"], p) for p in self.read())
                cur = pods.get(name)
                if cur is None or cur["uid"] != old["uid"]:
                    break
                if self.monotonic() >= deadline:
                    return done, "pod %s was deleted but still exists after %ss" % (name, delete_timeout)
                self.sleep(self.interval)
            deadline = self.monotonic() + timeout
            while True:
                pods = dict((p["name"], p) for p in self.read())
                cur = pods.get(name)
                if cur and cur["uid"] != old["uid"] and cur["ready"] and cur["role"] in ("master", "replica"):
                    new = cur
                    break
                if self.monotonic() >= deadline:
                    state = "absent" if cur is None else "%s, ready=%s, %s=%s" % (
                        cur["phase"], cur["ready"], self.role_label, cur["role"])
                    return done, ("pod %s did not come back ready with a %s label within %ss (%s)"
                                  % (name, self.role_label, timeout, state))
                self.sleep(self.interval)
            done.append({"name": name, "old_uid": old["uid"], "new_uid": new["uid"], "role": new["role"],
                         "was_role": old["role"], "seconds": round(self.monotonic() - started, 2)})
        return done, None
