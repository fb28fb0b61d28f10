"""Long operations (create a local cluster, switchover, rolling restart) in a background thread, with
a progress log the browser polls. One running job per target at a time."""

import itertools
import threading
import time
import traceback

_ids = itertools.count(1)


class Job(object):
    def __init__(self, kind, target):
        self.id = "%d-%d" % (int(time.time()), next(_ids))
        self.kind = kind
        self.target = target
        self.state = "running"  # running | done | failed
        self.lines = []
        self.steps = []  # structured progress (e.g. per member), replaced as it moves
        self.result = None
        self.error = None
        self.started = time.time()
        self.ended = None
        self._lock = threading.Lock()

    def log(self, line):
        with self._lock:
            self.lines.append("%s %s" % (time.strftime("%H:%M:%S"), str(line)[:2000]))
            del self.lines[:-500]

    def set_steps(self, steps):
        with self._lock:
            self.steps = [dict(s) for s in steps or []]

    def to_dict(self):
        with self._lock:
            return {"id": self.id, "kind": self.kind, "target": self.target, "state": self.state,
                    "lines": list(self.lines), "steps": list(self.steps), "error": self.error,
                    "result": self.result, "started": self.started, "ended": self.ended}


class Jobs(object):
    def __init__(self, keep=200):
        self.keep = keep
        self._jobs = {}
        self._busy = {}
        self._lock = threading.Lock()

    def get(self, job_id):
        with self._lock:
            return self._jobs.get(job_id)

    def running(self, target):
        with self._lock:
            job = self._busy.get(target)
            return job if job is not None and job.state == "running" else None

    def latest(self, target):
        with self._lock:
            mine = [j for j in self._jobs.values() if j.target == target]
        return max(mine, key=lambda j: j.started) if mine else None

    def start(self, kind, target, func):
        """Run ``func(job)`` in a thread; its return value is the job's result. None when the target is busy."""
        job = Job(kind, target)
        with self._lock:
            cur = self._busy.get(target)
            if cur is not None and cur.state == "running":
                return None
            self._busy[target] = job
            self._jobs[job.id] = job
            if len(self._jobs) > self.keep:
                for old in sorted(self._jobs.values(), key=lambda j: j.started)[:len(self._jobs) - self.keep]:
                    if old.state != "running":
                        self._jobs.pop(old.id, None)

        def run():
            try:
                job.result = func(job)
                job.state = "done"
            except Exception as err:  # shown to the user: one sentence, never a traceback with values
                job.error = getattr(err, "msg", None) or str(err) or err.__class__.__name__
                job.state = "failed"
                job.log("failed: %s" % job.error)
                if not getattr(err, "msg", None):
                    traceback.print_exc()
            finally:
                job.ended = time.time()

        threading.Thread(target=run, name="console-job-%s" % job.id, daemon=True).start()
        return job
