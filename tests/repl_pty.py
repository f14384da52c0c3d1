#!/usr/bin/env python3
"""Drives `chokepoint repl` through a real pseudo-terminal, as a person would.

Usage: repl_pty.py CHOKEPOINT_BINARY WORKDIR SAVE_PATH
Prints the value the session computed (for the Rust test to compare with a replay) and exits
non-zero, with the transcript, when the REPL does not behave.
"""
import os
import pty
import re
import select
import sys
import time

binary, workdir, save = sys.argv[1], sys.argv[2], sys.argv[3]
transcript = []


def fail(msg):
    try:
        os.kill(pid, 9)  # never leave the REPL behind
    except (NameError, OSError):
        pass
    sys.stderr.write("REPL test failed: " + msg + "\n---- transcript ----\n" + "".join(transcript) + "\n")
    sys.exit(1)


pid, fd = pty.fork()
if pid == 0:
    os.chdir(workdir)
    env = dict(os.environ, HOME=os.path.dirname(save), TERM="xterm")
    os.execve(binary, [binary, "repl", "--model", "models/world-2024.yaml"], env)


def read_until(pattern, timeout=30.0):
    buf = ""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:
                break
            transcript.append(chunk)
            buf += chunk
            if re.search(pattern, buf):
                return buf
    fail("waited for %r" % pattern)


def send(text):
    os.write(fd, text.encode())


# Before any step the prompt says the clock stands before the start's week (after the first
# step it shows that week's date: the same date).
read_until(r"before 2024-01-01> ")
# 1. Tab completes a lever name.
send("export_ba\t")
out = read_until(r"export_ban")
send("\x15")  # clear the line (Ctrl-U)
time.sleep(0.2)
# 2. A multi-line function, continued because the parser says it is unfinished.
send("fn double(x) {\r")
time.sleep(0.3)
send("  x * 2\r")
time.sleep(0.3)
send("}\r")
time.sleep(0.5)
send("print(`double: ${double(21)}`);\r")
read_until(r"double: 42")
# 3. An error does not end the session; it shows a caret.
send('export_ban("XX", #{});\r')
read_until(r"unknown country 'XX'[\s\S]*\^")
# A line that fails after pulling a lever is undone whole (a saved script could not replay
# a lever that stayed in force from a failed line): the replay below would differ.
send('export_ban("CN", #{ elements: ["Dy", "Tb", "Nd"], label: "undone" }); export_ban("XX", #{});\r')
read_until(r"none of it stays")
# 4. Pull a lever, step the clock, read a value.
send('at("2024-03-04", || export_ban("CN", #{ elements: ["Dy", "Tb"], to: ["JP"] }));\r')
time.sleep(0.3)
send(":step 30\r")
read_until(r"now at 2024-07-22[^\n]*\n[\s\S]*2024-07-22> ")
send('print(`value: ${current(price("oxide:Dy", "ROW"))}`);\r')
out = read_until(r"value: [0-9.e+-]+")
value = re.search(r"value: ([0-9.e+-]+)", out).group(1)
send(":plot price ROW/oxide:Dy\r")
read_until(r"price\[ROW/oxide:Dy\]")
# In a 60-column terminal the chart fits it (it was 78 columns whatever the width).
import fcntl, struct, termios
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 60, 0, 0))
time.sleep(0.3)
send(":plot price ROW/oxide:Dy\r")
out = read_until(r"2024-07-\d\d\s*\r?\n")
drawn = [l for l in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out).replace("\r", "").split("\n") if "\u2524" in l]
if not drawn or max(len(l) for l in drawn) > 60:
    fail("the chart is wider than the 60-column terminal: %r" % drawn[:3])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
time.sleep(0.3)
# Wrong values at the prompt get clear errors and the session goes on.
for cmd, want in [
    (":step abc", r"takes a number of steps"),
    (":run-to 2099-01-01", r":run-to 2099-01-01: it is outside the model.s horizon"),
    (":run-to yesterday", r":run-to yesterday: .yesterday. is not a date"),
    (":run-to 2024-01-01", r"the clock only moves forward"),
    (":show price", r"takes a metric and a key"),
    (":plot pricee ROW/oxide:Dy", r"unknown metric 'pricee' \(did you mean 'price'\?\)"),
    (":keys nothing", r"unknown metric 'nothing'"),
    (":save", r"takes a file name"),
    (":frobnicate", r"unknown command ':frobnicate'"),
    ("let x = ;", r"error"),
]:
    send(cmd + "\r")
    read_until(want)
send(":save %s\r" % save)
read_until(r"saved \d+ inputs")
# Ctrl-C stops a running evaluation (an endless loop that would run ~3 s), not the session.
send("let n = 0; loop { n += 1; }\r")
time.sleep(0.5)
send("\x03")
read_until(r"interrupted: none of it stays")
# (Match the output, not the echo of the typed line.)
send('print(`still ${40 + 2}`);\r')
read_until(r"still 42")
# A command on a continuation line drops the unfinished input and runs.
send("let y = 1 +\r")
time.sleep(0.3)
send(":step 1\r")
read_until(r"unfinished input before :step 1 is dropped[\s\S]*now at")
# `lift`'s label completes from the labels the session has given its policies.
send('export_ban("CN", #{ elements: ["Ho"], label: "zz-label-from-session" });\r')
time.sleep(0.5)
send('lift("CN", "zz-label-f\t')
read_until(r'lift\("CN", "zz-label-from-session')
send("\x15")  # clear the line
time.sleep(0.2)
# Whole statements pasted with a command after them run before it (bracketed paste).
# (Matched on what they print, not on the echo of what was pasted.)
send('\x1b[200~print(`pasted ${20 + 1}`);\nprint(`pasted ${20 + 2}`);\n:step 1\x1b[201~\r')
read_until(r"pasted 21[\s\S]*pasted 22[\s\S]*now at")
# Lines that reach the editor together (typed ahead, pasted without bracketed paste, sent by
# a tool such as expect) each run in turn: none is dropped (rustyline kept only the first).
send('let typed = 40;\rprint(`ahead ${typed + 1}`);\rprint(`ahead ${typed + 2}`);\r')
read_until(r"ahead 41[\s\S]*ahead 42")
# Ctrl-C abandons an unfinished input: it does not come back when the input ends.
send("fn abandoned() {\r")
time.sleep(0.3)
send("\x03")
time.sleep(0.3)
send("\x04")  # Ctrl-D on an empty line ends the session.
# The REPL must leave on Ctrl-D; never wait for it forever.
deadline = time.time() + 20
while True:
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        fail("Ctrl-D did not end the REPL")
    try:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            transcript.append(os.read(fd, 4096).decode("utf-8", "replace"))
    except OSError:
        pass
if "unfinished statement" in "".join(transcript):
    fail("an input abandoned with Ctrl-C came back at the end")
print(value)
