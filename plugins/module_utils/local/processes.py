# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Processes, ports and host facts of a local cluster: start as the service user, find, signal,
stop by PID; what this machine offers (locales, parameters, libraries, memory).

A PID is only ever signalled while its command line still names what we started (its config file
or data directory), so a recycled PID is never hit. ``processes_using`` finds leftovers after a
teardown (it never kills).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"


def free_ports(count, taken=()):
    """``count`` distinct free TCP ports on loopback (bind to port 0), avoiding ``taken``."""
    ports, socks = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in taken and port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _port_busy(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def unreachable_ancestor(path, user):
    """The first existing ancestor of ``path`` that ``user`` (a pwd entry) cannot traverse, or None."""
    groups = set([user.pw_gid])
    try:
        import grp
        groups.update(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)
    except ImportError:  # pragma: no cover
        pass
    current = os.path.dirname(os.path.abspath(path))
    chain = []
    while True:
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(chain):
        try:
            st = os.stat(directory)
        except OSError:
            return None  # does not exist yet: it will be created by us (0755)
        if user.pw_uid == 0:
            continue
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return directory
    return None


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def pid_alive(pid, marker=None):
    """True if ``pid`` runs (not a zombie) and, when given, its command line contains ``marker``."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    except (ChildProcessError, OSError):
        pass
    try:
        with open("/proc/%d/stat" % pid) as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (IOError, OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    if marker is not None:
        cmd = _cmdline(pid)
        return cmd is not None and marker in cmd
    return True


def stop_pid(pid, marker, timeout=30.0, sig=signal.SIGTERM, kill_sig=signal.SIGKILL, send=True):
    """Signal ``pid`` (only if it is still the process we started), wait, then kill after timeout.

    ``send=False``: the signal was already sent, only wait (and kill after ``timeout``).
    Returns ``"not running"``, ``"stopped"`` or ``"killed"``.
    """
    if not pid_alive(pid, marker):
        return "not running"
    try:
        if send:
            os.kill(pid, sig)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            return "stopped"
        time.sleep(0.1)
    try:
        os.kill(pid, kill_sig)
    except ProcessLookupError:
        return "stopped"
    deadline = time.monotonic() + 10
    while pid_alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return "killed"


def postmaster_pid(data_dir):
    """PID of the postmaster recorded in ``data_dir/postmaster.pid``, if it still runs there."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            pid = int(fh.readline().strip())
    except (IOError, OSError, ValueError):
        return None
    return pid if pid_alive(pid, data_dir) else None


def _argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except (IOError, OSError):
        return []


def _uid(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError, IndexError):
        pass
    return None


def processes_using(path, uid=None):
    """PIDs (of ``uid``, when given) with an argument inside ``path``: a check after teardown.

    Only whole arguments count (``/x/m0/patroni.yml``, ``-D /x/m0/data``), so a controller
    command line such as ``-e state_dir=/x`` is not taken for a service. Never used to kill.
    """
    path = path.rstrip("/")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if uid is not None and _uid(pid) != uid:
            continue
        args = _argv(pid)
        if any(a == path or a.startswith(path + "/") for a in args) and pid_alive(pid):
            found.append(pid)
    return sorted(found)


def _tail(path, lines=15):
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            return fh.read().decode("utf-8", "replace").splitlines()[-lines:]
    except (IOError, OSError):
        return []


def spawn(argv, log_path, cwd, user, path_dirs):
    """Start ``argv`` in its own session as ``user`` (a pwd entry; only when we are root), output
    appended to ``log_path`` (0600). Returns the PID of the service itself (no wrapper)."""
    env = {"PATH": ":".join(list(path_dirs) + ["/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    kwargs = {}
    if os.geteuid() == 0:
        # Popen switches user in the child before exec: the recorded PID is the service itself.
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if os.geteuid() == 0:
            os.fchown(fd, user.pw_uid, user.pw_gid)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=cwd,
                                env=env, close_fds=True, start_new_session=True, **kwargs)
    finally:
        os.close(fd)
    return proc.pid


def mem_available_mb():
    """MemAvailable of this machine in MB, or None when /proc/meminfo does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (IOError, OSError, ValueError, IndexError):
        pass
    return None


def host_facts(pg_bin_dir, etcd_bin):
    """What this machine offers: installed locales, parameters PostgreSQL knows, libraries."""
    facts = {"pg_bin_dir": pg_bin_dir, "etcd_bin": etcd_bin, "locales": None, "gucs": None,
             "libraries": None, "mem_available_mb": mem_available_mb()}
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10, check=False)
        if out.returncode == 0:
            facts["locales"] = [x for x in out.stdout.splitlines() if x.strip()]
    except OSError:
        pass
    postgres = os.path.join(pg_bin_dir, "postgres")
    try:
        out = subprocess.run([postgres, "--describe-config"], capture_output=True, text=True,
                             timeout=30, check=False)
        if out.returncode == 0:
            facts["gucs"] = set(line.split("\t", 1)[0] for line in out.stdout.splitlines() if line)
    except OSError:
        pass
    try:
        out = subprocess.run([os.path.join(pg_bin_dir, "pg_config"), "--pkglibdir"],
                             capture_output=True, text=True, timeout=10, check=False)
        libdir = out.stdout.strip() if out.returncode == 0 else ""
    except OSError:
        libdir = ""
    if not libdir:
        libdir = os.path.join(os.path.dirname(pg_bin_dir.rstrip("/")), "lib")
    if os.path.isdir(libdir):
        facts["libraries"] = set(f[:-3] for f in os.listdir(libdir) if f.endswith(".so"))
    return facts
