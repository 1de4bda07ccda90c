"""test_static_analysis.py -- cppcheck and clang-tidy over src/ must be
clean (issue 6: part of CI).  cppcheck: warning, performance and
portability checks.  clang-tidy: clang-analyzer-* and bugprone-*, minus
checks that only restate style choices (listed below), using the
compile_commands.json of the build under test.  Runs only in the
unsanitized build (the code is the same in both passes): in a sanitizer
build it reports Skipped (exit 77), as it does when a tool is not
installed or the build has no compile_commands.json (whatever of it could
run still runs, and a finding still fails the test).
"""

import os
import shutil
import subprocess
import sys

from harness import BIN, SOURCE_DIR, check, finish, skip, skip_part

TIDY_CHECKS = ",".join([
    "-*", "clang-analyzer-*", "bugprone-*",
    # Style choices, not defects:
    "-bugprone-easily-swappable-parameters",
    "-bugprone-reserved-identifier",
    "-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling",
    "-clang-analyzer-optin.performance.Padding",
])


def sources():
    out = []
    for sub in ("src/lib", "src/cli", "src/serve", "src/drain", "src/obs"):
        d = os.path.join(SOURCE_DIR, sub)
        out += sorted(os.path.join(d, f) for f in os.listdir(d)
                      if f.endswith(".c"))
    return out


def sanitized(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CTSPOOL_SANITIZE:"):
                    return bool(line.split("=", 1)[1].strip())
    except OSError:
        pass
    return False


def main():
    build = os.path.dirname(os.path.abspath(BIN))
    if sanitized(build):
        skip("sanitizer build (the plain build runs this)")
    if shutil.which("cppcheck"):
        inc = []
        for d in ("include", "src/lib", "src/cli", "src/serve",
                  "src/drain", "src/obs"):
            inc += ["-I", os.path.join(SOURCE_DIR, d)]
        r = subprocess.run(["cppcheck", "--quiet", "--std=c11",
                            "--enable=warning,performance,portability",
                            "--error-exitcode=1", "--inline-suppr",
                            "-D_GNU_SOURCE"] + inc +
                           [os.path.join(SOURCE_DIR, "src")],
                           capture_output=True, text=True, timeout=600)
        check(r.returncode == 0 and not r.stderr.strip(),
              "cppcheck findings:\n" + r.stderr)
    else:
        skip_part("cppcheck is not installed (Debian package cppcheck)")
    db = os.path.join(build, "compile_commands.json")
    if shutil.which("clang-tidy") and os.path.exists(db):
        for src in sources():
            r = subprocess.run(["clang-tidy", "-p", build, "--quiet",
                                "--checks=" + TIDY_CHECKS, src],
                               capture_output=True, text=True, timeout=600)
            found = [l for l in r.stdout.splitlines()
                     if ": warning:" in l or ": error:" in l]
            check(not found, "clang-tidy %s:\n%s" %
                  (os.path.relpath(src, SOURCE_DIR), "\n".join(found)))
    elif not shutil.which("clang-tidy"):
        skip_part("clang-tidy is not installed (Debian package clang-tidy)")
    else:
        skip_part("no %s (CMAKE_EXPORT_COMPILE_COMMANDS=ON makes it)" % db)
    finish()


if __name__ == "__main__":
    main()
