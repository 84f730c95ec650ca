/* GET /api/v1/rapor?unit=U[&period=P][&format=json|csv] (SPEC §15): checked
 * here on the service thread, built on a rapor worker (rapor_jobs.h), answered
 * here when the worker hands it back. Without period, the current period of
 * `evaluation.period`. A personal token (viewer with `employee`) gets its own
 * row only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "api_rapor.h"
#include "rapor/rapor_jobs.h"
#include "rapor/rapor_read.h"

static void rapor_answered(kj_query *q)
{
    struct http_sess *hs = q->owner.request;
    const kj_rapor_req *req = q->params;
    hs->query = NULL;
    if (q->status != 200 || !q->result)
        kj_http_error(hs, q->status ? q->status : 500, "%s", q->error[0] ? q->error : "no answer");
    else if (req->csv)
        kj_http_set_answer(hs, 200, "text/csv; charset=utf-8", q->result->data, q->result->len);
    else
        kj_http_answer_frame(hs, q->result);
}

/* Fills req from the arguments; false with an answer set. */
static bool read_args(struct http_sess *hs, kj_rapor_req *req)
{
    /* as large as lws's argument buffer: a long bad period is refused, not
     * taken for an absent one */
    char period[1024], format[16] = "json";
    if (!kj_http_arg_unit(hs, req->unit)) return false;
    kj_http_arg(hs, "format", format, sizeof format);
    if (strcmp(format, "json") && strcmp(format, "csv")) {
        kj_http_error(hs, 400, "format: must be json or csv");
        return false;
    }
    req->csv = !strcmp(format, "csv");
    req->now = kj_now_ms();
    req->current = !kj_http_arg(hs, "period", period, sizeof period);
    if (!req->current && !kj_period_parse(period, strlen(period), &req->period)) {
        kj_http_error(hs, 400, "period: must be YYYY-MM, YYYY-Qn or YYYY");
        return false;
    }
    req->current_kind = (kj_period_kind)hs->srv->cfg->eval_period;
    if (hs->token && hs->token->employee)
        snprintf(req->only_employee, sizeof req->only_employee, "%s", hs->token->employee);
    return true;
}

int kj_api_get_rapor(struct http_sess *hs)
{
    kj_rapor_req *req = kj_calloc(1, sizeof *req);
    if (!read_args(hs, req)) {
        free(req);
        return 0;
    }
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_RAPOR;
    q->params = req;
    q->free_params = free;
    q->owner.request = hs;
    q->done = rapor_answered;
    kj_server *s = hs->srv;
    if (!s->rapor_jobs) s->rapor_jobs = kj_rapor_jobs_new(s->store, s->hub);
    if (kj_rapor_jobs_start(s->rapor_jobs, s->cfg, q) != KJ_OK) {
        kj_query_free(q);
        hs->retry_after = 2;
        kj_http_error(hs, 503, "rapor: %d are being built, try again", KJ_RAPOR_JOBS_MAX);
        return 0;
    }
    hs->query = q;
    return 0;
}
