# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Where a local cluster lives, and how we know a directory is ours.

Every local cluster has a state dir inside the *home* (default ``/var/lib/pgfleet/clusters``):
``<home>/<name>``, or an explicit ``state_dir`` that must resolve inside the home. We create the
state dir ourselves (never adopt an existing directory) and write a marker file into it
(``.pgfleet-local-cluster``, JSON with the cluster name). Nothing is ever removed unless that
marker is there, is a regular file owned by us or the service user, and names the cluster.

Names are checked like cluster names of the manifest (lower-case DNS label starting with a
letter, at most 58 characters), so a name is a single path component: never ``..`` or ``/x``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import stat

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError

DEFAULT_HOME = "/var/lib/pgfleet/clusters"
MARKER = ".pgfleet-local-cluster"
# The model's rule for metadata.name (a DNS-1035 label; 63 minus the "-repl" service suffix).
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")  # \Z: "$" would let a trailing newline in
NAME_MAX = 58
# A unix socket path is limited to 107 bytes; ".s.PGSQL.65535" and a slash take 15.
MAX_SOCKET_DIR = 90
SOCKET_PREFIX = "/tmp/.pgfleet-"


class LocalClusterError(PgfleetError):
    """The local cluster could not be brought up, inspected or torn down (context: cluster, member)."""


class LayoutError(LocalClusterError):
    """A name or a path the local target refuses; nothing was written or removed."""


def check_name(name, field="name"):
    """Refuse anything but a cluster name (so it is one safe path component)."""
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > NAME_MAX:
        shown = name if not isinstance(name, str) else (name[:60] + ("..." if len(name) > 60 else ""))
        raise LayoutError("%s: %r is not a cluster name; use lower-case letters, digits and '-', starting with a "
                          "letter, at most %d characters (like metadata.name)" % (field, shown, NAME_MAX),
                          field=field)
    return name


def _inside(path, home):
    return path != home and path.startswith(home.rstrip("/") + "/")


def resolve_state_dir(name, state_dir=None, home=DEFAULT_HOME):
    """The state dir of cluster ``name``: ``<home>/<name>`` or ``state_dir``, which must lie inside
    ``home`` once symlinks are resolved. Returns an absolute path; raises ``LayoutError``."""
    check_name(name)
    if not isinstance(home, str) or not home.startswith("/") or "\0" in home:
        raise LayoutError("state_root: %r is not an absolute path; give the directory that holds the local "
                          "clusters (default %s)" % (home, DEFAULT_HOME), field="state_root")
    real_home = os.path.realpath(home)
    if real_home == "/":
        raise LayoutError("state_root: %s would make the whole file system our home; use a directory of its own "
                          "such as %s" % (home, DEFAULT_HOME), field="state_root")
    if not state_dir:
        return os.path.join(real_home, name)
    if "\0" in state_dir or "\n" in state_dir:
        raise LayoutError("state_dir: the path holds a NUL or newline character; give a plain directory path",
                          field="state_dir")
    real = os.path.realpath(os.path.abspath(state_dir))
    if not _inside(real, real_home):
        raise LayoutError("state_dir: %s is outside the home of the local clusters, %s; give a directory inside it (or "
                          "leave state_dir out for %s/%s), or set state_root to the home you want"
                          % (state_dir, real_home, real_home, name), field="state_dir")
    return real


def read_marker(path):
    """The marker's content (dict) if ``path`` holds one we wrote, else None (symlinks never count)."""
    marker = os.path.join(path, MARKER)
    try:
        st = os.lstat(marker)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
            return None
        with open(marker) as fh:
            data = json.load(fh)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    data["_uid"] = st.st_uid
    return data


def _legacy_state(path, name, uids):
    """A state dir from before markers existed: state.json (0600, ours) naming the cluster."""
    try:
        st = os.lstat(os.path.join(path, "state.json"))
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in uids or st.st_mode & 0o077:
            return False
        with open(os.path.join(path, "state.json")) as fh:
            return json.load(fh).get("name") == name
    except (IOError, OSError, ValueError, AttributeError):
        return False


def ownership(path, name, uids):
    """``"absent"``, ``"ours"`` or ``"foreign"`` (exists and is not a state dir we made for ``name``).

    ``uids``: the users allowed to own our files (the one running us, the service user).
    """
    try:
        st = os.lstat(path)
    except OSError:
        return "absent"
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in uids:
        return "foreign"
    marker = read_marker(path)
    if marker is not None:
        return "ours" if marker.get("name") == name and marker.get("_uid") in uids else "foreign"
    return "ours" if _legacy_state(path, name, uids) else "foreign"


def write_marker(path, name, uid=None, gid=None):
    marker = os.path.join(path, MARKER)
    tmp = marker + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"name": name, "created_by": "pgfleet.postgres local_cluster"}, fh)
        fh.write("\n")
    if uid is not None:
        os.chown(tmp, uid, gid)
    os.rename(tmp, marker)


def make_private_dir(path, uid=None, gid=None, mode=0o700):
    """Create ``path`` (or accept it when it is a real directory owned by ``uid``/us); never follows
    or adopts a symlink, never changes a directory someone else owns."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        st = os.lstat(path)
        owner = os.geteuid() if uid is None else uid
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (owner, os.geteuid()):
            raise LayoutError("%s exists and is not a directory of ours (a symlink, a file, or owned by uid %d); "
                              "nothing was changed. Remove it or choose another state_dir" % (path, st.st_uid),
                              path=path) from None
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, gid)


def create_state_dir(path, name, uid=None, gid=None):
    """Create the state dir with its marker; refuse an existing directory that is not ours."""
    uids = set([os.geteuid()] + ([uid] if uid is not None else []))
    owned = ownership(path, name, uids)
    if owned == "foreign":
        raise LayoutError("state_dir: %s exists and was not created by the local target for cluster %s (no marker "
                          "file %s); nothing was changed. Choose another state_dir or name" % (path, name, MARKER),
                          field="state_dir", path=path)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    make_private_dir(path, uid, gid)
    if read_marker(path) is None:
        write_marker(path, name, uid, gid)


def socket_dir_for(state_dir):
    """``<state_dir>/run``, or a short directory under /tmp when that path is too long for sockets."""
    import base64

    path = os.path.join(state_dir, "run")
    if len(path) > MAX_SOCKET_DIR:
        path = SOCKET_PREFIX + base64.b32encode(state_dir.encode()).decode().lower().rstrip("=")[-16:]
    return path


def create_socket_dir(path, state_dir, name, uid=None, gid=None):
    """The socket dir: inside the state dir it is a plain private dir; under /tmp it must be new or
    carry our marker (a name under /tmp can be taken by anyone first)."""
    if not path.startswith(SOCKET_PREFIX):
        make_private_dir(path, uid, gid)
        return
    uids = set([os.geteuid()] + ([uid] if uid is not None else []))
    if ownership(path, name, uids) == "foreign":
        raise LayoutError("socket dir %s exists and is not ours; nothing was changed. Remove it, or use a shorter "
                          "state_dir so the sockets live in %s/run" % (path, state_dir), path=path)
    make_private_dir(path, uid, gid)
    if read_marker(path) is None:
        write_marker(path, name, uid, gid)


def remove_ours(path, name, uids):
    """Remove ``path`` recursively only if it is a directory we created for ``name``; True if removed."""
    if ownership(path, name, uids) != "ours":
        return False
    shutil.rmtree(path)
    return True
