"""The transfer engine of stage-in and stage-out on the GPU host (@inno-train/host-protocol), part 1 of 3:
the shared machinery (connections, retries, progress, the worker pool). transfer-in.py (stage-in) and
transfer-out.py (stage-out, and main) follow it: src/transfer/engine.ts joins the three into one program.

Run by transfer.sh as `python3 -X utf8 -c "$ENGINE_PY"` with the plan (JSON) on stdin. Standard
library only: Lambda's images have python3 but nothing we could pip-install.

stage-in   fetches every input with presigned GETs straight into the job directory. An object of
           more than one part (`partSize` > 0) is fetched as ranged GETs of its one URL, spread over
           the connections, each written at its offset into a preallocated file; smaller objects
           take one GET each. A file is moved into place only once complete and verified: its size,
           and its MD5 (a single-part ETag) or SHA-256 (S3's ChecksumSHA256) when the plan has one.
           A file already in place with the expected size is skipped; the parts of a ranged file
           already written (journal beside it) are not fetched again after a restart.
stage-out  uploads files with presigned PUTs, or presigned UploadPart requests for each part of a
           multipart upload; each part's MD5 is compared with the ETag S3 answers. Parts that went
           up are journalled with their ETags, so a restart of the same plan sends only the rest.

Every request shares one budget of `connections` worker threads, each keeping its connections
alive. A request that fails, or stalls (no byte for `stallSeconds`), is retried alone, up to
`attempts` times with backoff. A verification mismatch fetches the file again, up to
`verifyAttempts` times. While running, the progress (bytes done and total, rate) is rewritten
every half second; at the end the result JSON (src/transfer/result.ts) is renamed into place.

The URLs are presigned, so they are credentials for a while: nothing here prints them; failures
name the path, the HTTP status and what went wrong.
"""
import base64
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import sys
import threading
import time
import urllib.parse

CHUNK = 1 << 20
# What Engine.attempt returns when every attempt failed (an action may return None).
FAILED = object()
MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


class TransferFailed(Exception):
    """A request that failed; `kind` is 'transfer', 'verify' or 'local' (see the result's `failed`)."""

    def __init__(self, reason, kind='transfer', retry=True):
        super().__init__(reason)
        self.reason, self.kind, self.retry = reason, kind, retry


class Progress:
    """Bytes done, shared by the workers; the reporter writes it to the progress file."""

    def __init__(self, path, total, files):
        self.lock = threading.Lock()
        self.path, self.total, self.files = path, total, files
        self.done = self.files_done = self.retries = 0
        self.samples = [(time.monotonic(), 0)]

    def add(self, count):
        with self.lock:
            self.done += count

    def file_done(self):
        with self.lock:
            self.files_done += 1

    def retried(self):
        with self.lock:
            self.retries += 1

    def snapshot(self):
        now = time.monotonic()
        with self.lock:
            done, files_done, retries = self.done, self.files_done, self.retries
        self.samples = [s for s in self.samples if now - s[0] <= 3.0] + [(now, done)]
        first = self.samples[0]
        rate = (done - first[1]) / (now - first[0]) if now - first[0] >= 0.25 else 0.0
        return {'bytesDone': done, 'bytesTotal': self.total, 'bytesPerSecond': round(max(rate, 0.0), 1),
                'filesDone': files_done, 'files': self.files, 'retries': retries}

    def write(self):
        if self.path:
            write_json(self.path, self.snapshot())


def write_json(path, value):
    """Atomically: a reader sees the old file or the whole new one."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='ascii') as handle:
        json.dump(value, handle, ensure_ascii=True)
        handle.write('\n')
    os.replace(tmp, path)


def shown(path):
    """A path as the log shows it: JSON-escaped, so a newline in a name cannot forge a log line."""
    return json.dumps(path, ensure_ascii=False)


class Connections:
    """One worker's keep-alive connections, by scheme and host."""

    def __init__(self, stall_seconds):
        self.stall, self.open = stall_seconds, {}

    def request(self, method, url, headers, body=None):
        """Sends the request line and headers (and a bytes body); returns the connection."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        conn = self.open.get(key)
        if conn is None:
            kind = http.client.HTTPSConnection if parts.scheme == 'https' else http.client.HTTPConnection
            conn = self.open[key] = kind(parts.netloc, timeout=self.stall)
        target = parts.path + ('?' + parts.query if parts.query else '')
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        return conn

    def drop(self, url):
        conn = self.open.pop(self.key(url), None)
        if conn is not None:
            conn.close()

    @staticmethod
    def key(url):
        parts = urllib.parse.urlsplit(url)
        return (parts.scheme, parts.netloc)

    def close(self):
        for conn in self.open.values():
            conn.close()
        self.open.clear()


def answer(conn, expect):
    """The response, checked for one of the expected statuses; an error body is read and dropped."""
    resp = conn.getresponse()
    if resp.status not in expect:
        resp.read(65536)
        raise TransferFailed('HTTP %d' % resp.status, retry=resp.status >= 500 or resp.status in (408, 429))
    return resp


class Engine:
    def __init__(self, plan):
        self.plan = plan
        self.job_dir = plan['jobDir'] if plan['jobDir'].startswith('/') else os.path.join(os.path.expanduser('~'), plan['jobDir'])
        self.meta = os.path.join(self.job_dir, '.inno')
        self.connections = max(1, int(plan['connections']))
        self.stall = float(plan.get('stallSeconds', 30))
        self.attempts = max(1, int(plan.get('attempts', 5)))
        self.tasks = queue.Queue()
        self.lock = threading.Lock()
        self.failed = {}
        self.pending = 0
        self.idle = threading.Condition(self.lock)

    def path_in_job(self, key):
        value = self.plan.get(key)
        if not value:
            return None
        return value if value.startswith('/') else os.path.join(self.job_dir, value)

    def fail(self, path, reason, kind):
        with self.lock:
            if path not in self.failed:
                self.failed[path] = {'path': path, 'reason': reason, 'kind': kind}
        print('%s: FAILED %s: %s' % (self.plan['mode'], shown(path), reason), file=sys.stderr, flush=True)

    def broken(self, path):
        with self.lock:
            return path in self.failed

    def submit(self, task):
        with self.lock:
            self.pending += 1
        self.tasks.put(task)

    def run(self, progress):
        """Runs the queued tasks (each may queue more) on the worker threads until none is left."""
        workers = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.connections)]
        for worker in workers:
            worker.start()
        stop = threading.Event()

        def report():
            while not stop.wait(0.5):
                progress.write()

        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()
        with self.idle:
            while self.pending > 0:
                self.idle.wait()
        for _ in workers:
            self.tasks.put(None)
        for worker in workers:
            worker.join()
        stop.set()
        reporter.join()
        progress.write()

    def worker(self):
        conns = Connections(self.stall)
        try:
            while True:
                task = self.tasks.get()
                if task is None:
                    return
                try:
                    task(conns)
                except Exception as error:  # a bug must not hang the run: the task's file fails
                    print('%s: internal error: %r' % (self.plan['mode'], error), file=sys.stderr, flush=True)
                finally:
                    with self.idle:
                        self.pending -= 1
                        self.idle.notify_all()
        finally:
            conns.close()

    def attempt(self, conns, url, path, label, progress, action):
        """Runs action(conns, count) up to `attempts` times and returns what it returns, or FAILED
        (the file is then marked failed). Bytes it counted are taken back when an attempt fails."""
        for number in range(1, self.attempts + 1):
            if self.broken(path):
                return FAILED
            moved = [0]

            def count(n):
                moved[0] += n
                progress.add(n)

            try:
                return action(conns, count)
            except (OSError, http.client.HTTPException, TransferFailed) as error:
                progress.add(-moved[0])
                conns.drop(url)
                failure = error if isinstance(error, TransferFailed) else TransferFailed(describe(error))
                if not failure.retry or number == self.attempts:
                    tries = ' (after %d attempts)' % number if number > 1 else ''
                    self.fail(path, '%s%s%s' % (label, failure.reason, tries), failure.kind)
                    return FAILED
                progress.retried()
                print('%s: retrying %s%s: %s' % (self.plan['mode'], shown(path), label and ' ' + label.strip(': '), failure.reason),
                      file=sys.stderr, flush=True)
                time.sleep(min(0.25 * 2 ** (number - 1), 4.0))
        return FAILED


def describe(error):
    if isinstance(error, TimeoutError) or 'timed out' in str(error):
        return 'stalled: no byte for the stall timeout'
    return '%s: %s' % (type(error).__name__, error)
