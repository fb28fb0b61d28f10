"""A background writer for switchover/restart tests and benchmarks.

    from writer import Writer            # tests in tests/system/patroni/ (on sys.path there)
    with Writer(cluster.conninfo()) as w:   # starts at once, stops on exit
        ...do a switchover...
    print(w.longest_gap(), w.acked_count, w.lost())

One thread inserts a row every ``interval`` seconds (20 ms by default) through a libpq string,
normally the cluster's multi-host DSN with ``target_session_attrs=read-write``, so it follows
the primary. A write counts as *acknowledged* only once ``INSERT`` returned (autocommit: the
commit is done). On any error the connection is dropped and the next tick connects again.

* ``longest_gap(since=None, until=None)``: the longest time in seconds between two consecutive
  acknowledged writes, counting only gaps that overlap the window (``time.monotonic()`` values;
  use ``w.now()``). Stopping the writer closes the last gap at the stop time.
* ``gaps(threshold=0.1)``: every gap longer than ``threshold`` as ``(start, end, seconds)``.
* ``lost()``: acknowledged writes missing from the table afterwards (must be 0); read through a
  new read-write connection.
* ``acked_count``, ``attempts``, ``errors`` (list of ``(monotonic time, message)``).

Rows go to ``table`` (created if missing) tagged with a per-writer ``run`` id, so several
writers and several runs share one table. Only ``psycopg`` (3) is needed.
"""

import threading
import time
import uuid

import psycopg
from psycopg import sql


class Writer(object):
    def __init__(self, conninfo, interval=0.02, table="pgfleet_writer", connect_timeout=2,
                 statement_timeout_ms=3000, start_timeout=30.0):
        self.conninfo = conninfo
        self.interval = interval
        self.table = table
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self.start_timeout = start_timeout
        self.run = uuid.uuid4().hex
        self.attempts = 0
        self.errors = []
        self._acks = []  # (monotonic time, seq)
        self._stop = threading.Event()
        self._thread = None
        self.started_at = None
        self.stopped_at = None

    # --- life cycle ------------------------------------------------------------------------
    @staticmethod
    def now():
        return time.monotonic()

    def _connect(self):
        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout,
                               options="-c statement_timeout=%d" % self.statement_timeout_ms)

    def start(self):
        """Create the table (waiting up to ``start_timeout`` for a primary), then start writing."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with self._connect() as conn:
                    conn.execute(sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, run text NOT NULL, "
                        "seq bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
                    ).format(sql.Identifier(self.table)))
                break
            except psycopg.Error as err:
                if time.monotonic() > deadline:
                    raise RuntimeError("writer: no read-write connection within %.0f s: %s"
                                       % (self.start_timeout, err)) from err
                time.sleep(0.2)
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="pgfleet-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _loop(self):
        insert = sql.SQL("INSERT INTO {} (run, seq) VALUES (%s, %s)").format(sql.Identifier(self.table))
        conn = None
        seq = 0
        tick = time.monotonic()
        while not self._stop.is_set():
            seq += 1
            self.attempts += 1
            try:
                if conn is None:
                    conn = self._connect()
                conn.execute(insert, (self.run, seq))
                self._acks.append((time.monotonic(), seq))
            except psycopg.Error as err:
                self.errors.append((time.monotonic(), str(err).strip().splitlines()[0] if str(err) else repr(err)))
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                    conn = None
            tick += self.interval
            delay = tick - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                tick = time.monotonic()
        self.stopped_at = time.monotonic()
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    # --- results -----------------------------------------------------------------------------
    @property
    def acked_count(self):
        return len(self._acks)

    @property
    def acked(self):
        return [seq for _time, seq in self._acks]

    def _times(self):
        times = [t for t, _seq in list(self._acks)]
        if self.started_at is not None:
            times.insert(0, self.started_at)
        end = self.stopped_at if self.stopped_at is not None else time.monotonic()
        times.append(end)
        return times

    def gaps(self, threshold=0.1):
        times = self._times()
        return [(a, b, b - a) for a, b in zip(times, times[1:], strict=False) if b - a > threshold]

    def longest_gap(self, since=None, until=None):
        """Longest interval without an acknowledged write that overlaps [since, until]."""
        times = self._times()
        best = 0.0
        for a, b in zip(times, times[1:], strict=False):
            if since is not None and b < since:
                continue
            if until is not None and a > until:
                continue
            best = max(best, b - a)
        return best

    def lost(self, timeout=30.0):
        """Number of acknowledged writes that are not in the table (read on the primary)."""
        acked = set(self.acked)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._connect() as conn:
                    rows = conn.execute(sql.SQL("SELECT seq FROM {} WHERE run = %s").format(
                        sql.Identifier(self.table)), (self.run,)).fetchall()
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        present = set(r[0] for r in rows)
        return len(acked - present)
