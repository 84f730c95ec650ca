#include "export.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static const char *const columns[] = {
    "id",          "type",   "ts",      "unit",    "employee",   "counter",   "kind",  "service",
    "duration_ms", "due_ts", "quality", "wait_ms", "service_ms", "outcome",   "score", "elements",
    "source",      "state",  "text",    "by",      "alert",      "indicator", "note",  "meta",
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

const char kj_export_csv_header[] = "id,type,ts,unit,employee,counter,kind,service,duration_ms,"
                                    "due_ts,quality,wait_ms,service_ms,outcome,score,elements,"
                                    "source,state,text,by,alert,indicator,note,meta\n";

/* RFC 4180: quote when needed, double the quotes. */
static void csv_field(FILE *f, const char *s)
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

static void csv_value(FILE *f, const char *key, json_t *v)
{
    if (!v) return;
    if (json_is_string(v)) {
        csv_field(f, json_string_value(v));
    } else if (json_is_integer(v)) {
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (!strcmp(key, "elements") && json_is_array(v)) {
        size_t i;
        json_t *e;
        fputc('"', f);
        json_array_foreach(v, i, e)
            fprintf(f, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(e));
        fputc('"', f);
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) csv_field(f, text);
        free(text);
    }
}

kj_err kj_export_event(FILE *f, const kj_event *ev, bool csv)
{
    json_t *j = kj_json_from_event(ev);
    if (!j) return KJ_ERR_NOMEM;
    if (csv) {
        for (size_t i = 0; i < N_COLUMNS; i++) {
            if (i) fputc(',', f);
            csv_value(f, columns[i], json_object_get(j, columns[i]));
        }
    } else {
        json_dumpf(j, f, JSON_COMPACT);
    }
    fputc('\n', f);
    json_decref(j);
    return ferror(f) ? KJ_ERR_IO : KJ_OK;
}
