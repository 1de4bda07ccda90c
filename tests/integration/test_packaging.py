"""test_packaging.py -- what an operator installs: man page, example config,
systemd units, Docker entrypoint, install rules and find_package().

  config    scripts/ctspool.cfg.example passes `check-config`, which does
            not open the journal; its keys, the man page's and the
            sp_config_keys[] table of src/lib/config_keys.c are the same
            set, and the man page states each example value as the
            default.
  man       renders without warnings; documents every command, option,
            exit code and CTSPOOL_* variable that the program has; each
            `ctspool CMD --help` and the man page list the same options.
  units     a minimal ini check of scripts/systemd/*.service (sections,
            known keys, absolute ExecStart, the shared user and state
            directory, hardening), then `systemd-analyze verify`.
  docker    scripts/docker-entrypoint.sh with a fake ctspool on PATH: argv,
            exec, the generated config (mode 0600, no upload secrets, parsed
            by the real ctspool), errors; static checks of the Dockerfile
            and scripts/compose.yaml.
  install   `cmake --install` into a temporary prefix puts the man page,
            the example config, the units and the CMake package config in
            place; a CMake project using find_package(ctspool) links the
            shared and the static library and appends a point.

A check whose tool (groff or mandoc, systemd-analyze, shellcheck, PyYAML)
is not installed is skipped with the reason, and the test then reports
Skipped (exit 77) unless another check failed; hadolint, which Debian
does not package, runs only where it is installed.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

from harness import BIN, SOURCE_DIR, Env, check, finish, skip_part

MAN = os.path.join(SOURCE_DIR, "man", "ctspool.1")
EXAMPLE = os.path.join(SOURCE_DIR, "scripts", "ctspool.cfg.example")
CONFIG_C = os.path.join(SOURCE_DIR, "src", "lib", "config_keys.c")
UNITS = os.path.join(SOURCE_DIR, "scripts", "systemd")
ENTRYPOINT = os.path.join(SOURCE_DIR, "scripts", "docker-entrypoint.sh")
DOCKERFILE = os.path.join(SOURCE_DIR, "Dockerfile")
COMPOSE = os.path.join(SOURCE_DIR, "scripts", "compose.yaml")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(args, **kw)


# ---- libconfig and roff, just enough ------------------------------------

def libconfig_tokens(text):
    """Tokens of a libconfig file: comments dropped, strings kept whole."""
    toks, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#" or text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            toks.append(text[i:j + 1])
            i = j + 1
        elif c in "{}[]();:=,":
            toks.append(c)
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in \
                    "{}[]();:=,#\"":
                j += 1
            toks.append(text[i:j])
            i = j
    return toks


def libconfig_settings(text):
    """{"group.key" or "key": value text} of a libconfig file."""
    toks = libconfig_tokens(text)
    out, groups, i = {}, [], 0
    while i < len(toks):
        t = toks[i]
        if t == "}":
            groups.pop()
            i += 1
            if i < len(toks) and toks[i] in ";,":
                i += 1
            continue
        if i + 1 < len(toks) and toks[i + 1] in ("=", ":"):
            if toks[i + 2] == "{":
                groups.append(t)
                i += 3
                continue
            j, depth, val = i + 2, 0, []
            while depth or toks[j] not in (";", ",", "}"):
                depth += toks[j] in "[(" and 1 or 0
                depth -= toks[j] in "])" and 1 or 0
                val.append(toks[j])
                j += 1
            out[".".join(groups + [t])] = " ".join(val)
            i = j + 1 if toks[j] != "}" else j
            continue
        raise ValueError("cannot parse libconfig near %r" % toks[i:i + 5])
    return out


def roff_text(lines):
    """Plain text of roff lines: macro names and argument quotes dropped,
    the escapes used in ctspool.1 resolved, alternating-font arguments
    joined as they render."""
    words = []
    for line in lines:
        if line.startswith(".\\\""):
            continue
        if line.startswith("."):
            parts = line.split(None, 1)
            macro, rest = parts[0], parts[1] if len(parts) > 1 else ""
            args = re.findall(r'"[^"]*"|\S+', rest)
            args = [a[1:-1] if a.startswith('"') else a for a in args]
            if macro in (".BR", ".RB", ".IR", ".RI", ".BI", ".IB"):
                words.append("".join(args))
            else:
                words.append(" ".join(args))
        else:
            words.append(line)
    s = " ".join(w for w in words if w)
    for a, b in (("\\(dq", '"'), ("\\-", "-"), ("\\(aq", "'"),
                 ("\\(lq", '"'), ("\\(rq", '"'), ("\\e", "\\"),
                 ("\\&", ""), ("\\fB", ""), ("\\fI", ""), ("\\fR", ""),
                 ("\\fP", ""), ("\\%", "")):
        s = s.replace(a, b)
    return re.sub(r"\s+", " ", s).strip()


def man_sections(text):
    """{".SH name": [lines]} of the man page."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith(".SH "):
            cur = line[4:].strip().strip('"')
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def tagged_entries(lines):
    """[(tag line, [body lines])] of the .TP entries in lines."""
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            tag, body, i = lines[i + 1], [], i + 2
            while i < len(lines) and not lines[i].startswith(
                    (".TP", ".SS", ".SH")):
                body.append(lines[i])
                i += 1
            out.append((tag, body))
        else:
            i += 1
    return out


def options_in(text):
    """Long options (without --) mentioned in roff or plain text."""
    plain = text.replace("\\-", "-")
    return set(re.findall(r"--([a-z][a-z-]*[a-z])", plain))


def man_commands(man):
    """{command: set of options} from the COMMANDS section: the synopsis
    lines right under each .SS and the tags of its .TP entries."""
    lines = man_sections(man)["COMMANDS"]
    cmds, cur, synopsis = {}, None, False
    for i, line in enumerate(lines):
        if line.startswith(".SS "):
            cur = line[4:].strip().strip('"').replace("\\-", "-")
            cmds[cur], synopsis = set(), True
        elif cur is None:
            continue
        elif line.startswith(".TP"):
            synopsis = False
            if i + 1 < len(lines):
                cmds[cur] |= options_in(lines[i + 1])
        elif line.startswith(".PP"):
            synopsis = False
        elif synopsis:
            cmds[cur] |= options_in(line)
    return cmds


# ---- config -----------------------------------------------------------

def config_c_keys():
    text = read(CONFIG_C)
    keys = set()
    for g, name in re.findall(
            r'\{\s*(?:\.group\s*=\s*"(\w+)",\s*)?\.name\s*=\s*"(\w+)"', text):
        keys.add("%s.%s" % (g, name) if g else name)
    return keys


def man_config_entries(man):
    """{key: entry text} of the CONFIGURATION section."""
    out = {}
    for tag, body in tagged_entries(man_sections(man)["CONFIGURATION"]):
        m = re.match(r"^\.B\s+([a-z_]+(?:\.[a-z_]+)?)\s*$", tag)
        if m:
            out[m.group(1)] = roff_text(body)
    return out


def test_config(man):
    # (a) the example parses, and check-config does not open the journal.
    r = run([BIN, "--config", EXAMPLE, "check-config"])
    check(r.returncode == 0, "check-config of the example: exit %d: %s" %
          (r.returncode, r.stderr))
    check(r.stdout.strip() == EXAMPLE + ": ok",
          "check-config output: %r" % r.stdout)
    check(r.stderr == "", "check-config of the example is silent: %r" %
          r.stderr)
    env = Env("packaging-cfg")
    try:
        text = read(EXAMPLE).replace('"/var/lib/ctspool/journal.db"',
                                     json.dumps(env.journal))
        check(env.journal in text, "example's journal setting replaced")
        cfg = os.path.join(env.dir, "example.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        r = run([BIN, "--config", cfg, "check-config"])
        check(r.returncode == 0, "check-config (journal in tmp): %s" %
              r.stderr)
        left = [n for n in os.listdir(env.dir) if n.startswith("journal")]
        check(not left, "check-config created journal files: %r" % left)
        # A broken value is reported with file and line, exit 78.
        with open(cfg, "w") as f:
            f.write(text.replace("poll_ms = 1000;", "poll_ms = \"x\";"))
        r = run([BIN, "--config", cfg, "check-config"])
        check(r.returncode == 78 and cfg + ":" in r.stderr and
              "poll_ms" in r.stderr,
              "check-config of a bad config: exit %d %r" %
              (r.returncode, r.stderr))
    finally:
        env.cleanup()

    # (b) example keys == man page keys == config_keys.c keys; defaults
    # stated.
    example = libconfig_settings(read(EXAMPLE))
    entries = man_config_entries(man)
    code = config_c_keys()
    check(len(code) >= 20, "parsed sp_config_keys[] of config_keys.c: %r" %
          sorted(code))
    ex_keys, man_keys = set(example), set(entries)
    check(ex_keys == man_keys,
          "example vs man page keys: only in example %r, only in man %r" %
          (sorted(ex_keys - man_keys), sorted(man_keys - ex_keys)))
    check(ex_keys == code,
          "example vs config_keys.c keys: only in example %r, only in "
          "code %r" %
          (sorted(ex_keys - code), sorted(code - ex_keys)))
    for key, value in sorted(example.items()):
        text = entries.get(key, "")
        check(("Default " + value) in text,
              "man page states default %s for %s: %r" % (value, key, text))

    # README's configuration reference: one row per key, same default.
    rows = {}
    for m in re.finditer(r"^\| `([a-z_.]+)` \| `([^`]*)`", read(os.path.join(
            SOURCE_DIR, "README.md")), re.M):
        rows[m.group(1)] = m.group(2)
    readme_keys = {k for k in rows if k in code or "." in k}
    check(readme_keys == ex_keys,
          "README reference vs example: only in README %r, missing %r" %
          (sorted(readme_keys - ex_keys), sorted(ex_keys - readme_keys)))
    for key, value in sorted(example.items()):
        check(rows.get(key) == value, "README default of %s: %r, example %r"
              % (key, rows.get(key), value))


# ---- man page and --help -------------------------------------------------

def test_man(man):
    r = run(["groff", "-man", "-ww", "-z", MAN]) if shutil.which("groff") \
        else None
    if r is not None:
        check(r.returncode == 0 and r.stderr == "",
              "groff -man -ww: %r" % r.stderr)
    if shutil.which("mandoc"):
        r = run(["mandoc", "-T", "lint", "-W", "warning", MAN])
        check(r.returncode == 0 and r.stdout == "" and r.stderr == "",
              "mandoc -T lint: %r %r" % (r.stdout, r.stderr))
    if r is None and not shutil.which("mandoc"):
        skip_part("man page lint: neither groff nor mandoc is installed "
                  "(Debian package groff-base or mandoc)")
    secs = man_sections(man)
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
              "CONFIGURATION", "HTTP ENDPOINT", "ENVIRONMENT", "EXIT STATUS",
              "FILES", "EXAMPLES", "SEE ALSO"):
        check(s in secs, "man page has section %s" % s)

    # Global options and the command list.
    r = run([BIN, "--help"])
    check(r.returncode == 0, "ctspool --help exit %d" % r.returncode)
    top_help = r.stdout
    glob_man = set()
    for tag, _ in tagged_entries(secs["OPTIONS"]):
        glob_man |= options_in(tag)
    glob_help = options_in(top_help)
    check(glob_man == glob_help and {"config", "help", "version"} <= glob_man,
          "global options: man %r, --help %r" % (glob_man, glob_help))
    help_cmds = set(re.findall(r"^  ([a-z][a-z-]+) ", top_help.split(
        "Commands:", 1)[-1].split("Options:", 1)[0], re.M))
    cmds = man_commands(man)
    check(set(cmds) == help_cmds,
          "commands: man %r, --help %r" % (sorted(cmds), sorted(help_cmds)))

    # (e) each command's --help and the man page list the same options.
    for cmd, man_opts in sorted(cmds.items()):
        r = run([BIN, cmd, "--help"])
        check(r.returncode == 0 and r.stdout,
              "ctspool %s --help: exit %d" % (cmd, r.returncode))
        help_opts = options_in(r.stdout) - {"help"}
        check(man_opts - {"help"} == help_opts,
              "%s: options in the man page %r, in --help %r" %
              (cmd, sorted(man_opts), sorted(help_opts)))
        r = run([BIN, cmd, "--no-such-option"])
        check(r.returncode == 64, "%s --no-such-option exits 64, got %d" %
              (cmd, r.returncode))
    r = run([BIN, "--version"])
    check(r.returncode == 0 and r.stdout.startswith("ctspool "),
          "--version: %r" % r.stdout)
    version = r.stdout.split()[-1] if r.stdout else "?"
    th = [l for l in man.splitlines() if l.startswith(".TH ")]
    check(th and ("ctspool " + version) in th[0],
          "man page .TH names version %s: %r" % (version, th))

    # Exit codes: every one in DESIGN.md section 4 (and the program's).
    codes = set()
    for tag, _ in tagged_entries(secs["EXIT STATUS"]):
        codes |= set(re.findall(r"\d+", tag))
    for c in ("0", "64", "65", "66", "69", "73", "74", "75", "78"):
        check(c in codes, "man page documents exit code %s" % c)
    cli_h = read(os.path.join(SOURCE_DIR, "src", "cli", "cli.h"))
    used = set()
    for name, num in re.findall(r"(EXIT_[A-Z]+) = (\d+)", cli_h):
        for d in ("cli", "serve", "drain"):
            p = os.path.join(SOURCE_DIR, "src", d)
            for f in os.listdir(p) if os.path.isdir(p) else []:
                if f.endswith(".c") and re.search(
                        r"\b%s\b" % name, read(os.path.join(p, f))):
                    used.add(num)
    # EXIT_SOFTWARE (70) is only a "cannot happen" fallback.
    for c in sorted(used - {"70"}):
        check(c in codes, "exit code %s used by the program is documented"
              % c)

    # Environment: every CTSPOOL_* variable the code reads.
    env_text = roff_text(secs["ENVIRONMENT"])
    src_vars = set()
    for root, _, files in os.walk(os.path.join(SOURCE_DIR, "src")):
        for f in files:
            if f.endswith(".c"):
                src_vars |= set(re.findall(r'getenv\("(CTSPOOL_\w+)"\)',
                                           read(os.path.join(root, f))))
    check({"CTSPOOL_CONFIG", "CTSPOOL_API_KEY",
           "CTSPOOL_DATA_STREAM_TOKEN"} <= src_vars,
          "CTSPOOL_* variables found in src: %r" % src_vars)
    for v in sorted(src_vars):
        check(v in env_text, "man page ENVIRONMENT documents %s" % v)

    files = roff_text(secs["FILES"])
    for f in ("/etc/ctspool/ctspool.cfg", "/var/lib/ctspool/journal.db",
              "journal.db-wal", "journal.db-shm", "journal.db-drain.lock"):
        check(f in files, "man page FILES lists %s" % f)
    http = roff_text(secs["HTTP ENDPOINT"])
    for s in ("POST /streams/ingest", "GET /healthz", "GET /metrics", "401",
              "413", "429", "507", "Retry-After"):
        check(s in http, "man page HTTP ENDPOINT mentions %s" % s)


# ---- systemd units ----------------------------------------------------------

KNOWN_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires",
             "Before", "BindsTo", "PartOf", "ConditionPathExists"},
    "Service": {
        "Type", "User", "Group", "ExecStart", "ExecReload", "Environment",
        "EnvironmentFile", "KillSignal", "KillMode", "TimeoutStopSec",
        "Restart", "RestartSec", "RestartPreventExitStatus",
        "StateDirectory", "StateDirectoryMode", "ConfigurationDirectory",
        "UMask", "ReadWritePaths", "ProtectSystem", "ProtectHome",
        "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
        "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
        "ProtectControlGroups", "ProtectClock", "ProtectHostname",
        "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
        "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
        "SystemCallArchitectures", "SystemCallFilter",
        "SystemCallErrorNumber", "CapabilityBoundingSet",
        "AmbientCapabilities", "SupplementaryGroups", "LimitNOFILE",
        "PrivateMounts", "ProtectProc", "RemoveIPC"},
    "Install": {"WantedBy", "RequiredBy", "Alias"},
}

# serve and drain run as two users sharing the journal through the group
# ctspool: no StateDirectory= (systemd would hand the directory to the
# unit started last), a setgid directory from ctspool.tmpfiles.conf.
SHARED = {
    "Type": "exec", "Group": "ctspool",
    "UMask": "0007", "ReadWritePaths": "/var/lib/ctspool",
    "Restart": "on-failure", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "NoNewPrivileges": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "KillSignal": "SIGTERM",
}


def parse_unit(path):
    """{section: {key: [values]}}; problems as a list of strings."""
    units, problems, sec = {}, [], None
    for n, raw in enumerate(read(path).splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if raw.rstrip().endswith("\\"):
            problems.append("%d: line continuation" % n)
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            sec = m.group(1)
            if sec not in KNOWN_KEYS:
                problems.append("%d: unknown section [%s]" % (n, sec))
            units.setdefault(sec, {})
            continue
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if not m or sec is None:
            problems.append("%d: not KEY=VALUE in a section: %r" % (n, raw))
            continue
        k, v = m.group(1), m.group(2).strip()
        if sec in KNOWN_KEYS and k not in KNOWN_KEYS[sec]:
            problems.append("%d: unknown key %s in [%s]" % (n, k, sec))
        units[sec].setdefault(k, []).append(v)
    return units, problems


def test_units():
    parsed = {}
    for role in ("serve", "drain"):
        path = os.path.join(UNITS, "ctspool-%s.service" % role)
        u, problems = parse_unit(path)
        parsed[role] = u
        check(not problems, "%s unit: %r" % (role, problems))
        check(set(u) == {"Unit", "Service", "Install"},
              "%s unit sections: %r" % (role, sorted(u)))
        s = u.get("Service", {})
        execs = s.get("ExecStart", [])
        check(len(execs) == 1 and execs[0].split()[0].startswith("/") and
              execs[0] == "/usr/bin/ctspool --config "
                          "/etc/ctspool/ctspool.cfg " + role,
              "%s ExecStart: %r" % (role, execs))
        for k, v in SHARED.items():
            check(s.get(k) == [v], "%s %s=%s, got %r" % (role, k, v,
                                                        s.get(k)))
        check(s.get("User") == ["ctspool-%s" % role],
              "%s User=ctspool-%s, got %r" % (role, role, s.get("User")))
        check("StateDirectory" not in s, "%s: no StateDirectory=" % role)
        check(s.get("SystemCallFilter") == ["@system-service",
                                            "~@privileged"],
              "%s SystemCallFilter: %r" % (role, s.get("SystemCallFilter")))
        for k in ("PrivateMounts", "RemoveIPC"):
            check(s.get(k) == ["yes"], "%s %s=yes" % (role, k))
        check(u.get("Install", {}).get("WantedBy") == ["multi-user.target"],
              "%s WantedBy" % role)
        check("CTSPOOL_API_KEY" not in " ".join(
            sum(s.values(), [])), "%s unit holds no key" % role)
    d = parsed["drain"]["Service"]
    check(d.get("TimeoutStopSec") == ["30"], "drain TimeoutStopSec=30")
    check("network-online.target" in " ".join(
        parsed["drain"]["Unit"].get("After", [])),
        "drain waits for the network")
    users = read(os.path.join(UNITS, "ctspool.sysusers.conf"))
    for line in ("g ctspool", "u ctspool-serve", "u ctspool-drain",
                 "m ctspool-serve ctspool", "m ctspool-drain ctspool"):
        check(re.search(r"^%s\b" % re.escape(line), users, re.M),
              "sysusers: %r" % line)
    tmpf = [l.split() for l in read(os.path.join(
        UNITS, "ctspool.tmpfiles.conf")).splitlines()
        if l.strip() and not l.startswith("#")]
    check(tmpf == [["d", "/var/lib/ctspool", "2770", "root", "ctspool",
                    "-"]], "tmpfiles: %r" % tmpf)
    serve_text = read(os.path.join(UNITS, "ctspool-serve.service"))
    drain_text = read(os.path.join(UNITS, "ctspool-drain.service"))
    check("api_key_file" in drain_text and "EnvironmentFile" in drain_text,
          "drain unit documents the key separation")
    check("never needs" in serve_text, "serve unit documents the split")
    check('journal_file_mode = "0660"' in serve_text and
          'journal_file_mode = "0660"' in drain_text,
          "the units document journal_file_mode")

    sa = shutil.which("systemd-analyze")
    if not sa:
        skip_part("systemd-analyze verify: not installed (Debian package "
                  "systemd); the units got the ini check only")
        return
    tmp = tempfile.mkdtemp(prefix="ctspool-it-units-")
    try:
        paths = []
        for role in ("serve", "drain"):
            name = "ctspool-%s.service" % role
            text = read(os.path.join(UNITS, name)).replace(
                "ExecStart=/usr/bin/ctspool ",
                "ExecStart=%s " % os.path.abspath(BIN))
            p = os.path.join(tmp, name)
            with open(p, "w") as f:
                f.write(text)
            paths.append(p)
        r = run([sa, "verify", "--man=no"] + paths, cwd=tmp)
        out = (r.stdout + r.stderr).strip()
        noise = [l for l in out.splitlines() if "ctspool-" in l]
        check(r.returncode == 0 and not noise,
              "systemd-analyze verify: exit %d: %s" % (r.returncode, out))
        # No worse than the 1.4 the units scored when they were split
        # into two users (systemd 252; 1.8 before).
        for p in paths:
            r = run([sa, "security", "--offline=true", "--no-pager", p],
                    cwd=tmp)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)",
                          r.stdout + r.stderr)
            if r.returncode != 0 and not m:
                skip_part("systemd-analyze security --offline: %s" %
                          (r.stdout + r.stderr).strip()[:200])
                continue
            check(m and float(m.group(1)) <= 1.4,
                  "%s exposure %s > 1.4" % (os.path.basename(p),
                                            m and m.group(1)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- docker entrypoint, Dockerfile, compose ----------------------------------

FAKE = r"""#!/bin/sh
out=${FAKE_OUT:?}
{
    echo "pid=$$"
    echo "config=${CTSPOOL_CONFIG-<unset>}"
    for a in "$@"; do echo "arg=$a"; done
} >"$out"
if [ -n "${CTSPOOL_CONFIG:-}" ] && [ -f "$CTSPOOL_CONFIG" ]; then
    cp "$CTSPOOL_CONFIG" "$out.cfg"
    stat -c %a "$CTSPOOL_CONFIG" >"$out.mode"
fi
exit 0
"""

SECRET_UPLOAD = "upload-key-0123456789-TOPSECRET"
SECRET_TOKEN = "stream-token-0123456789-TOPSECRET"
SERVER_KEYS = ['srv-key-one-"quoted"', "srv-key-two\\back"]


def run_entrypoint(shell, tmp, args, extra_env):
    fake_dir = os.path.join(tmp, "bin")
    out = os.path.join(tmp, "out")
    for p in (out, out + ".cfg", out + ".mode"):
        if os.path.exists(p):
            os.unlink(p)
    gen = os.path.join(tmp, "gen")
    shutil.rmtree(gen, ignore_errors=True)
    os.mkdir(gen)
    env = {"PATH": fake_dir + ":/usr/bin:/bin", "FAKE_OUT": out,
           "TMPDIR": gen, "HOME": tmp}
    env.update(extra_env)
    p = subprocess.Popen([shell, ENTRYPOINT] + args, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    so, se = p.communicate(timeout=60)
    res = {"rc": p.returncode, "pid": p.pid, "stderr": se, "stdout": so,
           "args": None, "gen": os.listdir(gen)}
    if os.path.exists(out):
        lines = read(out).splitlines()
        res["fake_pid"] = int(lines[0].split("=", 1)[1])
        res["config"] = lines[1].split("=", 1)[1]
        res["args"] = [l[4:] for l in lines[2:]]
        if os.path.exists(out + ".cfg"):
            res["cfg"] = read(out + ".cfg")
            res["mode"] = read(out + ".mode").strip()
    return res


def test_entrypoint():
    for sh in ("sh", "dash", "bash"):
        if shutil.which(sh):
            r = run([sh, "-n", ENTRYPOINT])
            check(r.returncode == 0, "%s -n entrypoint: %s" % (sh, r.stderr))
    if shutil.which("shellcheck"):
        r = run(["shellcheck", "-s", "sh", ENTRYPOINT,
                 os.path.join(SOURCE_DIR, "scripts", "checksrc.sh")])
        check(r.returncode == 0, "shellcheck: " + r.stdout)
    else:
        skip_part("shellcheck is not installed (Debian package shellcheck)")
    check(os.access(ENTRYPOINT, os.X_OK), "entrypoint is executable")

    tmp = tempfile.mkdtemp(prefix="ctspool-it-entry-")
    try:
        os.mkdir(os.path.join(tmp, "bin"))
        fake = os.path.join(tmp, "bin", "ctspool")
        with open(fake, "w") as f:
            f.write(FAKE)
        os.chmod(fake, 0o755)
        mounted = os.path.join(tmp, "mounted.cfg")
        with open(mounted, "w") as f:
            f.write('log_level = "debug";\n')
        default_exists = os.path.exists("/etc/ctspool/ctspool.cfg")
        if default_exists:
            skip_part("/etc/ctspool/ctspool.cfg exists here: the "
                      "entrypoint's config generation is not tested")
        shells = [s for s in ("sh", "dash", "bash") if shutil.which(s)]
        for sh in shells:
            what = "[%s] " % sh
            # A mounted config (CTSPOOL_CONFIG) is used as it is.
            r = run_entrypoint(sh, tmp, ["drain", "--once"],
                               {"CTSPOOL_CONFIG": mounted})
            check(r["rc"] == 0 and r["args"] == ["drain", "--once"],
                  what + "drain --once passed on: %r" % r)
            check(r.get("config") == mounted and not r["gen"],
                  what + "CTSPOOL_CONFIG used, nothing generated: %r" % r)
            check(r.get("fake_pid") == r["pid"],
                  what + "ctspool is exec'd (same pid): %r" % r)
            # --config given: nothing generated, argv untouched.
            r = run_entrypoint(sh, tmp, ["--config", mounted, "status",
                                         "--json"], {})
            check(r["args"] == ["--config", mounted, "status", "--json"] and
                  not r["gen"], what + "--config passed on: %r" % r)
            # CTSPOOL_CONFIG naming no file: exit 78, ctspool not run.
            r = run_entrypoint(sh, tmp, ["serve"], {
                "CTSPOOL_CONFIG": os.path.join(tmp, "missing.cfg")})
            check(r["rc"] == 78 and r["args"] is None and
                  "missing.cfg" in r["stderr"],
                  what + "missing CTSPOOL_CONFIG: %r" % r)
            if default_exists:
                continue
            # No config: one is generated from CTSPOOL_* variables.
            envs = {"CTSPOOL_LISTEN": "127.0.0.1:18765",
                    "CTSPOOL_ENDPOINT": "https://example.test/streams/ingest",
                    "CTSPOOL_JOURNAL": os.path.join(tmp, "j.db"),
                    "CTSPOOL_DURABILITY": "normal",
                    "CTSPOOL_LOG_LEVEL": "warn",
                    "CTSPOOL_RETAIN_ACKED_HOURS": "48",
                    "CTSPOOL_SERVER_API_KEYS": ",".join(SERVER_KEYS),
                    "CTSPOOL_API_KEY": SECRET_UPLOAD,
                    "CTSPOOL_DATA_STREAM_TOKEN": SECRET_TOKEN}
            r = run_entrypoint(sh, tmp, [], envs)
            check(r["rc"] == 0 and r["args"] == ["serve"],
                  what + "default command is serve: %r" % r)
            cfg = r.get("cfg", "")
            check(r.get("mode") == "600", what + "generated config mode %r" %
                  r.get("mode"))
            check(r.get("config", "").startswith(os.path.join(tmp, "gen")),
                  what + "generated config in TMPDIR: %r" % r.get("config"))
            check(SECRET_UPLOAD not in cfg and SECRET_TOKEN not in cfg,
                  what + "upload secrets are not written to the config")
            for s in [SECRET_UPLOAD, SECRET_TOKEN] + SERVER_KEYS:
                check(s not in r["stderr"] and s not in r["stdout"],
                      what + "no secret on stdout/stderr")
            try:
                settings = libconfig_settings(cfg)
            except (ValueError, IndexError) as e:
                settings = {}
                check(False, what + "generated config parses: %s" % e)
            check(settings.get("server.listen") == '"127.0.0.1:18765"' and
                  settings.get("upload.endpoint") ==
                  '"https://example.test/streams/ingest"' and
                  settings.get("durability") == '"normal"' and
                  settings.get("retain_acked_hours") == "48",
                  what + "generated settings: %r" % settings)
            # The real ctspool accepts it (escaping of the server keys).
            p = os.path.join(tmp, "generated.cfg")
            with open(p, "w") as f:
                f.write(cfg)
            os.chmod(p, 0o600)
            cc = run([BIN, "--config", p, "check-config"],
                     env=dict(os.environ, CTSPOOL_API_KEY=SECRET_UPLOAD,
                              CTSPOOL_DATA_STREAM_TOKEN=SECRET_TOKEN))
            check(cc.returncode == 0 and cc.stderr == "",
                  what + "ctspool check-config of the generated config: %s"
                  % cc.stderr)
            # Defaults: journal in /var/lib/ctspool, listen on all
            # addresses (a published port must reach it).
            r = run_entrypoint(sh, tmp, ["drain"], {})
            s = libconfig_settings(r.get("cfg", ""))
            check(r["args"] == ["drain"] and
                  s.get("journal") == '"/var/lib/ctspool/journal.db"' and
                  s.get("server.listen") == '"0.0.0.0:8765"' and
                  "server.api_keys" not in s,
                  what + "generated defaults: %r" % s)
            # Bad values: exit 78, nothing run, no file left behind.
            for k, v in (("CTSPOOL_RETAIN_ACKED_HOURS", "12h"),
                         ("CTSPOOL_ENDPOINT", "http://x/\ny"),
                         ("CTSPOOL_SERVER_API_KEYS", ",,")):
                r = run_entrypoint(sh, tmp, ["serve"], {k: v})
                check(r["rc"] == 78 and r["args"] is None and not r["gen"]
                      and k in r["stderr"],
                      what + "bad %s: %r" % (k, r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_docker_files():
    text = read(DOCKERFILE)
    instr = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr.append(line.split(None, 1))
    froms = [a[1] for a in instr if a[0] == "FROM"]
    check(len(froms) == 2 and all(f.startswith("debian:bookworm-slim")
                                  for f in froms),
          "two bookworm-slim stages: %r" % froms)
    last = max(i for i, a in enumerate(instr) if a[0] == "FROM")
    runtime = instr[last:]
    kinds = {a[0]: a[1] if len(a) > 1 else "" for a in runtime}
    check(kinds.get("USER", "root").split(":")[0] not in ("root", "0"),
          "runtime stage runs as non-root: %r" % kinds.get("USER"))
    check(kinds.get("VOLUME") == "/var/lib/ctspool", "VOLUME")
    check(kinds.get("CMD") == '["serve"]', "CMD: %r" % kinds.get("CMD"))
    check("docker-entrypoint.sh" in kinds.get("ENTRYPOINT", "") and
          kinds.get("ENTRYPOINT", "").startswith("["),
          "ENTRYPOINT (exec form): %r" % kinds.get("ENTRYPOINT"))
    runtime_text = " ".join(" ".join(a) for a in runtime)
    for pkg in ("libsqlite3-0", "libcurl4", "libcjson1", "libyajl2",
                "libconfig9",
                "libmicrohttpd12", "libssl3", "zlib1g", "ca-certificates"):
        check(pkg in runtime_text, "runtime installs %s" % pkg)
    check("-dev" not in runtime_text, "no -dev package at runtime")
    for a in instr:
        if a[0] == "COPY" and "--from" not in a[1]:
            for src in a[1].split()[:-1]:
                check(os.path.exists(os.path.join(SOURCE_DIR, src)),
                      "Dockerfile COPY source %s exists" % src)
    if shutil.which("hadolint"):
        r = run(["hadolint", DOCKERFILE])
        check(r.returncode == 0, "hadolint: " + r.stdout)
    else:
        # Not a Debian package: an extra lint where it happens to exist,
        # not a part of this test that could be missing.
        print("note: hadolint not installed; not run")

    comp = read(COMPOSE)
    try:
        import yaml
    except ImportError:
        yaml = None
        skip_part("PyYAML is not installed (Debian package python3-yaml): "
                  "compose.yaml checked as text only")
    if yaml:
        d = yaml.safe_load(comp)
        sv = d.get("services", {})
        check(set(sv) == {"serve", "drain"}, "compose services %r" % set(sv))
        imgs = {s.get("image") for s in sv.values()}
        check(len(imgs) == 1, "one image for both roles: %r" % imgs)
        for name, s in sv.items():
            check(s.get("command") == [name], "%s command" % name)
            check("spool:/var/lib/ctspool" in s.get("volumes", []),
                  "%s mounts the shared volume" % name)
            check(s.get("env_file"), "%s secrets from an env file" % name)
        check("spool" in (d.get("volumes") or {}), "named volume declared")
        check(sv["serve"].get("ports") == ["127.0.0.1:8765:8765"],
              "serve published on loopback only: %r" %
              sv["serve"].get("ports"))
        check(not sv["drain"].get("ports"), "drain publishes nothing")
        check(sv["serve"].get("env_file") != sv["drain"].get("env_file"),
              "serve does not get the drainer's env file")
    check(not re.search(r"CTSPOOL_API_KEY\s*[:=]\s*\S", comp.split(
        "services:", 1)[-1]), "no API key value in compose.yaml")


# ---- install and find_package --------------------------------------------

PROGRAM = r"""
#include <ctspool.h>
#include <stdio.h>

int main(int argc, char **argv) {
    ctspool *h;
    ctspool_dim dims[] = {{"via", LINKAGE}};
    ctspool_point p = {NULL, "Sum", "pkg_test", 1664600400, 2.5, dims, 1};

    if (argc != 2 || ctspool_open(argv[1], 0, &h) != CTSPOOL_OK) {
        fprintf(stderr, "open: %s\n", ctspool_errmsg(NULL));
        return 1;
    }
    if (ctspool_set_default_stream(h, "packaging-stream-01") != CTSPOOL_OK ||
        ctspool_append(h, &p, 1, NULL) != CTSPOOL_OK) {
        fprintf(stderr, "append: %s\n", ctspool_errmsg(h));
        return 1;
    }
    ctspool_close(h);
    printf("%s ok\n", ctspool_version_string());
    return 0;
}
"""

CMAKELISTS = """
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(ctspool 0.1 CONFIG REQUIRED)
add_executable(app_shared app.c)
target_compile_definitions(app_shared PRIVATE LINKAGE="shared")
target_link_libraries(app_shared PRIVATE ctspool::ctspool)
add_executable(app_static app.c)
target_compile_definitions(app_static PRIVATE LINKAGE="static")
target_link_libraries(app_static PRIVATE ctspool::ctspool_static)
"""


def build_settings(build):
    cc, san = "cc", ""
    try:
        for line in read(os.path.join(build, "CMakeCache.txt")).splitlines():
            if line.startswith("CMAKE_C_COMPILER:"):
                cc = line.split("=", 1)[1].strip() or cc
            elif line.startswith("CTSPOOL_SANITIZE:"):
                san = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return cc, san


def test_install():
    build = os.path.dirname(os.path.abspath(BIN))
    env = Env("packaging-install")
    try:
        prefix = os.path.join(env.dir, "prefix")
        r = run(["cmake", "--install", build, "--prefix", prefix])
        if not check(r.returncode == 0, "cmake --install: " + r.stderr):
            return
        installed = []
        for root, _, files in os.walk(prefix):
            installed += [os.path.relpath(os.path.join(root, f), prefix)
                          for f in files]
        for want in ("share/man/man1/ctspool.1",
                     "share/doc/ctspool/ctspool.cfg.example",
                     "lib/systemd/system/ctspool-serve.service",
                     "lib/systemd/system/ctspool-drain.service",
                     "lib/sysusers.d/ctspool.conf",
                     "lib/tmpfiles.d/ctspool.conf"):
            check(want in installed, "installed %s" % want)
        cfgs = [f for f in installed
                if f.endswith("cmake/ctspool/ctspoolConfig.cmake")]
        vers = [f for f in installed
                if f.endswith("cmake/ctspool/ctspoolConfigVersion.cmake")]
        check(len(cfgs) == 1 and len(vers) == 1,
              "CMake package config installed: %r" % installed)
        check(read(os.path.join(prefix, "share/man/man1/ctspool.1")) ==
              read(MAN), "installed man page is man/ctspool.1")
        # Installed units differ from the source only in the binary path.
        for role in ("serve", "drain"):
            name = "ctspool-%s.service" % role
            got = read(os.path.join(prefix, "lib/systemd/system", name))
            m = re.search(r"^ExecStart=(\S+)/ctspool ", got, re.M)
            check(m and m.group(1).startswith("/"),
                  "%s ExecStart absolute: %r" % (name, m and m.group(0)))
            if m:
                check(got.replace(m.group(1) + "/ctspool",
                                  "/usr/bin/ctspool") ==
                      read(os.path.join(UNITS, name)),
                      "installed %s matches the source" % name)
        if not cfgs:
            return

        # find_package(ctspool) from a fresh CMake project.
        proj = os.path.join(env.dir, "consumer")
        os.mkdir(proj)
        with open(os.path.join(proj, "CMakeLists.txt"), "w") as f:
            f.write(CMAKELISTS)
        with open(os.path.join(proj, "app.c"), "w") as f:
            f.write(PROGRAM)
        cc, san = build_settings(build)
        args = ["cmake", "-S", proj, "-B", os.path.join(proj, "build"),
                "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_C_COMPILER=" + cc,
                "-DCMAKE_BUILD_TYPE=Debug"]
        if san:
            args += ["-DCMAKE_C_FLAGS=-fsanitize=" + san,
                     "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=" + san]
        r = run(args)
        if not check(r.returncode == 0, "configure consumer: %s%s" %
                     (r.stdout[-2000:], r.stderr[-2000:])):
            return
        r = run(["cmake", "--build", os.path.join(proj, "build")])
        if not check(r.returncode == 0, "build consumer: %s%s" %
                     (r.stdout[-3000:], r.stderr[-2000:])):
            return
        libdir = os.path.dirname(os.path.join(prefix, cfgs[0]))
        libdir = os.path.dirname(os.path.dirname(libdir))
        for app in ("app_shared", "app_static"):
            r = run([os.path.join(proj, "build", app), env.journal],
                    env=dict(os.environ, LD_LIBRARY_PATH=libdir))
            check(r.returncode == 0 and r.stdout.endswith(" ok\n"),
                  "%s: %r %r" % (app, r.stdout, r.stderr))
        r = run(["ldd", os.path.join(proj, "build", "app_shared")])
        check("libctspool.so.0" in r.stdout,
              "app_shared links libctspool.so.0: %r" % r.stdout)
        pts = env.list()
        check(sorted(p["custom_dimensions"].get("via") for p in pts) ==
              ["shared", "static"], "both apps appended: %r" % pts)
    finally:
        env.cleanup()


def main():
    man = read(MAN)
    test_config(man)
    test_man(man)
    test_units()
    test_entrypoint()
    test_docker_files()
    test_install()
    finish()


if __name__ == "__main__":
    main()
