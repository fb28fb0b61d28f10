# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A real Patroni cluster on this machine: one etcd plus N Patroni members on loopback ports.

The local target of pgfleet.postgres, in one package (docs/design/local.md):

* ``layout``: names, the home, state dirs and their marker (nothing removed that we did not create);
* ``render``: pure: model + Spilo configuration -> one ``patroni.yml`` per member, etcd's argv;
* ``etcd``: etcd's command line, health and authentication (users, roles);
* ``processes``: start as the service user, find, signal and stop by PID, free ports;
* ``members``: the member table from every member's ``GET /patroni`` (the one Patroni client);
* ``sql``: roles and databases on the leader (the role/database sync code);
* this file: ``LocalCluster``, the orchestration: ``plan_present`` computes the actions,
  ``apply`` runs them, ``status`` reads, ``absent`` stops what was started and removes the data.

Everything runs as the ``postgres`` OS user (PostgreSQL refuses root). The state dir
(default ``/var/lib/pgfleet/clusters/<name>``) holds ``state.json`` (mode 0600: ports, PIDs and
credentials), ``etcd/``, ``run/`` (unix sockets) and one directory per member with its
``patroni.yml``, ``patroni.log`` and ``data/``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd
import shutil
import signal
import time

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError, PatroniError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import etcd as etcd_mod
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import layout as lay
from ansible_collections.pgfleet.postgres.plugins.module_utils.local import versions
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.inputs import (
    existing_secrets,
    load_manifest_file,
    model_from_manifest,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.layout import LocalClusterError
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.members import (
    _is_leader,
    answers,
    format_table,
    health,
    member_rows,
    patroni_state,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.processes import (
    _port_busy,
    _tail,
    free_ports,
    host_facts,
    pid_alive,
    postmaster_pid,
    processes_using,
    spawn,
    stop_pid,
    unreachable_ancestor,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.render import (
    DEFAULT_ETCD,
    DEFAULT_PG_BIN_DIR,
    LOCAL_PG_VERSION,
    LOOPBACK,
    MAX_MEMBERS,
    _yaml_dump,
    credentials_from_model,
    filter_parameters,
    initdb_options,
    member_limit,
    member_names,
    multi_host_dsn,
    pg_hba_lines,
    render_cluster,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.sql import (
    physical_slots,
    slot_name,
    spilo_bootstrap_roles,
    sync_sql,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.patroni.client import PatroniClient

#: The API of the local target: LocalCluster, and the helpers of its submodules that callers (the
#: modules, the harness, the console) reach through this one import.
__all__ = [
    "DEFAULT_STATE_ROOT", "LocalCluster", "LocalClusterError", "MAX_MEMBERS",
    "existing_secrets", "filter_parameters", "format_table", "initdb_options", "load_manifest_file",
    "model_from_manifest", "patroni_state", "pg_hba_lines", "spilo_bootstrap_roles", "sync_sql",
]

DEFAULT_STATE_ROOT = lay.DEFAULT_HOME
DEFAULT_PATRONI = "/var/lib/pgfleet/venv/bin/patroni"
DEFAULT_OS_USER = "postgres"
STATE_FORMAT = 1


class LocalCluster(object):
    """One local cluster, identified by its state dir. Methods plan, act and read state.

    ``os_user`` is used when running as root; otherwise everything runs as the current user.
    """

    def __init__(self, name, state_dir=None, state_root=None, os_user=DEFAULT_OS_USER,
                 patroni_bin=DEFAULT_PATRONI, pg_bin_dir=None, etcd_bin=DEFAULT_ETCD):
        # ``pg_bin_dir`` None: the bin dir of the major the manifest asks for (local/versions.py).
        # ``state_root`` is the home every state dir must lie in. A Python caller that names only a
        # state_dir chose it in code: its parent is the home then (the module always passes the home).
        if state_root is None:
            state_root = os.path.dirname(os.path.realpath(state_dir)) if state_dir else DEFAULT_STATE_ROOT
        self.name = lay.check_name(name)
        self.home = state_root
        self.state_dir = lay.resolve_state_dir(name, state_dir, state_root)
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.patroni_bin = patroni_bin
        self.pg_bin_dir = pg_bin_dir
        self.etcd_bin = etcd_bin
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam(os_user)
            except KeyError:
                raise LocalClusterError("the OS user %r does not exist; install postgresql-15 (it creates "
                                        "the postgres user) or set os_user" % os_user) from None
        else:
            self.user = pwd.getpwuid(os.geteuid())
        self.uids = set([os.geteuid(), self.user.pw_uid])
        self.warnings = []

    def ownership(self):
        """``absent``, ``ours`` or ``foreign`` (a directory we did not create for this cluster)."""
        return lay.ownership(self.state_dir, self.name, self.uids)

    def _refuse_foreign(self):
        if self.ownership() == "foreign":
            raise LocalClusterError("%s exists and was not created by the local target for cluster %s (no marker "
                                    "file %s in it); nothing was changed or removed. Choose another name or "
                                    "state_dir" % (self.state_dir, self.name, lay.MARKER), cluster=self.name)

    # --- state file ---------------------------------------------------------------------------
    def load_state(self):
        if self.ownership() != "ours":
            return None
        try:
            with open(self.state_file) as fh:
                state = json.load(fh)
        except (IOError, OSError):
            return None
        except ValueError as err:
            raise LocalClusterError("%s is not valid JSON (%s); remove the state dir with state=absent "
                                    "or by hand" % (self.state_file, err), cluster=self.name) from None
        if state.get("name") != self.name:
            raise LocalClusterError("%s belongs to cluster %r, not %r; use another state_dir"
                                    % (self.state_file, state.get("name"), self.name), cluster=self.name)
        return state

    def save_state(self, state):
        tmp = self.state_file + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
        self._own(tmp)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.state_file)

    def save_credentials(self, credentials):
        """Write ``credentials`` into state.json (after a password rotation: ``sync_sql`` calls it
        only once the roles hold the new passwords)."""
        state = self.load_state()
        if state is None:
            raise LocalClusterError("%s is gone; the rotated credentials could not be written (the previous ones "
                                    "still work, the next present rotates again)" % self.state_file, cluster=self.name)
        state["credentials"] = credentials
        self.save_state(state)

    def _own(self, path):
        if os.geteuid() == 0:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _mkdir(self, path, mode=0o700):
        """A private directory inside our state dir (never a symlink or someone else's directory)."""
        root = os.geteuid() == 0
        lay.make_private_dir(path, self.user.pw_uid if root else None, self.user.pw_gid if root else None, mode)

    def _write_private(self, path, text):
        """Write a file only this user and the service user can read; True if it changed."""
        try:
            with open(path) as fh:
                if fh.read() == text:
                    return False
        except (IOError, OSError):
            pass
        if os.path.lexists(path + ".tmp"):
            os.unlink(path + ".tmp")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        self._own(path + ".tmp")
        os.rename(path + ".tmp", path)
        return True

    def socket_dir(self):
        return lay.socket_dir_for(self.state_dir)

    # --- processes ----------------------------------------------------------------------------
    def _spawn(self, argv, log_path, cwd):
        return spawn(argv, log_path, cwd, self.user, [self.pg_bin_dir or DEFAULT_PG_BIN_DIR])

    def _wait_etcd(self, port, pid, timeout):
        try:
            etcd_mod.wait_healthy(port, lambda: pid_alive(pid), timeout,
                                  lambda: _tail(os.path.join(self.state_dir, "etcd.log"), 5))
        except etcd_mod.EtcdError as err:
            raise LocalClusterError(err.msg, cluster=self.name) from None

    # --- plan / apply -------------------------------------------------------------------------
    def layout(self, state, instances):
        """Ports and paths: kept from ``state`` for existing members, fresh free ports otherwise."""
        taken = set()
        etcd = dict((state or {}).get("etcd") or {})
        members = {}
        for info in ((state or {}).get("members") or {}).values():
            taken.update((info["pg_port"], info["api_port"]))
        if etcd:
            taken.update((etcd["client_port"], etcd["peer_port"]))
        else:
            etcd["client_port"], etcd["peer_port"] = free_ports(2, taken)
            taken.update((etcd["client_port"], etcd["peer_port"]))
        old = (state or {}).get("members") or {}
        for member in member_names(self.name, instances):
            if member in old:
                members[member] = {"pg_port": old[member]["pg_port"], "api_port": old[member]["api_port"]}
            else:
                pg_port, api_port = free_ports(2, taken)
                taken.update((pg_port, api_port))
                members[member] = {"pg_port": pg_port, "api_port": api_port}
        return {"state_dir": self.state_dir, "socket_dir": self.socket_dir(),
                "etcd": {"client_port": etcd["client_port"], "peer_port": etcd["peer_port"]},
                "members": members}

    def plan_present(self, model, spilo_conf, facts=None):
        """What ``apply`` would do to make the cluster match the model. Changes nothing."""
        instances = int(model.get("instances") or 0)
        if instances < 1:
            raise ManifestError("spec.numberOfInstances", "is %s" % instances,
                                "the local target needs at least 1 instance")
        params = ((model.get("spec") or {}).get("postgresql") or {}).get("parameters") or {}
        member_limit(instances, params)  # the fixed bound first: cheap, before any fact is read
        self._refuse_foreign()
        state = self.load_state()
        if facts is None:
            bin_dir, major, version_warnings = self.pg_binaries(model, state)
            facts = dict(host_facts(bin_dir, self.etcd_bin), pg_major=major)
        else:
            version_warnings = []
            bin_dir = facts.get("pg_bin_dir") or self.pg_bin_dir or DEFAULT_PG_BIN_DIR
            major = str(facts.get("pg_major") or model.get("pg_version") or LOCAL_PG_VERSION)
        self.pg_bin_dir = bin_dir
        member_limit(instances, params, facts.get("mem_available_mb"))
        creds = credentials_from_model(model, (state or {}).get("credentials"))
        layout = self.layout(state, instances)
        rendered = render_cluster(model, spilo_conf, layout, creds, facts)
        actions = []
        etcd_pid = ((state or {}).get("etcd") or {}).get("pid")
        if not pid_alive(etcd_pid, os.path.join(self.state_dir, "etcd")):
            actions.append({"action": "start", "target": "etcd"})
        old = (state or {}).get("members") or {}
        for member in sorted(rendered["members"]):
            conf_path = os.path.join(self.state_dir, member, "patroni.yml")
            text = _yaml_dump(rendered["members"][member])
            try:
                with open(conf_path) as fh:
                    same = fh.read() == text
            except (IOError, OSError):
                same = False
            alive = member in old and pid_alive(old[member].get("pid"), conf_path)
            if not alive:
                actions.append({"action": "start", "target": member})
            elif not same:
                actions.append({"action": "reload", "target": member})
        for member in sorted(set(old) - set(rendered["members"])):
            actions.append({"action": "remove", "target": member})
        return {"state": state, "credentials": creds, "layout": layout, "rendered": rendered,
                "actions": actions,
                "warnings": list(model.get("warnings") or []) + version_warnings + rendered["warnings"],
                "pg_bin_dir": bin_dir,
                "model": {"name": model["name"], "instances": instances, "pg_version": major,
                          "pg_version_requested": str(model.get("pg_version") or "")}}

    def pg_binaries(self, model, state):
        """``(bin_dir, major, warnings)``: the PostgreSQL this cluster runs.

        An existing cluster keeps the major it was created with (its data directory is of that
        major; present never upgrades). A new one gets the manifest's major, refused before
        anything starts when it is not installed. An explicit ``pg_bin_dir`` is used as given.
        """
        requested = str(model.get("pg_version") or "").strip()
        if state:
            major = str(state.get("pg_version") or LOCAL_PG_VERSION)
            bin_dir = self.pg_bin_dir or state.get("pg_bin_dir") or versions.bin_dir(major) or DEFAULT_PG_BIN_DIR
            if self.pg_bin_dir and self.pg_bin_dir != state.get("pg_bin_dir"):
                given = versions.server_major(self.pg_bin_dir)
                if given != major:
                    # Patroni would start these binaries on data of another major (after an upgrade,
                    # the old bin dir): refused before any config is written.
                    raise LocalClusterError(
                        "pg_bin_dir %s holds PostgreSQL %s but this cluster's data is PostgreSQL %s; leave "
                        "pg_bin_dir unset (the cluster keeps %s) or point it at PostgreSQL %s binaries"
                        % (self.pg_bin_dir, given or "(no postgres found)", major, state.get("pg_bin_dir"), major),
                        cluster=self.name)
            warnings = []
            if requested and requested != major:
                warnings.append("spec.postgresql.version: %s requested; this cluster was created with PostgreSQL %s "
                                "and keeps it (present does not change the major of existing data; remove the "
                                "cluster and create it again, or upgrade it)" % (requested[:20], major))
            return bin_dir, major, warnings
        if self.pg_bin_dir:
            major = versions.server_major(self.pg_bin_dir) or requested
            return self.pg_bin_dir, major, []
        return versions.resolve(requested), requested, []

    def absent_command(self):
        """The command that stops and removes this cluster (said when something fails)."""
        extra = ""
        home = os.path.realpath(self.home)
        if home != os.path.realpath(DEFAULT_STATE_ROOT):
            extra += " -e local_state_root=%s" % home
        if self.state_dir != os.path.join(home, self.name):
            extra += " -e state_dir=%s" % self.state_dir
        return "ansible-playbook playbooks/local.yml -e name=%s -e state=absent%s" % (self.name, extra)

    def apply(self, plan, timeout=120.0, wait=True):
        """Carry out ``plan`` (from ``plan_present``) and wait until 1 leader + N-1 streaming.

        When it fails on a cluster this run created, everything it started is stopped (the logs
        stay in the state dir); on a cluster that existed, nothing is stopped and the error says
        how to remove it.
        """
        new = plan["state"] is None
        try:
            return self._apply(plan, timeout, wait)
        except (LocalClusterError, OSError) as err:
            msg = getattr(err, "msg", None) or str(err)
            context = dict(getattr(err, "context", None) or {})
            context.pop("cluster", None)
            if new and self.ownership() == "ours":
                stopped = self.stop_all(self.load_state() or {}, timeout=30)
                msg += ("; this run created the cluster, so what it started was stopped (%s); the logs stay in %s. "
                        "Fix the cause and run present again, or remove everything with: %s"
                        % (", ".join("%s %s" % kv for kv in sorted(stopped.items())) or "nothing had started",
                           self.state_dir, self.absent_command()))
                context["stopped"] = stopped
            else:
                msg += ("; the cluster existed before this run and was left running as it is. To stop and remove "
                        "it: %s" % self.absent_command())
            raise LocalClusterError(msg, cluster=self.name, **context) from None

    def _apply(self, plan, timeout, wait):
        layout, creds, rendered = plan["layout"], plan["credentials"], plan["rendered"]
        state = plan["state"] or {"format": STATE_FORMAT, "name": self.name, "state_dir": self.state_dir,
                                  "etcd": {}, "members": {}}
        state["credentials"] = creds
        state["os_user"] = self.user.pw_name
        state["socket_dir"] = layout["socket_dir"]
        state["pg_version_requested"] = plan["model"]["pg_version_requested"]
        state["pg_version"] = plan["model"]["pg_version"]
        state["pg_bin_dir"] = plan["pg_bin_dir"]
        blocked = unreachable_ancestor(self.state_dir, self.user)
        if blocked:
            raise LocalClusterError("state_dir %s: the %s user cannot reach it (%s is mode %o); choose a state_dir "
                                    "under /var/lib/pgfleet or /tmp" % (self.state_dir, self.user.pw_name, blocked,
                                                                        os.stat(blocked).st_mode & 0o7777),
                                    cluster=self.name)
        root = os.geteuid() == 0
        uid, gid = (self.user.pw_uid, self.user.pw_gid) if root else (None, None)
        try:
            lay.create_state_dir(self.state_dir, self.name, uid, gid)
            lay.create_socket_dir(layout["socket_dir"], self.state_dir, self.name, uid, gid)
        except lay.LayoutError as err:
            raise LocalClusterError(str(err), cluster=self.name) from None
        self.save_state(state)
        todo = dict((a["target"], a["action"]) for a in plan["actions"])

        # etcd first: Patroni waits for its DCS anyway, but a dead etcd is the clearest failure.
        etcd_dir = os.path.join(self.state_dir, "etcd")
        if todo.get("etcd") == "start":
            for port in (layout["etcd"]["client_port"], layout["etcd"]["peer_port"]):
                if _port_busy(port):
                    raise LocalClusterError("etcd port %d is taken by another process; remove the cluster "
                                            "(state=absent) and create it again" % port, cluster=self.name)
            pid = self._spawn(rendered["etcd"], os.path.join(self.state_dir, "etcd.log"), self.state_dir)
            state["etcd"] = dict(layout["etcd"], pid=pid, data_dir=etcd_dir,
                                 log=os.path.join(self.state_dir, "etcd.log"))
            self.save_state(state)
            self._wait_etcd(layout["etcd"]["client_port"], pid, min(timeout, 30))
        else:
            state["etcd"] = dict(state["etcd"], **layout["etcd"])
        if not state["etcd"].get("auth"):
            try:
                etcd_mod.enable_auth(layout["etcd"]["client_port"], creds["etcd"])
            except etcd_mod.EtcdError as err:
                raise LocalClusterError(err.msg, cluster=self.name) from None
            state["etcd"]["auth"] = True
            self.save_state(state)

        # Scale down: remove surplus members (after moving the leader away from them).
        removed = [t for t, a in todo.items() if a == "remove"]
        if removed:
            self._move_leader_away(state, removed, creds)
            for member in sorted(removed):
                self.stop_member(member, state=state)
                if member.startswith(self.name + "-") and member[len(self.name) + 1:].isdigit():
                    shutil.rmtree(os.path.join(self.state_dir, member), ignore_errors=True)
                state["members"].pop(member, None)
                self.save_state(state)

        for member in sorted(rendered["members"]):
            mdir = os.path.join(self.state_dir, member)
            self._mkdir(mdir)
            conf_path = os.path.join(mdir, "patroni.yml")
            self._write_private(conf_path, _yaml_dump(rendered["members"][member]))
            info = dict(state["members"].get(member) or {}, **layout["members"][member])
            info.update({"config": conf_path, "data_dir": os.path.join(mdir, "data"),
                         "log": os.path.join(mdir, "patroni.log"),
                         "api_url": "http://%s:%d" % (LOOPBACK, info["api_port"])})
            state["members"][member] = info
            action = todo.get(member)
            if action == "start":
                self._start_member(member, info)
            elif action == "reload":
                os.kill(info["pid"], signal.SIGHUP)
            self.save_state(state)
        result = {"changed": bool(plan["actions"]), "actions": plan["actions"], "warnings": []}
        if wait:
            result["members"] = self.wait_healthy(timeout, state=state)
            leader = next((r["member"] for r in result["members"] if r["role"] in ("leader", "standby_leader")), None)
            if removed and leader:
                left, why = self.drop_member_slots(state, removed, leader, timeout=timeout)
                if left:
                    result["warnings"].append(
                        "the leader %s still has the replication slots %s of the removed members (%s); they hold "
                        "WAL: drop them with SELECT pg_drop_replication_slot(name)" % (
                            leader, ", ".join(left), why or "Patroni did not drop them in time"))
        return result

    def _start_member(self, member, info):
        data_dir = info["data_dir"]
        leftover = postmaster_pid(data_dir)
        if leftover:
            # Patroni died but its detached postmaster still runs: stop it, Patroni restarts it.
            stop_pid(leftover, data_dir, timeout=30, sig=signal.SIGINT, kill_sig=signal.SIGQUIT)
        for port in (info["pg_port"], info["api_port"]):
            if _port_busy(port):
                raise LocalClusterError("port %d of member %s is taken by another process; stop it or "
                                        "remove the cluster (state=absent) and create it again"
                                        % (port, member), cluster=self.name, member=member)
        info["pid"] = self._spawn([self.patroni_bin, info["config"]], info["log"],
                                  os.path.dirname(info["config"]))

    def client(self, state, member, creds=None):
        """The collection's Patroni REST client on ``member``'s API, with the REST credentials."""
        rest = (creds or state["credentials"])["restapi"]
        client = PatroniClient(state["members"][member]["api_url"], username=rest["username"],
                               password=rest["password"], validate_certs=False, timeout=5.0, retries=1)
        client.seeds = [client.api_url] + [i["api_url"] for m, i in sorted(state["members"].items()) if m != member]
        return client

    def _move_leader_away(self, state, removed, creds):
        keep = sorted(set(state["members"]) - set(removed))
        answers = self.answers(state)
        leader = next((m for m, a in answers.items() if _is_leader(a)), None)
        if leader not in removed or not keep:
            return
        resp = self.client(state, leader, creds).switchover(leader, keep[0], timeout=30)
        if resp.status != 200:
            raise LocalClusterError("could not move the leader from %s to %s before scaling down: HTTP %s %s"
                                    % (leader, keep[0], resp.status, resp.answer), cluster=self.name, member=leader)

    def drop_member_slots(self, state, removed, leader, timeout=120.0, interval=0.5):
        """After a scale-down, have the leader drop the removed members' replication slots.

        Patroni keeps the slot of a member that left for ``member_slots_ttl`` (30 minutes by
        default), holding WAL for a member we removed on purpose. We set it to 0 until the slots
        are gone, then put the previous value back. Returns the slots still there (a warning).
        """
        wanted = set(slot_name(m) for m in removed)
        creds = state["credentials"]
        port = state["members"][leader]["pg_port"]
        client = self.client(state, leader)
        try:
            previous = client.get_config().get("member_slots_ttl")
            client.patch_config({"member_slots_ttl": 0})
        except PatroniError as err:
            return sorted(wanted), "could not change member_slots_ttl: %s" % err.msg
        left = sorted(wanted)
        try:
            deadline = time.monotonic() + timeout
            while True:
                left = sorted(wanted & set(physical_slots(creds, port)))
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(interval)
        finally:
            try:
                client.patch_config({"member_slots_ttl": previous})
            except PatroniError:
                pass
        return left, None

    # --- members one by one (used by tests: fault injection) ---------------------------------
    def start_member(self, member, state=None):
        """Start one member's Patroni again with its existing config and data."""
        state = state or self.load_state()
        info = state["members"][member]
        if pid_alive(info.get("pid"), info["config"]):
            return False
        self._start_member(member, info)
        self.save_state(state)
        return True

    def stop_member(self, member, state=None, timeout=30.0, kill=False, postmaster=True, signalled=False):
        """Stop one member's Patroni by PID (SIGKILL at once with ``kill``), then its postmaster.

        ``postmaster=False`` leaves a detached postmaster running (what a crashed Patroni leaves).
        """
        state = state or self.load_state()
        info = state["members"][member]
        sig = signal.SIGKILL if kill else signal.SIGTERM
        outcome = stop_pid(info.get("pid"), info["config"], timeout=timeout, sig=sig, send=not signalled)
        if postmaster:
            pm = postmaster_pid(info["data_dir"])
            if pm:
                stop_pid(pm, info["data_dir"], timeout=30, sig=signal.SIGINT, kill_sig=signal.SIGQUIT)
                outcome += " (postmaster %s stopped too)" % pm
        return outcome

    # --- reading ------------------------------------------------------------------------------
    def answers(self, state=None, timeout=2.0):
        return answers(state or self.load_state() or {}, timeout)

    def status(self, state=None):
        state = state or self.load_state()
        if not state:
            return {"exists": False, "members": [], "healthy": False, "leader": None, "problems": []}
        answers = self.answers(state)
        ok, leader, problems = health(answers, len(state["members"]))
        rows = member_rows(answers)
        for row in rows:
            info = state["members"][row["member"]]
            row.update({"api_url": info["api_url"], "pg_port": info["pg_port"], "pid": info.get("pid")})
            if row["state"] == "unreachable" and not pid_alive(info.get("pid"), info["config"]):
                row["state"] = "stopped"
        return {"exists": True, "members": rows, "healthy": ok, "leader": leader, "problems": problems}

    def wait_healthy(self, timeout=120.0, state=None, interval=0.25):
        """Poll each member's own ``GET /patroni`` until 1 leader + N-1 streaming; return the rows."""
        state = state or self.load_state()
        deadline = time.monotonic() + timeout
        while True:
            answers = self.answers(state, timeout=1.0)
            ok, leader, problems = health(answers, len(state["members"]))
            if ok:
                return member_rows(answers)
            dead = [m for m, i in state["members"].items() if not pid_alive(i.get("pid"), i["config"])]
            if time.monotonic() > deadline or dead:
                logs = dict((m, _tail(i["log"])) for m, i in state["members"].items()
                            if m in dead or answers.get(m) is None or not _is_leader(answers.get(m)))
                why = "; ".join(problems)
                if dead:
                    why = "Patroni exited for %s; %s" % (", ".join(sorted(dead)), why)
                raise LocalClusterError(
                    "cluster %s is not healthy (%s); see the member logs under %s" % (self.name, why, self.state_dir),
                    cluster=self.name, problems=problems, members=member_rows(answers), logs=logs)
            time.sleep(interval)

    def summary(self, state=None):
        """Ports, API URLs, DSN (no password) and the credentials file path: safe to print."""
        state = state or self.load_state()
        if not state:
            return {"state_dir": self.state_dir, "exists": False}
        members = state["members"]
        ports = [members[m]["pg_port"] for m in sorted(members)]
        return {
            "exists": True,
            "state_dir": self.state_dir,
            "state_file": self.state_file,
            "credentials_file": self.state_file,
            "api_urls": dict((m, members[m]["api_url"]) for m in sorted(members)),
            "ports": {"etcd_client": state["etcd"].get("client_port"),
                      "etcd_peer": state["etcd"].get("peer_port"),
                      "members": dict((m, {"postgres": members[m]["pg_port"], "api": members[m]["api_port"]})
                                      for m in sorted(members))},
            "etcd_url": "http://%s:%s" % (LOOPBACK, state["etcd"].get("client_port")),
            "dsn": multi_host_dsn(ports, state["credentials"]["superuser"]["username"]),
            "socket_dir": state.get("socket_dir"),
            "pids": dict([("etcd", state["etcd"].get("pid"))] + [(m, members[m].get("pid")) for m in sorted(members)]),
        }

    # --- teardown -----------------------------------------------------------------------------
    def plan_absent(self):
        """What ``absent`` would stop and remove. Refuses a directory we did not create."""
        self._refuse_foreign()
        state = self.load_state()
        if state is None:
            # Ours (marker) but no state file: a present that stopped before writing it.
            mine = self.ownership() == "ours"
            return {"state": None, "actions": [{"action": "remove", "target": self.state_dir}] if mine else []}
        actions = [{"action": "stop", "target": m} for m in sorted(state.get("members") or {})]
        actions.append({"action": "stop", "target": "etcd"})
        actions.append({"action": "remove", "target": self.state_dir})
        return {"state": state, "actions": actions}

    def absent(self, plan=None, timeout=30.0):
        """Stop exactly what was started (members, detached postmasters, etcd), then remove the data."""
        plan = plan or self.plan_absent()
        state = plan["state"]
        stopped = self.stop_all(state, timeout) if state else {}
        leftover = processes_using(self.state_dir, self.user.pw_uid)
        if leftover:
            raise LocalClusterError("processes still use %s after the stop (PIDs %s); the data was kept. Stop "
                                    "them, then run state=absent again" % (
                                        self.state_dir, ", ".join(str(p) for p in leftover)),
                                    cluster=self.name, pids=leftover, stopped=stopped)
        sock = (state or {}).get("socket_dir")
        lay.remove_ours(self.state_dir, self.name, self.uids)
        if sock and sock.startswith(lay.SOCKET_PREFIX):
            lay.remove_ours(sock, self.name, self.uids)
        return {"changed": bool(plan["actions"]), "actions": plan["actions"], "stopped": stopped}

    def stop_all(self, state, timeout=30.0):
        """Stop every member (and its detached postmaster), then etcd, by PID; ``{process: outcome}``."""
        stopped = {}
        if state:
            members = state.get("members") or {}
            # SIGTERM every Patroni at once: each needs about 4 s to stop cleanly.
            signalled = set()
            for member, info in members.items():
                if pid_alive(info.get("pid"), info["config"]):
                    try:
                        os.kill(info["pid"], signal.SIGTERM)
                        signalled.add(member)
                    except ProcessLookupError:
                        pass
            for member in sorted(members):
                outcome = self.stop_member(member, state=state, timeout=timeout, signalled=True)
                if member in signalled and outcome.startswith("not running"):
                    outcome = "stopped" + outcome[len("not running"):]
                stopped[member] = outcome
            etcd = state.get("etcd") or {}
            stopped["etcd"] = stop_pid(etcd.get("pid"), os.path.join(self.state_dir, "etcd"), timeout=timeout)
        return stopped
