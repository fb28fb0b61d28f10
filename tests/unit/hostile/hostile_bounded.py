"""Run a function in a forked child under a CPU-time alarm and an address-space limit.

A hostile input that makes the code loop or allocate without bound kills only the child; the test
then fails with "exceeded its time or memory budget" instead of hanging the suite. No timing is
asserted: the limits are generous ceilings, not measurements.
"""

import json
import os
import resource
import signal
import traceback

SECONDS = 60
MEMORY = 2 * 1024 ** 3


def bounded(fn, *args, seconds=SECONDS, memory=MEMORY):
    """``fn(*args)`` (JSON-serialisable result) in a child; returns the result or raises AssertionError."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(read_end)
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(seconds)
            try:
                data = json.dumps({"result": fn(*args)})
            except BaseException:  # noqa: BLE001 - any crash is reported to the parent
                data = json.dumps({"crash": traceback.format_exc()[-4000:]})
            payload = data.encode("utf-8")
            while payload:
                payload = payload[os.write(write_end, payload):]
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _pid, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        raise AssertionError("exceeded its time or memory budget (killed by signal %d)" % os.WTERMSIG(status))
    answer = json.loads(b"".join(chunks).decode("utf-8") or "{}")
    if "crash" in answer:
        raise AssertionError("crashed instead of refusing cleanly:\n" + answer["crash"])
    return answer["result"]
