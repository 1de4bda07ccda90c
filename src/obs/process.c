/*
 * process.c -- the standard process_* series of /metrics, named and
 * measured as Prometheus' client libraries do on Linux: CPU time,
 * resident and virtual memory and start time from /proc/self/stat (and
 * the boot time from /proc/stat, read once), open descriptors from
 * /proc/self/fd, their limit from getrlimit().  A series that cannot be
 * read here (no /proc) is left out rather than shown as 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "obs.h"

/* Fields of /proc/self/stat (proc(5), counted from 1). */
#define F_UTIME 14
#define F_STIME 15
#define F_STARTTIME 22
#define F_VSIZE 23
#define F_RSS 24

struct proc_stat {
    unsigned long long utime, stime, starttime; /* clock ticks */
    unsigned long long vsize;                   /* bytes */
    unsigned long long rss;                     /* pages */
};

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static long long boot_time = -1; /* Unix time; -1: unknown */

/* Reads the small file path into buf (NUL-terminated); 0 or -1. */
static int
read_small(const char *path, char *buf, size_t len)
{
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    while (got < len - 1) {
        ssize_t n = read(fd, buf + got, len - 1 - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return got ? 0 : -1;
}

/* The fields of /proc/self/stat this file shows; 0 or -1. */
static int
read_stat(struct proc_stat *ps)
{
    char buf[2048];
    const char *p;
    char *end;
    int field = 3; /* the one after "(comm) " */

    memset(ps, 0, sizeof(*ps));
    if (read_small("/proc/self/stat", buf, sizeof(buf)) != 0) {
        return -1;
    }
    /* comm may hold spaces and parentheses: it ends at the last ')'. */
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ') {
        return -1;
    }
    p += 2;
    while (*p && field <= F_RSS) {
        unsigned long long v = strtoull(p, &end, 10);

        switch (field) {
        case F_UTIME:
            ps->utime = v;
            break;
        case F_STIME:
            ps->stime = v;
            break;
        case F_STARTTIME:
            ps->starttime = v;
            break;
        case F_VSIZE:
            ps->vsize = v;
            break;
        case F_RSS:
            ps->rss = v;
            break;
        default:
            break;
        }
        p = strchr(p, ' ');
        if (!p) {
            break;
        }
        p++;
        field++;
    }
    return field > F_RSS ? 0 : -1;
}

/* "btime N" of /proc/stat: when the system booted. */
static void
read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];

    if (!f) {
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "btime ", 6) == 0) {
            boot_time = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
}

/* Descriptors open in this process, the one that lists them aside. */
static long
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;
    int own;

    if (!d) {
        return -1;
    }
    own = dirfd(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' && strtol(e->d_name, NULL, 10) != own) {
            n++;
        }
    }
    closedir(d);
    return n;
}

void
ob_process_render(struct sp_buf *b)
{
    struct proc_stat ps;
    struct rlimit rl;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    long fds = open_fds();

    pthread_once(&boot_once, read_boot_time);
    if (read_stat(&ps) == 0 && ticks > 0 && page > 0) {
        ob_family(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        sp_buf_addf(b, "process_cpu_seconds_total %.2f\n",
                    (double)(ps.utime + ps.stime) / (double)ticks);
        ob_family(b, "process_resident_memory_bytes", "gauge",
               "Resident memory size in bytes.");
        sp_buf_addf(b, "process_resident_memory_bytes %llu\n",
                    ps.rss * (unsigned long long)page);
        ob_family(b, "process_virtual_memory_bytes", "gauge",
               "Virtual memory size in bytes.");
        sp_buf_addf(b, "process_virtual_memory_bytes %llu\n", ps.vsize);
        if (boot_time >= 0) {
            ob_family(b, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in "
                   "seconds.");
            sp_buf_addf(b, "process_start_time_seconds %.2f\n",
                        (double)boot_time +
                            (double)ps.starttime / (double)ticks);
        }
    }
    if (fds >= 0) {
        ob_family(b, "process_open_fds", "gauge",
               "Number of open file descriptors.");
        sp_buf_addf(b, "process_open_fds %ld\n", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        ob_family(b, "process_max_fds", "gauge",
               "Maximum number of open file descriptors.");
        sp_buf_addf(b, "process_max_fds %llu\n",
                    (unsigned long long)rl.rlim_cur);
    }
}
