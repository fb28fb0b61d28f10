"""What the Kubernetes pages show, computed from API objects (pure functions, unit-tested)."""

import datetime

PRINTER_COLUMNS = ("Team", "Version", "Pods", "Volume", "CPU-Request", "Memory-Request", "Age", "Status")


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def status_of(cr):
    st = (cr or {}).get("status")
    if isinstance(st, str):
        return {"PostgresClusterStatus": st}
    return st if isinstance(st, dict) else {}


def age(timestamp, now=None):
    if not timestamp:
        return ""
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return ""
    secs = int(((now or datetime.datetime.now(datetime.timezone.utc)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return "%d%s" % (secs // size, unit)
    return "%ds" % max(secs, 0)


def cluster_row(cr, now=None):
    """One list row: the CRD's printer columns plus what a person needs to act on it."""
    spec = cr.get("spec") or {}
    meta = cr.get("metadata") or {}
    st = status_of(cr)
    conditions = st.get("conditions") if isinstance(st.get("conditions"), list) else []
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "Team": spec.get("teamId", ""),
        "Version": _get(spec, "postgresql", "version") or "",
        "Pods": spec.get("numberOfInstances", ""),
        "Volume": _get(spec, "volume", "size") or "",
        "CPU-Request": _get(spec, "resources", "requests", "cpu") or "",
        "Memory-Request": _get(spec, "resources", "requests", "memory") or "",
        "Age": age(meta.get("creationTimestamp"), now),
        "Status": st.get("PostgresClusterStatus") or "",
        "ready": (ready or {}).get("status"),
        "ready_message": (ready or {}).get("message", ""),
        "deleting": bool(meta.get("deletionTimestamp")),
    }


def pod_row(pod, role_label="spilo-role"):
    st = pod.get("status") or {}
    conds = dict((c.get("type"), c.get("status")) for c in st.get("conditions") or [] if isinstance(c, dict))
    restarts = sum(int(c.get("restartCount") or 0) for c in st.get("containerStatuses") or [])
    return {"name": _get(pod, "metadata", "name"), "role": (_get(pod, "metadata", "labels") or {}).get(role_label, ""),
            "phase": st.get("phase", ""), "ready": conds.get("Ready") == "True", "ip": st.get("podIP", ""),
            "node": _get(pod, "spec", "nodeName") or "", "restarts": restarts,
            "terminating": bool(_get(pod, "metadata", "deletionTimestamp"))}


def service_row(svc):
    spec = svc.get("spec") or {}
    ports = ", ".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP")) for p in spec.get("ports") or [])
    return {"name": _get(svc, "metadata", "name"), "type": spec.get("type", "ClusterIP"),
            "cluster_ip": spec.get("clusterIP", ""), "ports": ports,
            "role": (_get(svc, "metadata", "labels") or {}).get("spilo-role", "")}


def event_row(ev):
    return {"type": ev.get("type", ""), "reason": ev.get("reason", ""), "message": (ev.get("message") or "")[:500],
            "count": ev.get("count") or 1,
            "last": ev.get("lastTimestamp") or ev.get("eventTime") or _get(ev, "metadata", "creationTimestamp") or ""}


def progress(cr, statefulset, pods, role_label="spilo-role", database_access=True):
    """The steps of a creation, each ``{"step", "state": done|pending|failed|skipped, "detail"}``."""
    steps = []

    def step(name, state, detail=""):
        steps.append({"step": name, "state": state, "detail": detail})

    if cr is None:
        step("Manifest accepted", "failed", "the postgresql object does not exist")
        return {"steps": steps, "done": False, "status": ""}
    st = status_of(cr)
    gen = _get(cr, "metadata", "generation")
    step("Manifest accepted", "done", "generation %s" % gen if gen else "")
    observed = st.get("observedGeneration")
    status = st.get("PostgresClusterStatus") or ""
    if status in ("CreateFailed", "UpdateFailed", "SyncFailed", "Invalid"):
        conds = [c for c in st.get("conditions") or [] if isinstance(c, dict) and c.get("status") == "False"]
        step("Operator reconciled", "failed", "%s: %s" % (status, "; ".join(c.get("message", "") for c in conds)[:300]))
    elif status:
        step("Operator reconciled", "done" if observed in (None, gen) else "pending",
             "status %s%s" % (status, "" if observed in (None, gen) else " (generation %s seen)" % observed))
    else:
        step("Operator reconciled", "pending", "waiting for the operator")
    want = _get(cr, "spec", "numberOfInstances")
    if statefulset is None:
        step("Objects created", "pending", "no StatefulSet yet")
    else:
        step("Objects created", "done", "StatefulSet %s" % _get(statefulset, "metadata", "name"))
    rows = [pod_row(p, role_label) for p in pods]
    ready = [r for r in rows if r["ready"] and not r["terminating"]]
    try:
        want_n = int(want)
    except (TypeError, ValueError):
        want_n = len(rows) or 1
    step("Pods ready", "done" if len(ready) >= want_n and want_n > 0 else "pending", "%d/%d" % (len(ready), want_n))
    leaders = [r["name"] for r in ready if r["role"] in ("master", "primary", "leader", "standby_leader")]
    step("Leader elected", "done" if len(leaders) == 1 else "pending",
         leaders[0] if len(leaders) == 1 else ("%d leaders" % len(leaders) if leaders else "no leader yet"))
    synced = next((c for c in st.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "DatabasesSynced"),
                  None)
    if synced is not None:
        step("Roles and databases synced", "done" if synced.get("status") == "True" else "failed",
             synced.get("message") or synced.get("reason") or "")
    elif not database_access:
        step("Roles and databases synced", "skipped", "enable_database_access is off in the operator config")
    else:
        step("Roles and databases synced", "pending", "not reported yet")
    done = status == "Running" and all(s["state"] in ("done", "skipped") for s in steps)
    return {"steps": steps, "done": done, "status": status}


def delete_protection(cr, config, today=None):
    """What the delete-protection annotations require: ``[(key, value)]`` to set (empty: none)."""
    today = today or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    need = []
    date_key = (config or {}).get("delete_annotation_date_key") or ""
    name_key = (config or {}).get("delete_annotation_name_key") or ""
    if date_key:
        need.append((date_key, today))
    if name_key:
        need.append((name_key, _get(cr, "metadata", "name")))
    return need
