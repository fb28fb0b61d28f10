# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""In-place major upgrade of a local cluster (etcd + Patroni on loopback), for real.

The steps, the point of no return and the rollback are described in docs/design/upgrade.md.
In short: pre-checks (nothing touched when one fails) -> pause Patroni -> stop every member
(replicas first, the leader last, cleanly) -> ``initdb`` + ``pg_upgrade --link`` into
``<member>/data.new`` on the leader -> [point of no return] swap the data directories, point
every member's Patroni at the new ``bin_dir``, give the DCS the new system identifier and
resume -> start the leader on the new major -> rebuild each replica from it (Patroni clones an
empty data directory) -> regenerate missing statistics. A failure before the point of no
return puts the old files back and starts the old major again; ``state["upgrade"]`` says why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json
import os
import shutil
import subprocess
import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import etcd as etcd_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import versions
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.members import answers, member_rows
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.processes import free_ports
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.render import _yaml_dump
from ansible_collections.pgfleet.postgres.plugins.module_utils.upgrade import gates, prechecks

NEW_DIR = "data.new"
WORK_DIR = "upgrade-work"


class UpgradeError(PgfleetError):
    """The upgrade was refused or failed; ``context`` holds ``refused``/``steps``/``rolled_back``."""


class InjectedFault(Exception):
    """Raised by the ``fault`` hook (tests): a failure at a chosen step."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def extension_dir(bin_dir, major):
    """The target's ``share/extension`` directory, or None."""
    for path in (os.path.join(os.path.dirname(bin_dir), "share", "extension"),
                 os.path.join(os.path.dirname(bin_dir), "share", "postgresql", "extension"),
                 "/usr/share/postgresql/%s/extension" % major):
        if os.path.isdir(path):
            return path
    return None


def control_names(path):
    if not path:
        return None
    return sorted(n[:-len(".control")] for n in os.listdir(path) if n.endswith(".control"))


def controldata(bin_dir, data_dir):
    out = subprocess.run([os.path.join(bin_dir, "pg_controldata"), data_dir], capture_output=True, text=True,
                         env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    values = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


class LocalUpgrade(object):
    """One upgrade of the local cluster ``cluster`` (a ``LocalCluster``) to major ``target``."""

    def __init__(self, cluster, target, method="link", max_lag=prechecks.MAX_LAG_BYTES,
                 max_seconds=prechecks.MAX_TRANSACTION_SECONDS, keep_old=False, fault=None, progress=None,
                 timeout=300.0):
        self.cluster = cluster
        self.target = str(target)
        self.method = method
        self.max_lag = max_lag
        self.max_seconds = max_seconds
        self.keep_old = keep_old
        self.fault = fault
        self.progress = progress
        self.timeout = timeout
        self.steps = []
        self._settings = None
        self._token = None
        self._t = time.monotonic()

    # --- small helpers ------------------------------------------------------------------------
    def _step(self, name, detail=""):
        now = time.monotonic()
        if self.steps:
            self.steps[-1]["seconds"] = round(now - self._t, 3)
        self._t = now
        self.steps.append({"step": name, "detail": detail, "seconds": None})
        if self.progress:
            self.progress(name, detail)
        if self.fault == name:
            raise InjectedFault("failure injected at step %s" % name)

    def _env(self, state):
        return {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
                "PGPASSWORD": state["credentials"]["superuser"]["password"],
                "HOME": self.cluster.user.pw_dir}

    def _run(self, argv, state, cwd=None, timeout=3600):
        """Run as the cluster's OS user (postgres when we are root); CompletedProcess, text."""
        kwargs = {}
        if os.geteuid() == 0:
            kwargs = {"user": self.cluster.user.pw_uid, "group": self.cluster.user.pw_gid, "extra_groups": []}
        return subprocess.run(argv, capture_output=True, text=True, env=self._env(state), cwd=cwd or "/",
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL, **kwargs)

    def _sql(self, state, bin_dir, port, query, dbname="postgres"):
        argv = [os.path.join(bin_dir, "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(port), "-U", state["credentials"]["superuser"]["username"],
                "-d", dbname, "-c", query]
        out = self._run(argv, state, timeout=120)
        if out.returncode != 0:
            raise UpgradeError("psql on port %s failed: %s" % (port, out.stderr.strip()[-500:]))
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def _mkdir(self, path):
        os.mkdir(path, 0o700)
        self.cluster._own(path)

    def _leader(self, state, rows=None):
        rows = rows if rows is not None else member_rows(answers(state))
        leaders = [r["member"] for r in rows if r["role"] == "leader" and r["state"] == "running"]
        return (leaders[0] if len(leaders) == 1 else None), rows

    # --- facts and the plan -------------------------------------------------------------------
    def facts(self, state, with_pg_upgrade_check=True):
        old_bin = state["pg_bin_dir"]
        new_bin = versions.bin_dir(self.target)
        leader, rows = self._leader(state)
        facts = {"members": [{"name": r["member"], "role": r["role"] if r["role"] != "sync_standby" else "replica",
                              "state": r["state"], "lag": r["lag"]} for r in rows if r["state"] != "unreachable"],
                 "expected_members": sorted(state["members"]), "target": self.target, "leader": leader,
                 "new_bin_dir": new_bin}
        if leader is None:
            return facts
        info = state["members"][leader]
        port = info["pg_port"]
        facts["long_transactions"] = [
            {"pid": r[0], "usename": r[1], "datname": r[2], "seconds": r[3]} for r in self._sql(
                state, old_bin, port,
                "SELECT pid, usename, datname, extract(epoch FROM now() - xact_start)::bigint FROM pg_stat_activity "
                "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND application_name NOT LIKE 'Patroni%%' AND now() - xact_start > interval '%d seconds' "
                "ORDER BY xact_start" % int(self.max_seconds))]
        facts["data_bytes"] = dir_bytes(info["data_dir"])
        facts["free_bytes"] = shutil.disk_usage(os.path.dirname(info["data_dir"])).free
        facts["extensions"] = {}
        for (db,) in self._sql(state, old_bin, port, "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"):
            facts["extensions"][db] = [r[0] for r in self._sql(state, old_bin, port, "SELECT extname FROM pg_extension", db)]
        facts["target_extensions"] = control_names(extension_dir(new_bin, self.target)) if new_bin else None
        if with_pg_upgrade_check:
            pre = prechecks.evaluate(facts, self.method, self.max_lag, self.max_seconds)
            facts["pg_upgrade_check"] = self.pg_upgrade_check(state, leader) if pre["ok"] else None
        return facts

    def _initdb(self, state, leader, new_dir, new_bin):
        """``initdb`` of the target major with the old cluster's encoding, locale, checksums and install user."""
        info = state["members"][leader]
        row = self._sql(state, state["pg_bin_dir"], info["pg_port"],
                        "SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                        "(SELECT rolname FROM pg_authid WHERE oid = 10) FROM pg_database WHERE datname = 'template1'")[0]
        checksums = controldata(state["pg_bin_dir"], info["data_dir"]).get("Data page checksum version", "0")
        self._settings = (row[0], row[1], row[2], row[3], checksums)
        return self._initdb_with(state, new_dir, new_bin, self._settings)

    def _pg_upgrade(self, state, leader, new_dir, user, check):
        info = state["members"][leader]
        mdir = os.path.dirname(info["data_dir"])
        work = os.path.join(mdir, WORK_DIR)
        if not os.path.isdir(work):
            self._mkdir(work)
        new_bin = versions.bin_dir(self.target)
        new_port = free_ports(1)[0]
        argv = [os.path.join(new_bin, "pg_upgrade"), "-b", state["pg_bin_dir"], "-B", new_bin,
                "-d", info["data_dir"], "-D", new_dir, "-p", str(info["pg_port"]), "-P", str(new_port),
                "-U", user, "-s", work, "--" + self.method]
        if check:
            argv.append("--check")
        out = self._run(argv, state, cwd=work)
        return {"ok": out.returncode == 0, "output": (out.stdout + "\n" + out.stderr)[-4000:]}

    def pg_upgrade_check(self, state, leader):
        """``pg_upgrade --check`` against the running old leader into a throw-away new cluster."""
        mdir = os.path.dirname(state["members"][leader]["data_dir"])
        check_dir = os.path.join(mdir, "upgrade-check")
        if os.path.lexists(check_dir):
            shutil.rmtree(check_dir)
        try:
            user = self._initdb(state, leader, check_dir, versions.bin_dir(self.target))
            return self._pg_upgrade(state, leader, check_dir, user, check=True)
        except UpgradeError as err:
            return {"ok": False, "output": err.msg}
        finally:
            shutil.rmtree(check_dir, ignore_errors=True)
            shutil.rmtree(os.path.join(mdir, WORK_DIR), ignore_errors=True)

    def plan(self, state=None):
        """The pre-checks as a plan: what would happen, and every reason it would not. Changes nothing."""
        state = state or self.cluster.load_state()
        if not state:
            raise UpgradeError("cluster %s does not exist under %s" % (self.cluster.name, self.cluster.state_dir))
        current = str(state.get("pg_version"))
        new_bin = versions.bin_dir(self.target)
        if new_bin is None or not os.access(os.path.join(new_bin, "pg_upgrade"), os.X_OK):
            have = ", ".join(sorted(versions.installed(), key=int))
            raise UpgradeError("PostgreSQL %s (with pg_upgrade) is not installed here (installed: %s); install it "
                               "with scripts/setup.sh" % (self.target, have))
        facts = self.facts(state)
        verdict = prechecks.evaluate(facts, self.method, self.max_lag, self.max_seconds)
        steps = ["initdb PostgreSQL %s beside the leader %s" % (self.target, facts.get("leader")), "pause Patroni",
                 "stop the replicas, then the leader %s" % facts.get("leader"),
                 "pg_upgrade --%s on %s" % (self.method, facts.get("leader")),
                 "point every member at %s" % new_bin, "start %s on %s" % (facts.get("leader"), self.target),
                 "rebuild the replicas from it", "regenerate missing statistics", "resume Patroni"]
        return {"from": current, "to": self.target, "leader": facts.get("leader"), "method": self.method,
                "ok": verdict["ok"], "checks": verdict["checks"], "refused": verdict["refused"], "steps": steps,
                "old_bin_dir": state.get("pg_bin_dir"), "new_bin_dir": new_bin}

    # --- the upgrade --------------------------------------------------------------------------
    def _mark(self, state, key, **extra):
        up = dict(state.get("upgrade") or {})
        up[key] = gates.timestamp(_now())
        if key == gates.SUCCESS_KEY:
            up.pop(gates.FAILURE_KEY, None)
            up.pop("reason", None)
        up.update(extra)
        up["steps"] = self.steps
        state["upgrade"] = up
        self.cluster.save_state(state)

    def _etcd(self, state, key, value=None, delete=False):
        port = state["etcd"]["client_port"]
        if self._token is None:  # one authentication per run (etcd hashes the password: slow)
            self._token = etcd_mod.authenticate(port, state["credentials"]["etcd"]["root"])
        token = self._token
        full = "/pgfleet/%s/%s" % (state["name"], key)
        if delete:
            return etcd_mod.call(port, "/v3/kv/deleterange", {"key": etcd_mod._b64(full)}, token)
        if value is None:
            status, answer = etcd_mod.call(port, "/v3/kv/range", {"key": etcd_mod._b64(full)}, token)
            kvs = answer.get("kvs") or []
            return base64.b64decode(kvs[0]["value"]).decode("utf-8") if kvs else None
        status, answer = etcd_mod.call(port, "/v3/kv/put", {"key": etcd_mod._b64(full), "value": etcd_mod._b64(value)},
                                       token)
        if status != 200:
            raise UpgradeError("etcd refused to write %s: HTTP %s %s" % (full, status, answer))
        return value

    def _resume_in_dcs(self, state):
        """Drop ``pause`` from the DCS config while every Patroni is stopped (they read it at start)."""
        text = self._etcd(state, "config")
        config = json.loads(text) if text else {}
        if config.pop("pause", None) is not None:
            self._etcd(state, "config", json.dumps(config, separators=(",", ":")))

    def _pause(self, state, leader):
        client = self.cluster.client(state, leader)
        client.patch_config({"pause": True})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = answers(state)
            if all((a or {}).get("pause") for a in got.values()):
                return
            time.sleep(0.5)
        raise UpgradeError("Patroni did not report the pause on every member within 60 s")

    def _start_all(self, state, first):
        self.cluster.start_member(first, state=state)
        for member in sorted(state["members"]):
            if member != first:
                self.cluster.start_member(member, state=state)

    def _write_configs(self, state, bin_dir):
        import yaml  # PyYAML comes with ansible-core; imported where used (module_utils rule)
        for _member, info in sorted(state["members"].items()):
            with open(info["config"]) as fh:
                conf = yaml.safe_load(fh)
            conf["postgresql"]["bin_dir"] = bin_dir
            self.cluster._write_private(info["config"], _yaml_dump(conf))

    def _wait_primary(self, state, leader, bin_dir):
        port = state["members"][leader]["pg_port"]
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self._sql(state, bin_dir, port, "SELECT pg_is_in_recovery()") == [["f"]]:
                    return time.monotonic()
            except UpgradeError:
                pass
            if time.monotonic() > deadline:
                raise UpgradeError("%s did not accept writes within %ss" % (leader, self.timeout))
            time.sleep(0.2)

    def _rollback(self, state, leader, old_data, new_dir):
        """Before the point of no return: the old files back as they were, the old major running again."""
        control = os.path.join(old_data, "global", "pg_control")
        if os.path.exists(control + ".old") and not os.path.exists(control):
            os.rename(control + ".old", control)
        shutil.rmtree(new_dir, ignore_errors=True)
        shutil.rmtree(os.path.join(os.path.dirname(old_data), WORK_DIR), ignore_errors=True)
        self._resume_in_dcs(state)
        self._start_all(state, leader)
        self.cluster.wait_healthy(self.timeout, state=state)

    def run(self):
        """Upgrade; returns the result dict. Raises ``UpgradeError`` (with the plan) when refused or failed."""
        state = self.cluster.load_state()
        plan = self.plan(state)
        if not plan["ok"]:
            raise UpgradeError("the upgrade of %s to PostgreSQL %s was refused, nothing was changed: %s"
                               % (self.cluster.name, self.target, "; ".join(plan["refused"])), plan=plan,
                               refused=plan["refused"])
        leader = plan["leader"]
        old_bin, new_bin, old_major = state["pg_bin_dir"], plan["new_bin_dir"], str(state["pg_version"])
        info = state["members"][leader]
        old_data = info["data_dir"]
        mdir = os.path.dirname(old_data)
        new_dir = os.path.join(mdir, NEW_DIR)
        if os.path.lexists(new_dir):
            raise UpgradeError("%s exists (left by an earlier attempt?); remove it, then run again" % new_dir)
        replicas = sorted(m for m in state["members"] if m != leader)
        t_down = None
        try:
            # initdb while the old cluster still serves: it is not part of the write downtime
            self._step("initdb", "PostgreSQL %s in %s" % (self.target, new_dir))
            user = self._initdb_with(state, new_dir, new_bin, self._settings)
            self._step("pause", "Patroni maintenance mode on, the leader key stays with %s" % leader)
            self._pause(state, leader)
            self._step("stop", "replicas %s, then the leader %s" % (", ".join(replicas), leader))
            for member in replicas:
                self.cluster.stop_member(member, state=state)
            t_down = time.monotonic()
            self.cluster.stop_member(leader, state=state)
            cd = controldata(old_bin, old_data)
            if cd.get("Database cluster state") != "shut down":
                raise UpgradeError("the leader did not shut down cleanly (%s)" % cd.get("Database cluster state"))
            self._step("pg_upgrade", "--%s from %s to %s" % (self.method, old_major, self.target))
            result = self._pg_upgrade(state, leader, new_dir, user, check=False)
            if not result["ok"]:
                raise UpgradeError("pg_upgrade failed: %s" % " | ".join(result["output"].strip().splitlines()[-8:]))
            self._step("pg_upgrade_done", "the old cluster is untouched until the new one starts")
        except Exception as err:  # pylint: disable=broad-except
            reason = getattr(err, "msg", None) or str(err)
            self.steps.append({"step": "rollback", "detail": reason, "seconds": None})
            try:
                self._rollback(state, leader, old_data, new_dir)
                rolled = True
            except Exception as again:  # pylint: disable=broad-except
                rolled = False
                reason += "; the rollback failed too: %s" % (getattr(again, "msg", None) or again)
            self._mark(state, gates.FAILURE_KEY, reason=reason, rolled_back=rolled,
                       **{"from": old_major, "to": self.target})
            raise UpgradeError("the upgrade of %s to PostgreSQL %s failed before the point of no return; %s: %s"
                               % (self.cluster.name, self.target,
                                  "PostgreSQL %s runs again" % old_major if rolled else "NOT rolled back", reason),
                               rolled_back=rolled, steps=self.steps, plan=plan) from None
        # --- the point of no return: the new cluster takes over the linked files ---
        try:
            self._step("switch", "data directories swapped, every member pointed at %s" % new_bin)
            os.rename(old_data, os.path.join(mdir, "data.%s.old" % old_major))
            os.rename(new_dir, old_data)
            sysid = controldata(new_bin, old_data).get("Database system identifier")
            self._write_configs(state, new_bin)
            state["pg_version"], state["pg_bin_dir"] = self.target, new_bin
            self.cluster.save_state(state)
            # The caller's cluster object too: its next present must not render the old bin dir.
            self.cluster.pg_bin_dir = new_bin
            self._etcd(state, "initialize", sysid)
            self._resume_in_dcs(state)
            self._step("start_leader", "%s on PostgreSQL %s" % (leader, self.target))
            self.cluster.start_member(leader, state=state)
            t_up = self._wait_primary(state, leader, new_bin)
            downtime = round(t_up - t_down, 3)
            self._step("rebuild_replicas", ", ".join(replicas))
            for member in replicas:
                rdata = state["members"][member]["data_dir"]
                old_copy = os.path.join(os.path.dirname(rdata), "data.%s.old" % old_major)
                shutil.rmtree(old_copy, ignore_errors=True)
                os.rename(rdata, old_copy)
                self.cluster.start_member(member, state=state)
            self.cluster.wait_healthy(self.timeout, state=state)
            self._step("statistics", "vacuumdb --analyze-in-stages --missing-stats-only")
            port = info["pg_port"]
            out = self._run([os.path.join(new_bin, "vacuumdb"), "--all", "--analyze-in-stages", "--missing-stats-only",
                             "-h", "127.0.0.1", "-p", str(port), "-U", state["credentials"]["superuser"]["username"]],
                            state)
            stats_warning = None if out.returncode == 0 else "vacuumdb failed: %s" % out.stderr.strip()[-300:]
            self._step("cleanup", "old data directories %s" % ("kept" if self.keep_old else "removed"))
            if not self.keep_old:
                for member in sorted(state["members"]):
                    shutil.rmtree(os.path.join(os.path.dirname(state["members"][member]["data_dir"]),
                                               "data.%s.old" % old_major), ignore_errors=True)
            shutil.rmtree(os.path.join(mdir, WORK_DIR), ignore_errors=True)
            self._step("done", "PostgreSQL %s" % self.target)
        except Exception as err:  # pylint: disable=broad-except
            reason = getattr(err, "msg", None) or str(err)
            self._mark(state, gates.FAILURE_KEY, reason="after the point of no return: " + reason, rolled_back=False,
                       **{"from": old_major, "to": self.target})
            raise UpgradeError("the upgrade of %s failed after the point of no return (the new cluster had started; "
                               "the old files under data.%s.old are not usable with --link): %s. Look at the member "
                               "logs under %s" % (self.cluster.name, old_major, reason, self.cluster.state_dir),
                               rolled_back=False, steps=self.steps) from None
        marks = {"from": old_major, "to": self.target, "downtime_seconds": downtime, "rolled_back": False}
        self._mark(state, gates.SUCCESS_KEY, **marks)
        return {"changed": True, "from": old_major, "to": self.target, "leader": leader, "steps": self.steps,
                "write_downtime_seconds": downtime, "checks": plan["checks"],
                "warnings": [stats_warning] if stats_warning else []}

    def _initdb_with(self, state, new_dir, new_bin, settings):
        enc, collate, ctype, user, checksums = settings
        argv = [os.path.join(new_bin, "initdb"), "-D", new_dir, "-U", user, "--encoding", enc,
                "--locale-provider", "libc", "--lc-collate", collate, "--lc-ctype", ctype, "--auth", "trust",
                "--data-checksums" if checksums not in ("0", "") else "--no-data-checksums"]
        out = self._run(argv, state, timeout=600)
        if out.returncode != 0:
            raise UpgradeError("initdb of PostgreSQL %s failed: %s" % (self.target, (out.stdout + out.stderr)[-800:]))
        return user
