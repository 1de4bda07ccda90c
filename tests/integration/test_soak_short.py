#!/usr/bin/env python3
"""test_soak_short.py -- a one-minute run of scripts/soak: serve, append
producers, HTTP producers and the drainer on one journal, random receiver
faults and SIGKILLs, then the receiver's final state is compared point by
point with what was acknowledged, including requests the receiver
applies after the drainer abandoned them or died.  RSS is reported, not
judged (this test also runs under sanitizers).  The full soak is
`scripts/soak` (10 minutes by default).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("CTSPOOL_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(HERE)))


def main():
    cmd = [sys.executable, os.path.join(SOURCE, "scripts", "soak"),
           "--minutes", os.environ.get("CTSPOOL_SOAK_MINUTES", "1"),
           "--no-rss-check"]
    try:
        r = subprocess.run(cmd, timeout=840)
    except subprocess.TimeoutExpired:
        print("FAIL: scripts/soak did not finish within 840 s",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if r.returncode == 0 else 1)


if __name__ == "__main__":
    main()
