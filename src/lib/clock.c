/*
 * clock.c -- the monotonic clock the daemons measure intervals with
 * (backoff, idle polling, timeouts, summaries).  Wall time for dates is
 * time(2), where it is used.
 */
#include <time.h>

#include "sp_int.h"

int64_t
sp_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
sp_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
