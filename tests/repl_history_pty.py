#!/usr/bin/env python3
"""Two `chokepoint repl` sessions at once in pseudo-terminals: one is killed, one quits.

Usage: repl_history_pty.py CHOKEPOINT_BINARY WORKDIR HOME
Both sessions' inputs must be in HOME/.chokepoint_history afterwards (each input is added
as it is typed, under the file's lock). Exits non-zero, with what it saw, when not.
"""
import os
import pty
import select
import signal
import sys
import time

binary, workdir, home = sys.argv[1], sys.argv[2], sys.argv[3]


def start():
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(workdir)
        env = dict(os.environ, HOME=home, TERM="xterm")
        os.execve(binary, [binary, "repl", "--model", "models/world-2024.yaml"], env)
    return pid, fd


def read_until(fd, text, timeout=30.0):
    buf, end = "", time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:
                break
            if text in buf:
                return buf
    sys.stderr.write("waited for %r, saw:\n%s\n" % (text, buf))
    sys.exit(1)


a, fa = start()
b, fb = start()
read_until(fa, "> ")
read_until(fb, "> ")
os.write(fa, b"let from_a = 1;\r")
read_until(fa, "> ")
os.write(fb, b"let from_b = 2;\r")
read_until(fb, "> ")
os.kill(b, signal.SIGKILL)  # never quits
os.waitpid(b, 0)
os.write(fa, b":quit\r")
os.waitpid(a, 0)
kept = open(os.path.join(home, ".chokepoint_history"), encoding="utf-8").read()
for line in ("let from_a = 1;", "let from_b = 2;"):
    if line not in kept:
        sys.stderr.write("history lacks %r:\n%s\n" % (line, kept))
        sys.exit(1)
