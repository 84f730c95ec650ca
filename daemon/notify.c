#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static void send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0) kj_warn("sd_notify failed: %d", rc);
}

void kj_notify_ready(const char *status)
{
    char buf[512];
    snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", status);
    send_state(buf);
}

void kj_notify_reloading(void)
{
    send_state("RELOADING=1\nSTATUS=reloading the configuration");
}

void kj_notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=stopping: committing pending events");
}

void kj_notify_watchdog(const char *status)
{
    char buf[512];
    snprintf(buf, sizeof buf, "WATCHDOG=1\nSTATUS=%s", status);
    send_state(buf);
}

uint64_t kj_notify_watchdog_interval_us(void)
{
    uint64_t usec = 0;
    /* 0: keep WATCHDOG_USEC in the environment (a reload does not re-exec). */
    if (sd_watchdog_enabled(0, &usec) <= 0) return 0;
    return usec / 2;
}
