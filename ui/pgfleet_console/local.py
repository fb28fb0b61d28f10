"""The local target: real Patroni clusters on this machine (the collection's LocalCluster).

Credentials stay in each cluster's state.json (mode 0600) and in this process; pages get member
tables, never a password.
"""

import json
import os
import re

from . import collection

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,56}[a-z0-9])?$")  # as the local target accepts them
ROW_KEYS = ("member", "role", "state", "lag", "timeline", "pending_restart", "pending_restart_reason", "pg_port",
            "api_url")


def _finished(op, result, job, done):
    """Log a Patroni operation's warnings and outcome (``done`` % (leader, leader before) when it
    says nothing); the leader before and after."""
    for w in op.warnings:
        job.log("warning: %s" % w)
    job.log(result.get("msg") or done % (result.get("leader"), result.get("leader_before")))
    return {"leader": result.get("leader"), "leader_before": result.get("leader_before")}


class LocalTarget(object):
    """``roots``: directories holding cluster state dirs (``<root>/<name>/state.json``), or state dirs
    themselves. New clusters go under the first root."""

    def __init__(self, roots=None, operator_config=None, apply_timeout=180.0):
        self.roots = [os.path.abspath(r) for r in (roots or [collection.DEFAULT_STATE_ROOT])]
        self.operator_config = operator_config
        self.apply_timeout = apply_timeout

    def _state_dirs(self):
        seen = []
        for root in self.roots:
            if os.path.isfile(os.path.join(root, "state.json")):
                seen.append(root)
                continue
            try:
                names = sorted(os.listdir(root))
            except OSError:
                continue
            for name in names:
                path = os.path.join(root, name)
                if os.path.isfile(os.path.join(path, "state.json")):
                    seen.append(path)
        return seen

    @staticmethod
    def _name_of(state_dir):
        try:
            with open(os.path.join(state_dir, "state.json")) as fh:
                return json.load(fh).get("name")
        except (OSError, ValueError):
            return None

    def names(self):
        out = {}
        for path in self._state_dirs():
            name = self._name_of(path)
            if name and name not in out:
                out[name] = path
        return out

    def cluster(self, name):
        path = self.names().get(name)
        if path is None:
            return None
        return collection.LocalCluster(name, state_dir=path)

    def new_state_dir(self, name):
        return os.path.join(self.roots[0], name)

    def summary(self, name):
        """Member table and health; no credentials."""
        lc = self.cluster(name)
        if lc is None:
            return None
        status = lc.status()
        rows = []
        for r in status.get("members") or []:
            rows.append(dict((k, r.get(k)) for k in ROW_KEYS))
        return {"name": name, "state_dir": lc.state_dir, "healthy": status.get("healthy"),
                "leader": status.get("leader"), "problems": status.get("problems") or [], "members": rows}

    # --- credentials (server side only) -------------------------------------------------------
    def _state(self, name):
        lc = self.cluster(name)
        if lc is None:
            raise collection.LocalClusterError("there is no local cluster named %s" % name, cluster=name)
        return lc, lc.load_state() or {}

    def patroni_client(self, name):
        lc, state = self._state(name)
        creds = (state.get("credentials") or {}).get("restapi") or {}
        urls = [m["api_url"] for _n, m in sorted((state.get("members") or {}).items())]
        answers = lc.answers(state, timeout=1.0)
        leader = next((state["members"][m]["api_url"] for m, a in answers.items()
                       if a and a.get("role") in ("primary", "master")), None)
        client = collection.PatroniClient(leader or urls[0], username=creds.get("username"),
                                          password=creds.get("password"), timeout=5.0)
        client.seeds = [client.api_url] + [u for u in urls if u != client.api_url]
        return client

    def superuser_conninfo(self, name):
        """(kwargs for psycopg.connect to the leader, leader member name, member pids); server side only."""
        lc, state = self._state(name)
        creds = (state.get("credentials") or {}).get("superuser") or {}
        answers = lc.answers(state, timeout=1.0)
        leader = next((m for m, a in answers.items() if a and a.get("role") in ("primary", "master")), None)
        member = state["members"][leader or sorted(state["members"])[0]]
        return ({"host": "127.0.0.1", "port": member["pg_port"], "user": creds.get("username"),
                 "password": creds.get("password"), "dbname": "postgres", "connect_timeout": 3,
                 "application_name": "pgfleet-console"}, leader)

    # --- operations (run inside a Job) --------------------------------------------------------
    def create(self, cr, job):
        name = cr["metadata"]["name"]
        if not NAME.match(name or ""):
            raise collection.LocalClusterError("%r is not a valid local cluster name" % name)
        if name in self.names():
            raise collection.LocalClusterError("a local cluster named %s exists already" % name, cluster=name)
        lc = collection.LocalCluster(name, state_dir=self.new_state_dir(name))
        job.log("building the model of %s" % name)
        model, conf = collection.model_from_manifest(cr, self.operator_config)
        plan = lc.plan_present(model, conf)
        for w in plan.get("warnings") or []:
            job.log("warning: %s" % w)
        job.set_steps([{"member": a["target"], "status": "planned", "action": a["action"]} for a in plan["actions"]])
        job.log("starting etcd and %d Patroni member(s) under %s" % (plan["model"]["instances"], lc.state_dir))
        result = lc.apply(plan, timeout=self.apply_timeout, wait=True)
        job.set_steps([{"member": r["member"], "status": r["state"], "action": r["role"]} for r in result["members"]])
        job.log("healthy: %s" % ", ".join("%s %s" % (r["member"], r["role"]) for r in result["members"]))
        return {"members": [r["member"] for r in result["members"]]}

    def switchover(self, name, candidate, job):
        client = self.patroni_client(name)
        op = collection.Switchover(client, log=job.log)
        job.log("switchover of %s%s" % (name, " to %s" % candidate if candidate else ""))
        result = op.run(candidate=candidate or None, timeout=90, candidate_timeout=15)
        return _finished(op, result, job, "leader is now %s (was %s)")

    def rolling_restart(self, name, job):
        client = self.patroni_client(name)
        op = collection.RollingRestart(client)

        def log(line):
            job.log(line)
            job.set_steps(op.progress)

        op.log = log
        job.log("rolling restart of %s: replicas first, the primary last after a switchover" % name)
        result = op.run(force=True, timeout=180, candidate_timeout=30)
        job.set_steps(op.progress)
        return _finished(op, result, job, "done; leader %s (was %s)")

    def delete(self, name, job):
        lc = self.cluster(name)
        if lc is None:
            raise collection.LocalClusterError("there is no local cluster named %s" % name, cluster=name)
        job.log("stopping the members and etcd of %s, then removing %s" % (name, lc.state_dir))
        result = lc.absent(timeout=30)
        for target, outcome in sorted((result.get("stopped") or {}).items()):
            job.log("%s: %s" % (target, outcome))
        return {"removed": lc.state_dir}
