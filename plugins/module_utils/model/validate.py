# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The validation rules of a ``postgresql`` manifest: one ``check_*`` function per section.

Each rule reads the (copied) spec, records problems on a :class:`common.Problems` naming the
``spec.`` field and the fix, and normalises the values it checked in place. :func:`manifest.build_model`
calls them in a fixed order, so the list of problems a manifest gets is stable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import door
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import roles as pgroles
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import windows as pgwindows
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.common import (
    CLONE_TS_RE,
    CLUSTER_NAME_MAX,
    CLUSTER_NAME_RE,
    CPU_RE,
    DBNAME_RE,
    DNS1035_LABEL_RE,
    LIST_FIELDS,
    MEMORY_RE,
    PG_IDENTIFIER_MAX_BYTES,
    PG_VERSIONS,
    STANDBY_ENV_RE,
    USERNAME_RE,
    UUID_RE,
    Problems,
    ident_ok,
    is_int,
    skip_or_refuse,
    str_map,
    unset_quantity,
)
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.door import DNS1123_LABEL_RE, DNS1123_SUBDOMAIN_RE
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.names import PGDATA_MOUNT


def check_name(name, team, cfg, p):
    fix = "use lower-case letters, digits and '-', starting with a letter and ending with a letter or digit"
    if not isinstance(name, str) or not name:
        p.error("metadata.name", "is required", "add metadata: {name: <team>-<name>}")
        return
    if not CLUSTER_NAME_RE.match(name):
        p.error("metadata.name", "%r is not a valid cluster name" % name, fix)
    if len(name) > CLUSTER_NAME_MAX:
        p.error("metadata.name", "%r is %d characters; at most %d are allowed (63 minus '-repl')" % (name, len(name), CLUSTER_NAME_MAX),
                "use a shorter name")
    if cfg["enable_team_id_clustername_prefix"] and team:
        prefix = team.lower() + "-"
        if len(name) < len(prefix) + 1 or not name.lower().startswith(prefix):
            p.error("metadata.name", "%r must start with the team id %r followed by '-' (enable_team_id_clustername_prefix is on)"
                    % (name, team), "rename the cluster to %s<name>" % prefix)


def check_postgresql(spec, p):
    pg = spec.get("postgresql")
    if not isinstance(pg, dict):
        p.error("spec.postgresql", "is required", 'add postgresql: {version: "%s"}' % PG_VERSIONS[-1])
        spec["postgresql"] = {"parameters": {}}
        return None
    version = pg.get("version")
    if is_int(version) or isinstance(version, float):
        version = str(int(version)) if float(version) == int(version) else str(version)
        pg["version"] = version
    if version is None:
        p.error("spec.postgresql.version", "is required", 'add version: "%s"' % PG_VERSIONS[-1])
    elif version not in PG_VERSIONS:
        p.error("spec.postgresql.version", "%r is not a supported major version" % (version,),
                "use one of %s (quoted)" % ", ".join(PG_VERSIONS))
        version = None
    params = pg.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        p.error("spec.postgresql.parameters", "must be a map of parameter names to values", "write e.g. max_connections: \"100\"")
        params = {}
    out = {}
    for key, value in params.items():
        if isinstance(value, (dict, list)):
            p.error("spec.postgresql.parameters.%s" % key, "must be a single value", "quote the value as a string")
            continue
        if isinstance(value, bool):
            value = "on" if value else "off"
        out[str(key)] = "" if value is None else str(value)
    pg["parameters"] = out
    return version


def check_quantity(value, field, p, memory=True, required=False):
    if value is None or (isinstance(value, str) and value == ""):
        if required:
            p.error(field, "is required", 'write a size such as "1Gi"')
        return False
    regex = MEMORY_RE if memory else CPU_RE
    if isinstance(value, bool) or not regex.match(str(value)):
        example = '"1Gi" or "500Mi"' if memory else '"250m" or "1"'
        p.error(field, "%r is not a valid %s quantity" % (value, "memory/size" if memory else "CPU"), "write e.g. %s" % example)
        return False
    return True


def check_volume(spec, p):
    vol = spec.get("volume")
    if not isinstance(vol, dict):
        p.error("spec.volume", "is required", "add volume: {size: 1Gi}")
        return
    check_quantity(vol.get("size"), "spec.volume.size", p, memory=True, required=True)
    for key, bound in (("iops", 80000), ("throughput", 2000)):
        val = vol.get(key)
        if val is not None and (not is_int(val) or val < 0 or val > bound):
            p.error("spec.volume.%s" % key, "%r must be a whole number between 0 and %d" % (val, bound), "fix or remove it")
    for key in ("storageClass", "subPath", "type"):
        if vol.get(key) is not None and not isinstance(vol.get(key), str):
            p.error("spec.volume.%s" % key, "must be a string", "quote the value")
    if vol.get("selector") is not None and not isinstance(vol.get("selector"), dict):
        p.error("spec.volume.selector", "must be a label selector", "write matchLabels/matchExpressions")


def check_resources_field(resources, field, p):
    if resources is None:
        return
    if not isinstance(resources, dict):
        p.error(field, "must be a map with requests and limits", "write requests: {cpu, memory} and limits: {cpu, memory}")
        return
    for kind in ("requests", "limits"):
        section = resources.get(kind)
        if section is None:
            continue
        if not isinstance(section, dict):
            p.error("%s.%s" % (field, kind), "must be a map", "write cpu: and memory:")
            continue
        for key, value in section.items():
            if unset_quantity(value):
                continue
            if key == "cpu":
                check_quantity(value, "%s.%s.cpu" % (field, kind), p, memory=False)
            elif key == "memory" or str(key).startswith("hugepages-"):
                check_quantity(value, "%s.%s.%s" % (field, kind, key), p, memory=True)
            else:
                p.warn("%s.%s.%s: unknown resource, ignored" % (field, kind, key))
    for key in resources:
        if key not in ("requests", "limits"):
            p.warn("%s.%s: unknown key, ignored" % (field, key))


def resources_invalid(resources):
    p = Problems()
    check_resources_field(resources, "x", p)
    return bool(p.errors)


def check_maps(spec, p):
    for key in ("podAnnotations", "serviceAnnotations", "masterServiceAnnotations", "replicaServiceAnnotations"):
        spec[key] = str_map(spec.get(key), "spec.%s" % key, p, "annotation")
    for key in ("users", "databases", "patroni"):
        if not isinstance(spec.get(key), dict):
            p.error("spec.%s" % key, "must be a map, got %s" % door.type_name(spec.get(key)), "write key: value pairs")
            spec[key] = {}


def check_lists(spec, p):
    for key in LIST_FIELDS:
        if not isinstance(spec.get(key), list):
            p.error("spec.%s" % key, "must be a list, got %s" % door.type_name(spec.get(key)), "write a YAML list")
            spec[key] = []
    for key in ("usersWithSecretRotation", "usersWithInPlaceSecretRotation", "usersIgnoringSecretRotation"):
        for i, user in enumerate(spec[key]):
            if not isinstance(user, str):
                p.error("spec.%s[%d]" % (key, i), "must be a user name", "write the user name as a string")
    for i, item in enumerate(spec["tolerations"]):
        if not isinstance(item, dict):
            p.error("spec.tolerations[%d]" % i, "must be a toleration object", "write key/operator/value/effect")
    for i, item in enumerate(spec["topologySpreadConstraints"]):
        if not isinstance(item, dict):
            p.error("spec.topologySpreadConstraints[%d]" % i, "must be an object", "write maxSkew, topologyKey, whenUnsatisfiable")
            continue
        for req in ("maxSkew", "topologyKey", "whenUnsatisfiable"):
            if item.get(req) in (None, ""):
                p.error("spec.topologySpreadConstraints[%d].%s" % (i, req), "is required", "add %s" % req)
    for i, item in enumerate(spec["envFrom"]):
        if not isinstance(item, dict):
            p.error("spec.envFrom[%d]" % i, "must be an EnvFromSource object", "write configMapRef: or secretRef:")


def check_env(spec, p):
    for i, item in enumerate(spec["env"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("name"):
            p.error("spec.env[%d].name" % i, "every env entry needs a name", "add name: <VARIABLE>")


def check_containers(spec, cfg, p):
    names = {"postgres": "the Postgres container"}
    for key, enabled_key in (("initContainers", "enable_init_containers"), ("sidecars", "enable_sidecars")):
        items = spec[key]
        if items and not cfg[enabled_key]:
            p.error("spec.%s" % key, "is set but the operator configuration disables it (%s=false)" % enabled_key,
                    "remove spec.%s or set %s to true" % (key, enabled_key))
        for i, item in enumerate(items):
            field = "spec.%s[%d]" % (key, i)
            if not isinstance(item, dict):
                p.error(field, "must be a container object", "write name:, image: ...")
                continue
            cname = item.get("name")
            if not isinstance(cname, str) or not cname:
                p.error(field + ".name", "every container needs a name", "add name: <container>")
            elif not DNS1123_LABEL_RE.match(cname) or len(cname) > 63:
                p.error(field + ".name", "%r is not a valid container name" % cname,
                        "use lower-case letters, digits and '-' (at most 63)")
            elif cname in names:
                p.error(field + ".name", "%r is already used by %s" % (cname, names[cname]), "give every container its own name")
            else:
                names[cname] = "spec.%s[%d]" % (key, i)
            if not isinstance(item.get("image"), str) or not item.get("image"):
                p.error(field + ".image", "every container needs an image", "add image: <registry/image:tag>")
            if key == "sidecars":
                check_resources_field(item.get("resources"), field + ".resources", p)
    for item in cfg["sidecars"]:
        if isinstance(item, dict) and item.get("name"):
            names.setdefault(item["name"], "config.sidecars")
    for sidecar_name in cfg["sidecar_docker_images"]:
        names.setdefault(sidecar_name, "config.sidecar_docker_images")
    spec["_container_names"] = sorted(names)


def check_additional_volumes(spec, p):
    containers = set(spec.pop("_container_names", ["postgres"]))
    seen_names = {}
    seen_paths = {}
    skipped = []
    for i, vol in enumerate(spec["additionalVolumes"]):
        field = "spec.additionalVolumes[%d]" % i
        if not isinstance(vol, dict):
            p.error(field, "must be an object", "write name, mountPath, volumeSource")
            continue
        vname = vol.get("name")
        if not isinstance(vname, str) or not vname:
            p.error(field + ".name", "is required", "add name: <volume>")
        elif not DNS1123_LABEL_RE.match(vname) or len(vname) > 63:
            p.error(field + ".name", "%r is not a valid volume name" % vname, "use lower-case letters, digits and '-'")
        elif vname in ("pgdata", "dshm", "postgresql-run"):
            p.error(field + ".name", "%r is reserved for a volume the operator adds" % vname, "choose another name")
        elif vname in seen_names:
            p.error(field + ".name", "%r is already used by spec.additionalVolumes[%d]" % (vname, seen_names[vname]), "give every volume its own name")
        else:
            seen_names[vname] = i
        path = vol.get("mountPath")
        if not isinstance(path, str) or not path:
            p.error(field + ".mountPath", "is required", "add mountPath: /some/dir")
        elif path.rstrip("/") == PGDATA_MOUNT:
            p.skip(field, "its mountPath %s is the data volume's mount path" % PGDATA_MOUNT, "mount the volume elsewhere")
            skipped.append(i)
        elif path in seen_paths:
            p.skip(field, "its mountPath %s is already mounted by spec.additionalVolumes[%d]" % (path, seen_paths[path]),
                   "use a different mountPath")
            skipped.append(i)
        else:
            seen_paths[path] = i
        if not isinstance(vol.get("volumeSource"), dict) or not vol.get("volumeSource"):
            p.error(field + ".volumeSource", "is required", "add a volume source such as emptyDir: {}")
        targets = vol.get("targetContainers")
        if targets is None:
            targets = []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            p.error(field + ".targetContainers", "must be a list of container names", 'write e.g. ["postgres"] or ["all"]')
            continue
        if "all" in targets and len(targets) > 1:
            p.error(field + ".targetContainers", '"all" mixed with container names', 'write either ["all"] or a list of names (Zalando skips the volume)')
        for t in targets:
            if t != "all" and t not in containers:
                p.warn("%s.targetContainers: there is no container named %r; the volume is not mounted there" % (field, t))
        if vol.get("subPath") is not None and not isinstance(vol.get("subPath"), str):
            p.error(field + ".subPath", "must be a string", "quote the value")
    if skipped:
        spec["additionalVolumes"] = [v for i, v in enumerate(spec["additionalVolumes"]) if i not in skipped]


def check_source_ranges(spec, p):
    ranges = spec.get("allowedSourceRanges")
    if ranges is None:
        return
    if not isinstance(ranges, list):
        p.error("spec.allowedSourceRanges", "must be a list of CIDRs", 'write e.g. ["10.0.0.0/8"]')
        return
    for i, cidr in enumerate(ranges):
        ok = isinstance(cidr, str) and "/" in cidr
        if ok:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                ok = False
        if not ok:
            p.error("spec.allowedSourceRanges[%d]" % i, "%r is not an IPv4 or IPv6 CIDR" % (cidr,), 'write e.g. "10.0.0.0/8" or "fd00::/8"')


def check_misc(spec, p):
    for key in ("spiloRunAsUser", "spiloRunAsGroup", "spiloFSGroup"):
        val = spec.get(key)
        if val is not None and (not is_int(val) or val < 0):
            p.error("spec.%s" % key, "%r must be a whole number >= 0" % (val,), "write e.g. 103")
    for key in ("enableMasterLoadBalancer", "enableReplicaLoadBalancer", "enableMasterPoolerLoadBalancer",
                "enableReplicaPoolerLoadBalancer", "enableConnectionPooler", "enableReplicaConnectionPooler",
                "enableLogicalBackup", "enableShmVolume", "enableMasterNodePort", "enableReplicaNodePort"):
        val = spec.get(key)
        if val is not None and not isinstance(val, bool):
            p.error("spec.%s" % key, "%r must be true or false" % (val,), "write true or false without quotes")
    for key in ("masterNodePort", "replicaNodePort"):
        val = spec.get(key)
        if val is not None and not is_int(val):
            p.error("spec.%s" % key, "%r is not a node port" % (val,), "use 0 (let Kubernetes pick) or a port in 30000-32767")
        elif val is not None and not (val == 0 or 30000 <= val <= 32767):
            p.skip("spec.%s" % key, "%d is outside the node port range 30000-32767" % val,
                   "use 0 (let Kubernetes pick) or a port in 30000-32767; Kubernetes picks one meanwhile")
            spec[key] = None
    for key in ("nodeAffinity", "livenessProbe"):
        val = spec.get(key)
        if val is not None and not isinstance(val, dict):
            p.error("spec.%s" % key, "must be an object, got %s" % door.type_name(val), "write it as a YAML mapping")
    for key in ("dockerImage", "schedulerName", "podPriorityClassName", "logicalBackupRetention"):
        val = spec.get(key)
        if val is not None and not isinstance(val, str):
            p.error("spec.%s" % key, "must be a string", "quote the value")
    for i, stream in enumerate(spec["streams"]):
        field = "spec.streams[%d]" % i
        if not isinstance(stream, dict):
            p.error(field, "must be an object", "write applicationId, database, tables")
            continue
        for req in ("applicationId", "database"):
            if not isinstance(stream.get(req), str) or not stream.get(req):
                p.error("%s.%s" % (field, req), "is required", "add %s" % req)
        db = stream.get("database")
        if isinstance(db, str) and db and not DBNAME_RE.match(db):
            p.error(field + ".database", "%r is not a valid database name" % db, "use letters, digits and '_'")
        tables = stream.get("tables")
        if not isinstance(tables, dict) or not tables:
            p.error(field + ".tables", "is required", "add tables: {schema.table: {eventType: ...}}")
            continue
        for tname, table in tables.items():
            if not isinstance(table, dict) or not table.get("eventType"):
                p.error("%s.tables.%s.eventType" % (field, tname), "is required", "add eventType: <event type>")


def check_patroni(spec, p):
    pat = spec["patroni"]
    for key in ("ttl", "loop_wait", "retry_timeout", "maximum_lag_on_failover", "synchronous_node_count"):
        val = pat.get(key)
        if val is not None and (not is_int(val) or val < 0):
            p.error("spec.patroni.%s" % key, "%r must be a whole number >= 0" % (val,), "write e.g. %s: 10" % key)
    ttl, loop_wait, retry = (pat.get(k) for k in ("ttl", "loop_wait", "retry_timeout"))
    if is_int(ttl) and 0 < ttl < 20:
        p.warn("spec.patroni.ttl: %d is below Patroni's minimum 20; Patroni will use 20" % ttl)
    if is_int(retry) and 0 < retry < 3:
        p.warn("spec.patroni.retry_timeout: %d is below Patroni's minimum 3; Patroni will use 3" % retry)
    if all(is_int(v) and v > 0 for v in (ttl, loop_wait, retry)) and loop_wait + 2 * retry > ttl:
        p.warn("spec.patroni: loop_wait + 2 * retry_timeout (%d) exceeds ttl (%d); Patroni will adjust the values"
               % (loop_wait + 2 * retry, ttl))
    for key in ("synchronous_mode", "synchronous_mode_strict", "failsafe_mode"):
        val = pat.get(key)
        if val is not None and not isinstance(val, bool):
            p.error("spec.patroni.%s" % key, "%r must be true or false" % (val,), "write true or false without quotes")
    initdb = pat.get("initdb")
    if initdb is not None:
        if not isinstance(initdb, dict):
            p.error("spec.patroni.initdb", "must be a map of initdb options", 'write e.g. encoding: "UTF8"')
        else:
            out = {}
            for key, val in initdb.items():
                if isinstance(val, (dict, list)):
                    p.error("spec.patroni.initdb.%s" % key, "must be a single value", "quote the value")
                    continue
                if isinstance(val, bool):
                    val = "true" if val else "false"
                out[str(key)] = "" if val is None else str(val)
            pat["initdb"] = out
    hba = pat.get("pg_hba")
    if hba is not None and (not isinstance(hba, list) or not all(isinstance(x, str) for x in hba)):
        p.error("spec.patroni.pg_hba", "must be a list of pg_hba.conf lines", 'write e.g. ["host all all 0.0.0.0/0 scram-sha-256"]')
    slots = pat.get("slots")
    if slots is not None:
        if not isinstance(slots, dict) or not all(isinstance(v, dict) for v in slots.values()):
            p.error("spec.patroni.slots", "must be a map of slot name to slot settings", "write e.g. slot1: {type: physical}")
        else:
            for sname, slot in slots.items():
                if not re.match(r"^[a-z0-9_]+$", str(sname)) or len(str(sname)) > PG_IDENTIFIER_MAX_BYTES:
                    p.error("spec.patroni.slots.%s" % sname, "is not a valid replication slot name",
                            "use lower-case letters, digits and '_' (at most 63)")
                if slot.get("type") not in (None, "physical", "logical"):
                    p.error("spec.patroni.slots.%s.type" % sname, "%r is not physical or logical" % slot.get("type"), "write physical or logical")
                if slot.get("type") == "logical" and (not slot.get("database") or not slot.get("plugin")):
                    p.error("spec.patroni.slots.%s" % sname, "a logical slot needs database and plugin", "add database: and plugin:")


def check_tls(spec, p):
    tls = spec.get("tls")
    if tls is None:
        return None
    if not isinstance(tls, dict):
        p.error("spec.tls", "must be an object", "write secretName: <secret>")
        return None
    if "secretName" not in tls:
        p.error("spec.tls.secretName", "is required when tls is set", "add secretName: <secret holding tls.crt and tls.key>")
        return None
    secret = tls.get("secretName")
    if secret in (None, ""):
        return None
    if not isinstance(secret, str) or not DNS1123_SUBDOMAIN_RE.match(secret) or len(secret) > 253:
        p.error("spec.tls.secretName", "%r is not a valid Secret name" % (secret,), "use the name of a Secret in the cluster namespace")
        return None
    ca_secret = tls.get("caSecretName") or ""
    if ca_secret and (not isinstance(ca_secret, str) or not DNS1123_SUBDOMAIN_RE.match(ca_secret)):
        p.error("spec.tls.caSecretName", "%r is not a valid Secret name" % (ca_secret,), "use the name of a Secret in the cluster namespace")
    return {
        "secretName": secret,
        "certificateFile": tls.get("certificateFile") or "tls.crt",
        "privateKeyFile": tls.get("privateKeyFile") or "tls.key",
        "caFile": tls.get("caFile") or "",
        "caSecretName": ca_secret if isinstance(ca_secret, str) else "",
    }


def check_clone(spec, p):
    clone = spec.get("clone")
    if clone is None:
        return None
    if not isinstance(clone, dict):
        p.error("spec.clone", "must be an object", "write cluster: <source cluster>")
        return None
    cluster = clone.get("cluster")
    timestamp = clone.get("timestamp") or ""
    if not isinstance(cluster, str) or not cluster:
        p.error("spec.clone.cluster", "is required", "add cluster: <name of the source cluster>")
    elif not timestamp and (not DNS1035_LABEL_RE.match(cluster) or len(cluster) > 63):
        p.error("spec.clone.cluster", "%r is not a valid service name (cloning without a timestamp connects to that service)" % cluster,
                "use the source cluster's name: lower-case letters, digits and '-', at most 63")
    if timestamp:
        match = CLONE_TS_RE.match(timestamp) if isinstance(timestamp, str) else None
        ok = match is not None
        if ok:
            year, month, day, hour, minute, second, dummy, off_h, off_m = match.groups()
            try:
                datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
                ok = int(off_h) <= 23 and int(off_m) <= 59 and int(second) <= 60
            except ValueError:
                ok = False
        if not ok:
            p.error("spec.clone.timestamp", "%r is not an RFC 3339 time with a numeric UTC offset" % (timestamp,),
                    'write e.g. "2025-12-19T12:40:33+01:00" ("Z" is not accepted)')
    uid = clone.get("uid")
    if uid not in (None, "") and (not isinstance(uid, str) or not UUID_RE.match(uid)):
        p.error("spec.clone.uid", "%r is not a UUID" % (uid,), "copy metadata.uid of the source cluster")
    result = dict(clone)
    result["timestamp"] = timestamp
    return result


def check_standby(spec, p):
    standby = spec.get("standby")
    from_env = any(isinstance(e, dict) and isinstance(e.get("name"), str) and STANDBY_ENV_RE.match(e["name"]) and e.get("value")
                   for e in spec["env"])
    if standby is None:
        return bool(from_env)
    if not isinstance(standby, dict):
        p.error("spec.standby", "must be an object", "write s3_wal_path, gs_wal_path or standby_host")
        return True
    s3, gs, host = (standby.get(k) for k in ("s3_wal_path", "gs_wal_path", "standby_host"))
    if not (s3 or gs or host):
        p.error("spec.standby", "names no source to replicate from", "set standby_host, s3_wal_path or gs_wal_path")
    if s3 and gs:
        p.error("spec.standby", "sets both s3_wal_path and gs_wal_path", "keep only one WAL location")
    port = standby.get("standby_port")
    if port not in (None, ""):
        try:
            ok = 1 <= int(str(port)) <= 65535
        except ValueError:
            ok = False
        if not ok:
            p.error("spec.standby.standby_port", "%r is not a port" % (port,), 'write e.g. "5432"')
        else:
            standby["standby_port"] = str(port)
    return True


def check_windows(spec, cfg, p):
    result = []
    if spec["maintenanceWindows"]:
        for i, text in enumerate(spec["maintenanceWindows"]):
            window = pgwindows.parse_maintenance_window(text, "spec.maintenanceWindows[%d]" % i, p)
            if window:
                result.append(window)
    else:
        for i, text in enumerate(cfg["maintenance_windows"]):
            window = pgwindows.parse_maintenance_window(text, "config.maintenance_windows[%d]" % i, p)
            if window:
                result.append(window)
    if not cfg["enable_maintenance_windows"]:
        return []  # no windows = always inside a window (docs/design/model.md §5)
    return result


def check_users(spec, cfg, p):
    users = {}
    system = (cfg["super_username"], cfg["replication_username"])
    for raw_name, flags in spec["users"].items():
        uname = str(raw_name)
        field = "spec.users.%s" % uname
        if not USERNAME_RE.match(uname):
            p.error(field, "%r is not a valid user name" % uname,
                    "use lower-case letters, digits, '-' and '_' (dots separate a namespace), starting and ending with a letter or digit")
            continue
        if not ident_ok(uname, field, p, "user name"):
            continue
        reserved = pgroles.reserved_role_problem(uname)
        if reserved:
            p.error(field, reserved, "choose another name")
            continue
        normalized = pgroles.normalize_flags(flags, field, p)
        if normalized is None:
            continue
        if uname in system:
            p.warn("%s: %r is a system user managed by the operator; the manifest entry is skipped" % (field, uname))
            continue
        if uname in cfg["protected_role_names"]:
            p.warn("%s: %r is a protected role (protected_role_names); the manifest entry is skipped" % (field, uname))
            continue
        users[uname] = normalized
    return users


def check_databases(spec, p):
    result = {}
    for raw_db, owner in spec["databases"].items():
        db = str(raw_db)
        field = "spec.databases.%s" % db
        if not DBNAME_RE.match(db):
            skip_or_refuse(p, field, "%r is not a valid database name" % db, "use letters, digits and '_', not starting with a digit", db)
            continue
        if not ident_ok(db, field, p, "database name"):
            continue
        reserved = pgroles.reserved_database_problem(db)
        if reserved:
            p.error(field, reserved, "remove it from spec.databases, or use another name")
            continue
        if not isinstance(owner, str) or not owner:
            p.error(field, "the owner %r is not a role name" % (owner,), "write <database>: <owner role>")
            continue
        if not ident_ok(owner, field, p, "owner name"):
            continue
        result[db] = owner
    return result
