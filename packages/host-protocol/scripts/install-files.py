"""Writes the files a stage start sends along (@inno-train/host-protocol, src/install.ts).

Run as `python3 -c <this> <manifest>` in the SSH command that then starts the task, so a stage start
is one round trip instead of an upload per file. The manifest (argv[1]) is a JSON list of
{"path", "size", "mode"}, relative to the login directory, in the order the bytes follow each other
on stdin. Each file is written to a hidden temporary name in its directory, flushed to disk and
renamed over its path, as the SFTP upload does: a reader never sees half a file.
"""
import json
import os
import sys


def install(path, size, mode, source):
    directory, name = os.path.split(path)
    temp = os.path.join(directory, ".%s.install-%s" % (name, os.urandom(6).hex()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        left = size
        while left > 0:
            chunk = source.read(min(left, 1 << 20))
            if not chunk:
                raise SystemExit("install-files: input ended %d bytes short of %s" % (left, path))
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)
        os.fsync(fd)
        # Explicit: the mode given to open is reduced by the umask.
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        os.unlink(temp)
        raise
    os.close(fd)
    os.replace(temp, path)


def main():
    source = sys.stdin.buffer
    for entry in json.loads(sys.argv[1]):
        install(entry["path"], entry["size"], entry["mode"], source)
    if source.read(1):
        raise SystemExit("install-files: more input than the manifest names")


main()
