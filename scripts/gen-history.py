#!/usr/bin/env python3
"""Writes a git fast-import stream of a synthetic but realistic history to
stdout: a source tree of FILES text files in nested directories, COMMITS
commits that each edit a few lines in 1-5 files (sometimes adding or
deleting a file, sometimes a larger data file), a side branch every 500
commits and an annotated tag every 100. Deterministic for a given seed.

usage: gen-history.py [COMMITS] [FILES] [SEED] | git fast-import
"""
import random
import sys

commits = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
nfiles = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
out = sys.stdout.buffer
words = ("alpha beta gamma delta value index count buffer result error state tree node "
         "read write open close return if else for range func var const type struct").split()

def line():
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))

def newfile():
    return [line() for _ in range(rng.randint(20, 300))]

dirs = ["pkg%d/sub%d" % (i // 5, i % 5) for i in range(40)] + ["cmd", "docs", "internal/x", "internal/y"]
files = {}
for i in range(nfiles):
    files["%s/file%04d.go" % (rng.choice(dirs), i)] = newfile()

def data(b):
    out.write(b"data %d\n" % len(b))
    out.write(b)
    out.write(b"\n")

def content(lines):
    return ("\n".join(lines) + "\n").encode()

t0 = 1600000000
mark = 0
def commit(ref, n, changes, parent=None, merge=None):
    global mark
    mark += 1
    out.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
    when = t0 + n * 600
    out.write(b"author Dev %d <dev%d@example.com> %d +0100\n" % (n % 7, n % 7, when))
    out.write(b"committer Dev %d <dev%d@example.com> %d +0100\n" % (n % 7, n % 7, when))
    data(b"change %d: %s\n\nsome longer description %s\n" % (n, line().encode(), line().encode()))
    if parent:
        out.write(b"from %s\n" % parent.encode())
    if merge:
        out.write(b"merge %s\n" % merge.encode())
    for path, lines in changes:
        if lines is None:
            out.write(b"D %s\n" % path.encode())
        else:
            out.write(b"M 100644 inline %s\n" % path.encode())
            data(content(lines))
    out.write(b"\n")
    return ":%d" % mark

# first commit: everything
commit("refs/heads/main", 0, sorted(files.items()))
for n in range(1, commits):
    changes = []
    for _ in range(rng.randint(1, 5)):
        path = rng.choice(list(files))
        lines = list(files[path])
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(lines))
            op = rng.random()
            if op < 0.5:
                lines[i] = line()
            elif op < 0.8:
                lines.insert(i, line())
            elif len(lines) > 5:
                del lines[i]
        files[path] = lines
        changes.append((path, lines))
    r = rng.random()
    if r < 0.02:
        path = "%s/new%05d.go" % (rng.choice(dirs), n)
        files[path] = newfile()
        changes.append((path, files[path]))
    elif r < 0.03 and len(files) > 10:
        path = rng.choice(list(files))
        del files[path]
        changes.append((path, None))
    elif r < 0.035:
        path = "data/blob%d.bin" % (n % 5)
        files[path] = [line() for _ in range(rng.randint(2000, 8000))]
        changes.append((path, files[path]))
    m = commit("refs/heads/main", n, changes)
    if n % 100 == 0:
        out.write(b"tag v%d\nfrom %s\ntagger Rel <rel@example.com> %d +0000\n" % (n // 100, m.encode(), t0 + n * 600))
        data(b"release %d\n" % (n // 100))
    if n % 500 == 0:
        commit("refs/heads/side%d" % (n // 500), n, [("side/notes%d.txt" % n, [line() for _ in range(10)])], parent=m)
out.write(b"done\n")
