/* kinerja — durations written by people: "1500ms", "30s", "5m", "2h", "35d".
 *
 * The one parser of durations, for the daemon's configuration and for the
 * client (command-line flags, kinerja.h). The rules are strict because a
 * duration without a unit is ambiguous (is "10" seconds or milliseconds?):
 * digits only (no sign, space, fraction or exponent), then exactly one of the
 * units ms, s, m, h, d; the only bare number is "0". Depends on nothing of
 * ours; pure functions, any thread. */
#ifndef KJ_DURATION_H
#define KJ_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s as milliseconds into *out. false, with *out untouched, on NULL, a syntax
 * error (see above) or a value beyond INT64_MAX ms. */
bool kj_parse_duration_ms(const char *s, int64_t *out);

/* ms in the largest unit that divides it evenly ("35d", "90s", "1500ms", "0"),
 * so that kj_parse_duration_ms reads it back; for error messages. buf gets at
 * most n bytes, NUL included. */
void kj_format_duration(int64_t ms, char *buf, size_t n);

#endif
