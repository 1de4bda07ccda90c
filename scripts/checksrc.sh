#!/bin/sh
# scripts/checksrc.sh -- source and ABI hygiene checks.
#
#   scripts/checksrc.sh [BUILD_DIR [SRC_DIR]]
#
# BUILD_DIR (default: build) holds libctspool.so and ctspool; SRC_DIR
# (default: src of this tree) is searched for banned calls.
#
# Fails (exit 1) when
#   1. the shared library BUILD_DIR/libctspool.so exports a symbol whose
#      name does not start with ctspool_ (the linker's own _init, _fini,
#      __bss_start, _edata and _end aside): the internal sp_* functions
#      must stay hidden;
#   2. a banned C library call -- strcpy, strcat, sprintf, vsprintf,
#      strtok, atoi, gets -- appears in src/ (comments are ignored; the
#      bounded or reentrant forms snprintf, vsnprintf, strtok_r, strtol
#      are fine);
#   3. the library or the ctspool binary imports one of those functions
#      (or its _chk variant), e.g. through a macro the grep cannot see;
#   4. the shared library imports a function that changes the global
#      state of a library it shares with the program that embeds it
#      (cJSON_InitHooks: the embedder's cJSON is the embedder's).
# Exit 2 when the build directory or a tool is missing.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
lib=$build/libctspool.so
bin=$build/ctspool
src=${2:-$here/src}
banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|gets'
status=0

command -v nm >/dev/null 2>&1 || { echo "checksrc: nm not found" >&2; exit 2; }
[ -e "$lib" ] || { echo "checksrc: $lib not found (build first)" >&2; exit 2; }

# ---- 1. exported symbols ----------------------------------------------
bad=$(nm -D --defined-only "$lib" |
    awk 'NF >= 3 { sub(/@.*/, "", $3); print $2, $3 }' |
    awk '$2 !~ /^ctspool_/ &&
         $2 !~ /^(_init|_fini|__bss_start|_edata|_end)$/ { print }')
if [ -n "$bad" ]; then
    echo "checksrc: $lib exports symbols without the ctspool_ prefix:" >&2
    echo "$bad" | sed 's/^/  /' >&2
    status=1
else
    n=$(nm -D --defined-only "$lib" | grep -c ' ctspool_' || true)
    echo "checksrc: $lib exports $n symbols, all ctspool_*"
fi

# ---- 2. banned calls in src/ ------------------------------------------
# Comments are dropped by the C preprocessor in "already preprocessed"
# mode (no includes, no macro expansion); its line markers give FILE:LINE.
cc=${CC:-cc}
strip_comments() {
    if command -v "$cc" >/dev/null 2>&1; then
        "$cc" -fpreprocessed -E -x c "$1" 2>/dev/null && return 0
    fi
    # No compiler: drop whole-line comments only.
    printf '# 1 "%s"\n' "$1"
    sed -e 's|^[[:space:]]*//.*||' -e 's|^[[:space:]]*/\?\*.*||' "$1"
}
hits=""
[ -d "$src" ] || { echo "checksrc: $src not found" >&2; exit 2; }
for f in $(find "$src" -type f \( -name '*.c' -o -name '*.h' \) | sort); do
    rel=${f#"$(dirname "$src")"/}
    h=$(strip_comments "$f" | awk -v file="$rel" -v pat="$banned" '
        /^# [0-9]+ "/ { line = $2; next }
        {
            s = $0
            # word boundary on both sides
            if (match(s, "(^|[^A-Za-z0-9_])(" pat ")([^A-Za-z0-9_]|$)"))
                printf "  %s:%d: %s\n", file, line, s
            line++
        }')
    [ -z "$h" ] || hits="$hits$h
"
done
if [ -n "$hits" ]; then
    echo "checksrc: banned calls ($banned) in $src:" >&2
    printf '%s' "$hits" >&2
    status=1
else
    echo "checksrc: no banned calls in $src"
fi

# ---- 3. banned imports --------------------------------------------------
for obj in "$lib" "$bin"; do
    [ -e "$obj" ] || continue
    imp=$(nm -D --undefined-only "$obj" |
        awk '{ sub(/@.*/, "", $NF); print $NF }' |
        grep -E "^(__)?($banned)(_chk)?$" || true)
    if [ -n "$imp" ]; then
        echo "checksrc: $obj imports banned functions:" \
            "$(echo "$imp" | tr '\n' ' ')" >&2
        status=1
    fi
done

# ---- 4. global state of shared dependencies -----------------------------
if [ -e "$lib" ]; then
    glob=$(nm -D --undefined-only "$lib" |
        awk '{ sub(/@.*/, "", $NF); print $NF }' |
        grep -E '^cJSON_InitHooks$' || true)
    if [ -n "$glob" ]; then
        echo "checksrc: $lib changes an embedder's global state:" \
            "$(echo "$glob" | tr '\n' ' ')" >&2
        status=1
    fi
fi
[ "$status" -ne 0 ] || echo "checksrc: ok"
exit "$status"
