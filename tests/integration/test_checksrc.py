"""test_checksrc.py -- scripts/checksrc.sh on the build of CTSPOOL_BIN:
libctspool.so exports only ctspool_* symbols and src/ uses no banned
calls.  Then the checker is shown to catch what it claims to catch (a
planted strcpy/atoi, a comment that must not count, a leaked export).
"""

import os
import shutil
import subprocess
import tempfile

from harness import BIN, SOURCE_DIR, check, finish, skip_part

SCRIPT = os.path.join(SOURCE_DIR, "scripts", "checksrc.sh")


def run(*args):
    return subprocess.run(["sh", SCRIPT] + list(args), capture_output=True,
                          text=True, timeout=300)


def main():
    build = os.path.dirname(os.path.abspath(BIN))
    r = run(build)
    check(r.returncode == 0, "checksrc.sh %s exited %d:\n%s%s" %
          (build, r.returncode, r.stdout, r.stderr))
    check("all ctspool_*" in r.stdout, "export check ran: %r" % r.stdout)

    tmp = tempfile.mkdtemp(prefix="ctspool-it-checksrc-")
    try:
        src = os.path.join(tmp, "src")
        os.mkdir(src)
        with open(os.path.join(src, "a.c"), "w") as f:
            f.write("/* strcpy( and gets( in a comment do not count */\n"
                    "// nor sprintf( here\n"
                    "#include <string.h>\n"
                    "int f(char *d, const char *s) {\n"
                    "    return atoi(s) + (strcpy(d, s) != 0);\n"
                    "}\n"
                    "int g(char *s, char **p) "
                    "{ return strtok_r(s, \",\", p) != 0; }\n")
        r = run(build, src)
        check(r.returncode == 1, "planted banned calls: exit %d" %
              r.returncode)
        check("a.c:5:" in r.stderr, "banned call reported with its line: %r"
              % r.stderr)
        check(":1:" not in r.stderr and ":2:" not in r.stderr and
              ":7:" not in r.stderr,
              "comments and strtok_r not reported: %r" % r.stderr)

        cc = shutil.which(os.environ.get("CC", "cc"))
        if cc:
            lib_dir = os.path.join(tmp, "build")
            os.mkdir(lib_dir)
            c = os.path.join(tmp, "l.c")
            with open(c, "w") as f:
                f.write("int sp_leaked(void) { return 1; }\n"
                        "int ctspool_fine(void) { return 2; }\n")
            b = subprocess.run([cc, "-shared", "-fPIC", "-o",
                                os.path.join(lib_dir, "libctspool.so"), c],
                               capture_output=True, text=True)
            if check(b.returncode == 0, "cc -shared: " + b.stderr):
                r = run(lib_dir, os.path.join(SOURCE_DIR, "src"))
                check(r.returncode == 1 and "sp_leaked" in r.stderr and
                      "ctspool_fine" not in r.stderr,
                      "leaked export reported: exit %d %r" %
                      (r.returncode, r.stderr))
        else:
            skip_part("the leaked-export check needs a C compiler: %s not "
                      "found (Debian package gcc)" %
                      os.environ.get("CC", "cc"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
