"""Stage-in of the transfer engine, part 2 of 3 (after transfer.py, whose names it uses): downloads,
ranged into preallocated files for large objects, resumed from their journal, verified before they
are moved into place."""

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
