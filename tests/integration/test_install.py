"""test_install.py -- `cmake --install` into a temporary prefix, then a
program built against the installed library via pkg-config appends points
through the C API, and `ctspool status` of the installed binary sees them.
"""

import json
import os
import subprocess

from harness import BIN, Env, check, finish, read_text

PROGRAM = r"""
#include <ctspool.h>
#include <stdio.h>

int main(int argc, char **argv) {
    ctspool *h;
    ctspool_dim dims[] = {{"region", "eu-west-1"}};
    ctspool_point p = {NULL, "Sum", "requests", 1664600400, 12.5, dims, 1};
    ctspool_append_result res;

    if (argc != 2 || ctspool_open(argv[1], 0, &h) != CTSPOOL_OK) {
        fprintf(stderr, "open: %s\n", ctspool_errmsg(NULL));
        return 1;
    }
    if (ctspool_set_default_stream(h, "embedded-stream-01") != CTSPOOL_OK ||
        ctspool_append(h, &p, 1, &res) != CTSPOOL_OK) {
        fprintf(stderr, "append: %s\n", ctspool_errmsg(h));
        return 1;
    }
    printf("new=%llu version=%s\n", (unsigned long long)res.n_new,
           ctspool_version_string());
    ctspool_close(h);
    return 0;
}
"""


def build_settings(build):
    """(C compiler, extra flags) the build used: a sanitized library needs
    a sanitized program."""
    cc, extra = "cc", []
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_C_COMPILER:"):
                    cc = line.split("=", 1)[1].strip() or cc
                elif line.startswith("CTSPOOL_SANITIZE:"):
                    san = line.split("=", 1)[1].strip()
                    if san:
                        extra = ["-fsanitize=" + san]
    except OSError:
        pass
    return cc, extra


def main():
    env = Env("install")
    try:
        build = os.path.dirname(os.path.abspath(BIN))
        prefix = os.path.join(env.dir, "prefix")
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "cmake --install: " + r.stderr)
        libdirs = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                   if os.path.exists(os.path.join(prefix, d, "pkgconfig",
                                                  "ctspool.pc"))]
        check(libdirs, "ctspool.pc installed")
        check(os.path.exists(os.path.join(prefix, "include", "ctspool.h")),
              "header installed")
        check(os.path.exists(os.path.join(prefix, "bin", "ctspool")),
              "binary installed")
        # The units start the binary of the prefix installed to, not of
        # the prefix the build was configured with.
        for unit in ("ctspool-serve.service", "ctspool-drain.service"):
            path = os.path.join(prefix, "lib", "systemd", "system", unit)
            text = read_text(path) if os.path.exists(path) else ""
            check("ExecStart=%s/bin/ctspool " % prefix in text,
                  "%s starts %s/bin/ctspool: %r" % (unit, prefix,
                                                    [line for line in
                                                     text.splitlines()
                                                     if "ExecStart" in line]))
        if not libdirs:
            finish()
        libdir = os.path.join(prefix, libdirs[0])
        src = os.path.join(env.dir, "app.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir,
                                                               "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs",
                                "ctspool"], capture_output=True, text=True,
                               env=pc_env)
        check(flags.returncode == 0, "pkg-config: " + flags.stderr)
        app = os.path.join(env.dir, "app")
        cc, extra = build_settings(build)
        r = subprocess.run([cc, "-Wall", "-Werror", "-o", app, src] + extra +
                           flags.stdout.split(), capture_output=True,
                           text=True)
        check(r.returncode == 0, "compile against installed lib: " +
              r.stderr)
        r = subprocess.run([app, env.journal], capture_output=True,
                           text=True, env=dict(os.environ,
                                               LD_LIBRARY_PATH=libdir))
        check(r.returncode == 0 and "new=1" in r.stdout,
              "app appended: %s %s" % (r.stdout, r.stderr))
        r = subprocess.run([os.path.join(prefix, "bin", "ctspool"),
                            "--config", env.config, "status", "--json"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "installed status: " + r.stderr)
        if r.returncode == 0:
            st = json.loads(r.stdout)
            check(st["pending_points"] == 1, "status sees the point: %r" %
                  st)
        lst = env.list()
        check(len(lst) == 1 and lst[0]["metric_value"] == 12.5 and
              lst[0]["custom_dimensions"] == {"region": "eu-west-1"},
              "list shows the embedded point: %r" % lst)
    finally:
        env.cleanup()
    finish()


if __name__ == "__main__":
    main()
