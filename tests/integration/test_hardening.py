"""test_hardening.py -- the built binaries carry the hardening of issue 6
(part 6), checked checksec-style with readelf:

- PIE: the ctspool program is an ELF of type DYN with the PIE flag;
- full RELRO: a GNU_RELRO segment and BIND_NOW (-Wl,-z,relro,-z,now),
  for the program and libctspool.so;
- a non-executable stack (GNU_STACK without E);
- stack protector: __stack_chk_fail is referenced (-fstack-protector-strong);
- _FORTIFY_SOURCE=3 in optimised builds: checked libc entry points
  (__snprintf_chk, ...) are referenced.

Sanitizer and fuzz builds bring their own instrumentation and skip the
hardening flags (CMakeLists.txt): the test reports Skipped (exit 77) for
them, as it does when readelf is missing.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, finish  # noqa: E402


def cmake_cache(start):
    """CMakeCache.txt entries of the build tree holding start."""
    d = os.path.dirname(os.path.abspath(start))
    for _ in range(4):
        path = os.path.join(d, "CMakeCache.txt")
        if os.path.exists(path):
            entries = {}
            with open(path) as f:
                for line in f:
                    m = re.match(r"^([A-Za-z_0-9]+):[A-Z]+=(.*)$", line)
                    if m:
                        entries[m.group(1)] = m.group(2)
            return d, entries
        d = os.path.dirname(d)
    return None, {}


def readelf(*args):
    r = subprocess.run(["readelf", "-W"] + list(args), capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, "readelf %s failed: %s" % (args, r.stderr))
    return r.stdout


def check_elf(path, is_program, fortify):
    name = os.path.basename(path)
    ok = True
    header = readelf("-h", path)
    dynamic = readelf("-d", path)
    segments = readelf("-l", path)
    symbols = readelf("--dyn-syms", path)
    if is_program:
        ok &= check(re.search(r"Type:\s+DYN", header) is not None and
                    re.search(r"FLAGS_1.*\bPIE\b", dynamic) is not None,
                    "%s is not a position-independent executable" % name)
    ok &= check("GNU_RELRO" in segments,
                "%s has no GNU_RELRO segment" % name)
    ok &= check(re.search(r"\(FLAGS\).*BIND_NOW", dynamic) is not None or
                re.search(r"FLAGS_1.*\bNOW\b", dynamic) is not None,
                "%s is not linked with -z now (no BIND_NOW)" % name)
    stack = [ln for ln in segments.splitlines() if "GNU_STACK" in ln]
    ok &= check(bool(stack) and "RWE" not in stack[0],
                "%s has an executable stack: %s" % (name, stack))
    ok &= check("__stack_chk_fail" in symbols,
                "%s does not use the stack protector (__stack_chk_fail)" %
                name)
    chk = []
    if fortify:
        chk = sorted(set(re.findall(r"__\w+_chk\b", symbols)) -
                     {"__stack_chk_fail"})
        ok &= check(len(chk) > 0,
                    "%s has no _FORTIFY_SOURCE checked calls" % name)
    if ok:
        print("%s: %sfull RELRO, NX stack, stack protector%s" %
              (name, "PIE, " if is_program else "",
               ", fortified: " + ", ".join(chk) if fortify else ""))


def main():
    binary = harness.BIN
    build, cache = cmake_cache(binary)
    if not shutil.which("readelf"):
        harness.skip("readelf is not installed (Debian package binutils)")
    with open(binary, "rb") as f:
        data = f.read()
    sanitized = (cache.get("CTSPOOL_SANITIZE") or
                 cache.get("CTSPOOL_FUZZ", "OFF").upper() in ("ON", "1") or
                 b"__asan_init" in data or b"__tsan_init" in data or
                 b"__ubsan_handle" in data)
    if sanitized:
        harness.skip("sanitizer/fuzz build (%s): no hardening flags" %
                     (cache.get("CTSPOOL_SANITIZE") or "instrumented"))
    build_type = cache.get("CMAKE_BUILD_TYPE", "")
    fortify = build_type in ("Release", "RelWithDebInfo", "MinSizeRel")
    if not fortify:
        print("note: build type %r: _FORTIFY_SOURCE is not checked (it "
              "needs optimisation)" % build_type)
    check_elf(binary, True, fortify)
    libs = [p for p in glob.glob(os.path.join(os.path.dirname(binary),
                                              "libctspool.so*"))
            if not os.path.islink(p)]
    if build is not None and not libs:
        libs = [p for p in glob.glob(os.path.join(build, "libctspool.so*"))
                if not os.path.islink(p)]
    if check(len(libs) == 1, "libctspool.so not found next to %s: %s" %
             (binary, libs)):
        check_elf(libs[0], False, fortify)
    finish()


if __name__ == "__main__":
    main()
