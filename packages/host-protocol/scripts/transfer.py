"""The transfer engine of stage-in and stage-out on the GPU host (@inno-train/host-protocol).

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


# ---- stage-in ----

class Download:
    """One file of stage-in: its parts, where they are written, and what verifies it."""

    def __init__(self, engine, spec, index):
        self.engine, self.spec, self.index = engine, spec, index
        self.rel, self.size, self.url = spec['relPath'], int(spec['size']), spec['url']
        self.part_size = int(spec.get('partSize') or 0)
        self.dest = os.path.join(engine.job_dir, self.rel)
        tag = hashlib.sha256(('%s\0%d\0%s' % (self.rel, self.size, spec.get('etag', ''))).encode()).hexdigest()[:24]
        self.data = os.path.join(engine.partial, tag + '.data')
        self.journal = self.data + '.parts'
        self.lock = threading.Lock()
        self.left = 0
        self.verify_left = max(1, int(engine.plan.get('verifyAttempts', 2)))

    def ranges(self):
        if self.part_size <= 0 or self.size <= self.part_size:
            return [(0, self.size)]
        return [(start, min(start + self.part_size, self.size)) for start in range(0, self.size, self.part_size)]


class StageIn(Engine):
    def __init__(self, plan):
        super().__init__(plan)
        self.partial = os.path.join(self.meta, 'stage-in.partial')
        self.downloads = [Download(self, spec, i) for i, spec in enumerate(plan['files'])]
        self.skipped = self.verified = 0
        self.progress = Progress(self.path_in_job('progressFile'), sum(d.size for d in self.downloads), len(self.downloads))

    def main(self):
        os.makedirs(self.partial, exist_ok=True)
        wanted = {os.path.basename(d.data) for d in self.downloads} | {os.path.basename(d.journal) for d in self.downloads}
        for name in os.listdir(self.partial):
            if name not in wanted:
                os.unlink(os.path.join(self.partial, name))
        for download in self.downloads:
            self.begin(download)
        self.run(self.progress)
        result = {'ok': not self.failed, 'failed': list(self.failed.values()), 'bytes': self.progress.done,
                  'skipped': self.skipped, 'verified': self.verified, 'retries': self.progress.retries}
        if not self.failed:
            shutil.rmtree(self.partial, ignore_errors=True)
        return result

    def begin(self, d):
        if os.path.isfile(d.dest) and not os.path.islink(d.dest) and os.path.getsize(d.dest) == d.size:
            with self.lock:
                self.skipped += 1
            self.progress.add(d.size)
            self.progress.file_done()
            print('stage-in: already present %s' % shown(d.rel), flush=True)
            return
        try:
            os.makedirs(os.path.dirname(d.dest) or '.', exist_ok=True)
        except OSError as error:
            self.fail(d.rel, 'cannot create its directory: %s' % error.strerror, 'local')
            return
        ranges = d.ranges()
        if len(ranges) == 1:
            self.submit(lambda conns: self.fetch_whole(conns, d))
            return
        done = self.prepare_ranged(d)
        todo = [r for r in ranges if r[0] not in done]
        self.progress.add(sum(end - start for start, end in ranges if start in done))
        d.left = len(todo)
        if not todo:
            self.submit(lambda conns: self.finish_ranged(d))
        for start, end in todo:
            self.submit(lambda conns, s=start, e=end: self.fetch_range(conns, d, s, e))

    def prepare_ranged(self, d):
        """The preallocated file, and the offsets of parts a previous run wrote (its journal)."""
        done = set()
        if os.path.exists(d.data) and os.path.getsize(d.data) == d.size and os.path.exists(d.journal):
            with open(d.journal, encoding='ascii', errors='replace') as handle:
                done = {int(line) for line in handle.read().split() if line.isdigit()}
        else:
            for stale in (d.data, d.journal):
                if os.path.exists(stale):
                    os.unlink(stale)
        fd = os.open(d.data, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != d.size:
                try:
                    os.posix_fallocate(fd, 0, d.size)
                except OSError:
                    os.ftruncate(fd, d.size)
        finally:
            os.close(fd)
        return done

    def fetch_range(self, conns, d, start, end):
        def action(conns, count):
            fd = os.open(d.data, os.O_WRONLY)
            try:
                self.get(conns, d, start, end, lambda view, offset: os.pwrite(fd, view, offset), count)
            finally:
                os.close(fd)
            with open(d.journal, 'a', encoding='ascii') as journal:
                journal.write('%d\n' % start)
            return True

        if self.attempt(conns, d.url, d.rel, 'bytes %d-%d: ' % (start, end - 1), self.progress, action) is FAILED:
            return
        with d.lock:
            d.left -= 1
            last = d.left == 0
        if last:
            self.finish_ranged(d)

    def get(self, conns, d, start, end, sink, count):
        ranged = not (start == 0 and end == d.size)
        headers = {'Range': 'bytes=%d-%d' % (start, end - 1)} if ranged and end > start else {}
        conn = conns.request('GET', d.url, headers)
        resp = answer(conn, (206,) if headers else (200,))
        length = resp.getheader('Content-Length')
        if length is not None and int(length) != end - start:
            resp.close()
            # The object is not the one planned (replaced since): asking again cannot help.
            raise TransferFailed('size mismatch: expected %d bytes, S3 sent %s' % (end - start, length), 'verify', retry=False)
        buffer = memoryview(bytearray(CHUNK))
        got = 0
        while got < end - start:
            n = resp.readinto(buffer[:min(CHUNK, end - start - got)])
            if not n:
                raise TransferFailed('the connection closed after %d of %d bytes' % (got, end - start))
            sink(buffer[:n], start + got)
            got += n
            count(n)
        if resp.read(1):
            raise TransferFailed('the server sent more than %d bytes' % (end - start))

    def fetch_whole(self, conns, d):
        tmp = '%s.%d.tmp' % (d.data, os.getpid())

        def action(conns, count):
            hasher = checksum_of(d.spec)
            with open(tmp, 'wb') as out:
                def sink(view, _offset):
                    out.write(view)
                    if hasher:
                        hasher[1].update(view)
                self.get(conns, d, 0, d.size, sink, count)
            return hasher

        while True:
            hasher = self.attempt(conns, d.url, d.rel, '', self.progress, action)
            if hasher is FAILED:
                remove(tmp)
                return
            if self.accept(d, tmp, hasher):
                return

    def finish_ranged(self, d):
        hasher = checksum_of(d.spec)
        if hasher:
            with open(d.data, 'rb') as handle:
                while True:
                    block = handle.read(8 * CHUNK)
                    if not block:
                        break
                    hasher[1].update(block)
        if self.accept(d, d.data, hasher):
            remove(d.journal)
            return
        remove(d.journal)
        self.begin(d)

    def accept(self, d, tmp, hasher):
        """Moves a complete file into place if it verifies. False: fetch it again (it was taken back)."""
        actual = os.path.getsize(tmp)
        problem = None
        if actual != d.size:
            problem = 'size mismatch: expected %d bytes, got %d' % (d.size, actual)
        elif hasher and hasher[2](hasher[1]) != hasher[3]:
            problem = '%s mismatch: the bytes differ from what S3 published' % hasher[0]
        if problem is None:
            try:
                os.replace(tmp, d.dest)
            except OSError as error:
                remove(tmp)
                self.fail(d.rel, 'cannot move the file into place: %s' % error.strerror, 'local')
                return True
            with self.lock:
                self.verified += 1 if hasher else 0
            self.progress.file_done()
            print('stage-in: fetched %s (%d bytes%s)' % (shown(d.rel), d.size, ', %s verified' % hasher[0] if hasher else ''), flush=True)
            return True
        remove(tmp)
        self.progress.add(-d.size)
        d.verify_left -= 1
        if d.verify_left <= 0:
            self.fail(d.rel, problem, 'verify')
            return True
        self.progress.retried()
        print('stage-in: %s: %s; fetching it again' % (shown(d.rel), problem), file=sys.stderr, flush=True)
        return False


def checksum_of(spec):
    """(name, hasher, digest-as-published, expected) for the file's published checksum, or None.
    The planner sends an MD5 only where S3's ETag is one (not for SSE-KMS or SSE-C objects)."""
    if spec.get('sha256'):
        return ('sha256', hashlib.sha256(), lambda h: base64.b64encode(h.digest()).decode(), spec['sha256'])
    if spec.get('md5'):
        return ('md5', hashlib.md5(), lambda h: h.hexdigest(), spec['md5'].lower())
    return None


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---- stage-out ----

class StageOut(Engine):
    def __init__(self, plan):
        super().__init__(plan)
        self.journal_path = self.path_in_job('journalFile')
        self.parts = {}
        self.reused = 0
        self.etag_is_md5 = True
        self.mismatches = 0
        total = sum(int(u.get('size', 0)) for u in plan['uploads'])
        self.progress = Progress(self.path_in_job('progressFile'), total, len(plan['uploads']))

    def journalled(self):
        known = {}
        if self.journal_path and os.path.exists(self.journal_path):
            with open(self.journal_path, encoding='utf-8', errors='replace') as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                        known[(entry['u'], int(entry['n']), int(entry['size']))] = entry['etag']
                    except (ValueError, KeyError, TypeError):
                        continue
        return known

    def main(self):
        known = self.journalled()
        for upload in self.plan['uploads']:
            self.begin(upload, known)
        self.run(self.progress)
        failed = list(self.failed.values())
        broken = {f['path'] for f in failed}
        parts = {p: sorted(v, key=lambda x: x['partNumber']) for p, v in self.parts.items() if p not in broken}
        return {'ok': not failed, 'failed': failed, 'bytes': self.progress.done, 'parts': parts,
                'reused': self.reused, 'retries': self.progress.retries}

    def begin(self, upload, known):
        rel = upload['relPath']
        src = os.path.join(self.job_dir, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            self.fail(rel, 'not a regular file', 'local')
            return
        size = os.path.getsize(src)
        if upload['kind'] == 'put':
            self.submit(lambda conns: self.send(conns, upload, src, 0, 0, size))
            return
        part_size, parts = int(upload['partSize']), upload['parts']
        if (1 if size == 0 else -(-size // part_size)) != len(parts):
            self.fail(rel, 'the file is now %d bytes, which is not %d parts of %d bytes' % (size, len(parts), part_size), 'local')
            return
        self.parts[rel] = []
        for part in parts:
            number = int(part['partNumber'])
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            etag = known.get((upload.get('uploadId', ''), number, length)) if upload.get('uploadId') else None
            if etag:
                self.parts[rel].append({'partNumber': number, 'etag': etag})
                self.progress.add(length)
                self.reused += 1
                continue
            self.submit(lambda conns, n=number, o=offset, l=length, u=part['url']: self.send(conns, upload, src, n, o, l, u))

    def send(self, conns, upload, src, number, offset, length, url=None):
        url = url or upload['url']
        rel = upload['relPath']
        label = 'part %d: ' % number if number else ''

        def action(conns, count):
            md5 = hashlib.md5()
            conn = conns.request('PUT', url, {'Content-Length': str(length)})
            fd = os.open(src, os.O_RDONLY)
            try:
                position, left = offset, length
                while left > 0:
                    block = os.pread(fd, min(CHUNK, left), position)
                    if not block:
                        raise TransferFailed('the file is shorter than planned', 'local', retry=False)
                    md5.update(block)
                    conn.send(block)
                    position += len(block)
                    left -= len(block)
                    count(len(block))
            finally:
                os.close(fd)
            resp = answer(conn, (200,))
            resp.read(65536)
            etag = (resp.getheader('ETag') or '').strip()
            if number and not etag:
                raise TransferFailed('no ETag in the response')
            self.check_etag(etag, md5.hexdigest())
            return etag

        etag = self.attempt(conns, url, rel, label, self.progress, action)
        if etag is FAILED:
            return
        done = True
        if number:
            with self.lock:
                self.parts[rel].append({'partNumber': number, 'etag': etag})
                done = len(self.parts[rel]) == len(upload['parts'])
                if self.journal_path and upload.get('uploadId'):
                    with open(self.journal_path, 'a', encoding='utf-8') as journal:
                        journal.write(json.dumps({'u': upload['uploadId'], 'n': number, 'size': length, 'etag': etag}) + '\n')
        if done:
            self.progress.file_done()
        print('stage-out: uploaded %s%s (%d bytes)' % (shown(rel), ' part %d' % number if number else '', length), flush=True)

    def check_etag(self, etag, md5):
        """S3's ETag of a part or a single PUT is the MD5 of the bytes it stored, unless the bucket
        encrypts with KMS or customer keys; there it is not an MD5, and after a mismatch seen twice
        in a row the comparison is given up for this run (one part sent twice, not every part)."""
        match = MD5_ETAG.match(etag)
        if not self.etag_is_md5 or not match or match.group(1).lower() == md5:
            with self.lock:
                self.mismatches = 0
            return
        with self.lock:
            self.mismatches += 1
            if self.mismatches >= 2:
                self.etag_is_md5 = False
                return
        raise TransferFailed('the ETag S3 answered is not the MD5 of the bytes sent')


def main():
    started = int(time.time() * 1000)
    plan = json.load(sys.stdin)
    engine = StageIn(plan) if plan['mode'] == 'stage-in' else StageOut(plan)
    result = engine.main()
    # The host's clock: for the record of where a stage's time went (benchmarks), never for deadlines.
    result.update(startedAt=started, finishedAt=int(time.time() * 1000))
    write_json(engine.path_in_job('resultFile'), result)
    print('%s: %s' % (plan['mode'], 'done' if result['ok'] else 'finished with failures'), flush=True)
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
