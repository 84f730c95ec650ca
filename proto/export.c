#include "export.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Columns of later event types come last: readers of an older header keep
 * their column numbers. */
static const char *const columns[] = {
    "id",        "type",        "ts",     "unit",    "employee", "counter",    "kind",
    "service",   "duration_ms", "due_ts", "quality", "wait_ms",  "service_ms", "outcome",
    "score",     "elements",    "source", "state",   "meta",     "ticket",     "period",
    "behaviour", "by",          "note",   "text",    "alert",    "indicator",
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

const char kj_export_csv_header[] = "id,type,ts,unit,employee,counter,kind,service,duration_ms,"
                                    "due_ts,quality,wait_ms,service_ms,outcome,score,elements,"
                                    "source,state,meta,ticket,period,behaviour,by,note,text,alert,"
                                    "indicator\n";

/* RFC 4180: quote when needed, double the quotes. */
void kj_export_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* elements (integers) and behaviour (level names) as one quoted field
 * "4,4,3,..." / "above,meets,...": their items hold no quote or comma. */
static void csv_list(FILE *f, json_t *v)
{
    size_t i;
    json_t *e;
    fputc('"', f);
    json_array_foreach(v, i, e)
    {
        if (i) fputc(',', f);
        if (json_is_string(e))
            fputs(json_string_value(e), f);
        else
            fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(e));
    }
    fputc('"', f);
}

/* False when v cannot be written as text (out of memory in jansson): the
 * caller fails the event rather than leave a column silently empty. */
static bool csv_value(FILE *f, const char *key, json_t *v)
{
    if (!v) return true;
    if (json_is_string(v)) {
        kj_export_csv_field(f, json_string_value(v));
    } else if (json_is_integer(v)) {
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_array(v) && (!strcmp(key, "elements") || !strcmp(key, "behaviour"))) {
        csv_list(f, v);
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) return false;
        kj_export_csv_field(f, text);
        free(text);
    }
    return true;
}

kj_err kj_export_line(const kj_event *ev, bool csv, char **line, size_t *len)
{
    json_t *j = kj_json_from_event(ev);
    if (!j) return KJ_ERR_DECODE;
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    bool ok = m != NULL;
    if (ok && csv) {
        for (size_t i = 0; ok && i < N_COLUMNS; i++) {
            if (i) fputc(',', m);
            ok = csv_value(m, columns[i], json_object_get(j, columns[i]));
        }
    } else if (ok) {
        ok = json_dumpf(j, m, JSON_COMPACT) == 0;
    }
    if (ok) ok = fputc('\n', m) != EOF;
    json_decref(j);
    if (m && fclose(m) != 0) ok = false;
    if (!ok) {
        free(text);
        return KJ_ERR_NOMEM;
    }
    *line = text;
    *len = n;
    return KJ_OK;
}

kj_err kj_export_event(FILE *f, const kj_event *ev, bool csv)
{
    char *line;
    size_t len;
    kj_err err = kj_export_line(ev, csv, &line, &len);
    if (err) return err;
    size_t put = fwrite(line, 1, len, f);
    free(line);
    return put != len || ferror(f) ? KJ_ERR_IO : KJ_OK;
}
