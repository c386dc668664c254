"""Stage-out of the transfer engine, part 3 of 3 (after transfer.py and transfer-in.py): uploads by
PUT and multipart parts, journalled; then main, which runs the plan read from stdin."""

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
                        known[(entry['u'], int(entry['n']), int(entry['size']), int(entry['mtime']))] = entry['etag']
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
        stat = os.stat(src)
        size = stat.st_size
        # A part is reused only from the same file: same upload, part, size and modification time.
        upload['mtimeNs'] = stat.st_mtime_ns
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
            key = (upload.get('uploadId', ''), number, length, stat.st_mtime_ns)
            etag = known.get(key) if upload.get('uploadId') else None
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
                        entry = {'u': upload['uploadId'], 'n': number, 'size': length, 'mtime': upload['mtimeNs'], 'etag': etag}
                        journal.write(json.dumps(entry) + '\n')
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
