#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""slow.py MS PROG [ARGS...]: runs PROG as a slow downstream. Bytes from
our stdin go to PROG at once; every chunk PROG writes reaches our stdout
MS milliseconds late. EOF is passed on both ways."""
import os
import subprocess
import sys
import threading
import time

ms = int(sys.argv[1]) / 1000.0
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)


def upstream():
    try:
        while True:
            d = os.read(0, 65536)
            if not d:
                break
            child.stdin.write(d)
    except OSError:
        pass
    try:
        child.stdin.close()
    except OSError:
        pass


threading.Thread(target=upstream, daemon=True).start()
fd = child.stdout.fileno()
while True:
    d = os.read(fd, 65536)
    if not d:
        break
    time.sleep(ms)
    try:
        os.write(1, d)
    except OSError:
        break
child.wait()
os._exit(0)
