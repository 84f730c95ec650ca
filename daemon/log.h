/* kinerjad — logging: one line per thing worth telling, to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the syslog priority
 * prefix "<N>" that journald understands and carries no timestamp (the journal
 * has one); elsewhere lines start with an ISO-8601 time and the level. Safe to
 * call from any thread (one write(2) per line). */
#ifndef KJ_LOG_H
#define KJ_LOG_H

#include "config/config.h"

void kj_log_init(kj_log_level level);
void kj_log_set_level(kj_log_level level);
void kj_log(kj_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kj_error(...) kj_log(KJ_LOG_ERROR, __VA_ARGS__)
#define kj_warn(...) kj_log(KJ_LOG_WARN, __VA_ARGS__)
#define kj_info(...) kj_log(KJ_LOG_INFO, __VA_ARGS__)
#define kj_debug(...) kj_log(KJ_LOG_DEBUG, __VA_ARGS__)

#endif
