/* The virtual world's traffic engine in C: harness/virtual/traffic.py, the reference, step
 * for step, with the same methods and the same results to the last bit.
 *
 * Read traffic.py first: every function here names the Python it mirrors, and does the same
 * arithmetic in the same order (IEEE doubles both, the same libm), so the results are equal,
 * not close. The random draws are the very random.Random streams the reference uses (the
 * simulation's through its random(); those the engine owns alone, from their state, by
 * CPython's Mersenne Twister here), and gauss(), uniform() and expovariate() are random.py's
 * formulas (CPython 3.11 to 3.13). What stays in Python: the token layer, asked
 * through token_of(caller) once per caller until the simulation says it ran (forget_tokens).
 *
 * Built by `make install` (harness/virtual/build_engine.py); without a C compiler, runs use
 * the reference (harness/virtual/engine.py). tests/harness/test_traffic_engines.py runs both
 * on the same cells and compares every field.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* engine.py's codes and kinds */
enum { CALL = 0, ACTION = 2, SAMPLE = 3 };
enum { DONE = 0, LATER, END, DUE_ACTION, NEEDS_TOKEN, REFUSED_TOKEN, SAMPLED };
/* analytics.py's outcomes; reports.py's FRESH, STALE, NONE */
enum { OK = 0, UNAUTHORIZED, THROTTLED, UNAVAILABLE };
enum { FRESH = 0, STALE, NONE };

#define CLUSTER 0
#define AUTHOR 0
#define NO_CALLER (-1)

/* --- growable arrays ------------------------------------------------------------------ */

typedef struct {
    double *v;
    Py_ssize_t n, cap;
} Doubles;

static int doubles_reserve(Doubles *a, Py_ssize_t need) {
    if (need <= a->cap) return 0;
    Py_ssize_t cap = a->cap ? a->cap : 64;
    while (cap < need) cap *= 2;
    double *v = PyMem_Realloc(a->v, (size_t)cap * sizeof(double));
    if (v == NULL) { PyErr_NoMemory(); return -1; }
    a->v = v;
    a->cap = cap;
    return 0;
}

static int doubles_append(Doubles *a, double x) {
    if (a->n == a->cap && doubles_reserve(a, a->n + 1) < 0) return -1;
    a->v[a->n++] = x;
    return 0;
}

static void doubles_free(Doubles *a) {
    PyMem_Free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* bisect.bisect_left over a sorted Doubles */
static Py_ssize_t bisect_left(const Doubles *a, double x) {
    Py_ssize_t lo = 0, hi = a->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (a->v[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* A min-heap of doubles (analytics.py's ``_ends``: only its least and its size are read). */
static int dheap_push(Doubles *h, double x) {
    if (doubles_append(h, x) < 0) return -1;
    Py_ssize_t i = h->n - 1;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (h->v[p] <= x) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = x;
    return 0;
}

static void dheap_pop(Doubles *h) {
    double last = h->v[--h->n];
    Py_ssize_t size = h->n, i = 0;
    if (!size) return;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= last) break;
        h->v[i] = h->v[c];
        i = c;
    }
    h->v[i] = last;
}

/* --- the event heap: (at, seq) orders it, as the reference's tuples ---------------------- */

typedef struct {
    double at;
    long long seq;
    int kind;
    int slot;
    long long aux;
} Event;

typedef struct {
    Event *v;
    Py_ssize_t n, cap;
} Events;

static inline int event_before(const Event *a, const Event *b) {
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int events_push(Events *h, Event e) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? h->cap * 2 : 256;
        Event *v = PyMem_Realloc(h->v, (size_t)cap * sizeof(Event));
        if (v == NULL) { PyErr_NoMemory(); return -1; }
        h->v = v;
        h->cap = cap;
    }
    Py_ssize_t i = h->n++;
    while (i > 0) {
        Py_ssize_t p = (i - 1) / 2;
        if (!event_before(&e, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = e;
    return 0;
}

static Event events_pop(Events *h) {
    Event top = h->v[0];
    Event last = h->v[--h->n];
    Py_ssize_t size = h->n, i = 0;
    if (size) {
        for (;;) {
            Py_ssize_t c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && event_before(&h->v[c + 1], &h->v[c])) c++;
            if (!event_before(&h->v[c], &last)) break;
            h->v[i] = h->v[c];
            i = c;
        }
        h->v[i] = last;
    }
    return top;
}

/* --- users.py ------------------------------------------------------------------------ */

typedef struct {
    Doubles low, high, weight;
    double total;
    double at_zero;
} Spread;

/* Spread.add */
static int spread_add(Spread *s, double low, double high, double count) {
    if (count > 0) {
        s->total += count;
        if (low == 0.0 && high == 0.0) {
            s->at_zero += count;
            return 0;
        }
        low = low > 0.0 ? low : 0.0;
        if (doubles_append(&s->low, low) < 0) return -1;
        if (doubles_append(&s->high, high > low ? high : low) < 0) return -1;
        if (doubles_append(&s->weight, count) < 0) return -1;
    }
    return 0;
}

typedef struct {
    double fresh, stale, errors;
    Spread waits, ages;
    double outage_requests, outage_served, outage_fresh;
    int has_recovery;
    double recovery;
} Users;

/* Users.served */
static void users_served(Users *u, double count, int stale, int in_outage) {
    if (count <= 0) return;
    if (stale) u->stale += count; else u->fresh += count;
    if (in_outage) {
        u->outage_requests += count;
        u->outage_served += count;
        u->outage_fresh += stale ? 0.0 : count;
    }
}

/* Users.failed */
static void users_failed(Users *u, double count, int in_outage) {
    if (count <= 0) return;
    u->errors += count;
    if (in_outage) u->outage_requests += count;
}

/* --- randomness --------------------------------------------------------------------- *
 * The streams the engine owns alone (the latency model's, each report's refresher's) are
 * drawn here: CPython's Mersenne Twister (Modules/_randommodule.c, genrand_uint32 and
 * random_random), started from the state of the random.Random it was given (getstate()), so
 * the numbers are that object's. The simulation's own stream, which the token layer draws
 * from too (IMS's flaky answers, a restarted node's seed), is drawn through its random(). */

#define MT_N 624
#define MT_M 397

typedef struct {
    uint32_t state[MT_N];
    int index;
    int has_gauss_next;
    double gauss_next;
} Twister;

static uint32_t genrand_uint32(Twister *r) {
    static const uint32_t mag01[2] = {0x0U, 0x9908b0dfU};
    uint32_t y, *mt = r->state;
    if (r->index >= MT_N) {
        int kk;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        y = (mt[MT_N - 1] & 0x80000000U) | (mt[0] & 0x7fffffffU);
        mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 0x1U];
        r->index = 0;
    }
    y = mt[r->index++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

/* random.random() */
static double twister_random(Twister *r) {
    uint32_t a = genrand_uint32(r) >> 5, b = genrand_uint32(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* The state of a random.Random: (3, (624 words..., index), gauss_next) from getstate(). */
static int twister_from(PyObject *rng, Twister *r) {
    PyObject *state = PyObject_CallMethod(rng, "getstate", NULL);
    if (state == NULL) return -1;
    int rc = -1;
    PyObject *words, *gauss;
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != 3) goto bad;
    words = PyTuple_GET_ITEM(state, 1);
    gauss = PyTuple_GET_ITEM(state, 2);
    if (!PyTuple_Check(words) || PyTuple_GET_SIZE(words) != MT_N + 1) goto bad;
    for (int i = 0; i < MT_N; i++) {
        unsigned long w = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(words, i));
        if (w == (unsigned long)-1 && PyErr_Occurred()) goto done;
        r->state[i] = (uint32_t)w;
    }
    long index = PyLong_AsLong(PyTuple_GET_ITEM(words, MT_N));
    if (index == -1 && PyErr_Occurred()) goto done;
    if (index < 0 || index > MT_N) goto bad;
    r->index = (int)index;
    r->has_gauss_next = gauss != Py_None;
    if (r->has_gauss_next) {
        r->gauss_next = PyFloat_AsDouble(gauss);
        if (r->gauss_next == -1.0 && PyErr_Occurred()) goto done;
    }
    rc = 0;
    goto done;
bad:
    PyErr_SetString(PyExc_TypeError, "not the state of a random.Random");
done:
    Py_DECREF(state);
    return rc;
}

/* --- reports.py: a report, its refresher, and the call out (traffic.py's Slot) --------- */

typedef struct {
    int caller;  /* a node's report: the node; the cluster's: NO_CALLER */
    /* ReportState */
    double rate;
    int shown;
    double fetched_at;
    double accounted_until;
    int waiting;  /* waiting_since is not None */
    double waiting_since;
    int pending;  /* pending is not None */
    double pending_at;
    int pending_outcome;
    double open_low, open_high, open_weight, open_rate;  /* the ages going on */
    /* Refresher */
    Twister random;  /* its random.Random's stream, drawn here */
    int throttled, failures;
    double hold_until;
    /* InFlight */
    int flight;  /* a call is out */
    int flight_caller;
    double flight_started;
    long long flight_number;
    int flight_tries;
} Report;

/* --- the engine ---------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    /* settings (engine.py's TrafficSettings), read once */
    double horizon, sync, tolerance, sample_every, site_rate, wall_start;
    int traced, tries, published;
    double *outages;  /* (start, end) pairs */
    Py_ssize_t n_outages;
    double refresh, failure_hold, failure_cap, throttle_base, throttle_cap, jitter;
    int scheduled;
    int limit_enabled;
    long long limit_requests;
    double limit_per;
    int latency_enabled;
    double median, sigma, per_concurrent, gateway, timeout, timed_out_seconds;
    /* the randomness: the simulation's, the latency model's (and its gauss_next) */
    PyObject *random;
    Twister latency_random;
    PyObject *token_of;
    /* Analytics */
    int outage;
    Doubles allowed;  /* the rate limit's allowed instants, sorted */
    Doubles ends;  /* when each call in flight ends, a heap */
    long long by_outcome[4];
    long long *per_minute;
    Py_ssize_t n_minutes;
    long long per_minute_peak;
    /* reports: by slot (the cluster's is 0; a node's its generation), and the order the
       nodes' opened in */
    Report **slots;
    Py_ssize_t n_slots;
    int *order;
    Py_ssize_t n_order, cap_order;
    int *callers;  /* the nodes up, by name */
    Py_ssize_t n_callers;
    long long turn;
    Users users;
    Events heap;
    long long seq;
    long long flights;
    int author_up;
    int has_back;
    double ims_back_at;
    /* this batch's tokens, by caller */
    long long batch;
    long long *token_batch;
    PyObject **token;  /* NULL: no usable token */
    double *token_until;
    int *token_down;
    Py_ssize_t n_tokens;
    PyObject *refused;
    int stopped_slot;
    double stopped_at;
} Traffic;

/* --- random.py's formulas, over the simulation's random() or a stream of the engine's ---- */

static int draw(PyObject *random, double *out) {
    PyObject *r = PyObject_CallNoArgs(random);
    if (r == NULL) return -1;
    *out = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (*out == -1.0 && PyErr_Occurred()) return -1;
    return 0;
}

/* Random.uniform(a, b) */
static double uniform(Twister *r, double a, double b) {
    return a + (b - a) * twister_random(r);
}

/* Random.expovariate(lambd), on the simulation's stream */
static int expovariate(PyObject *random, double lambd, double *out) {
    double r;
    if (draw(random, &r) < 0) return -1;
    *out = -log(1.0 - r) / lambd;
    return 0;
}

/* Random.gauss(mu, sigma) */
static double gauss(Twister *r, double mu, double sigma) {
    double z;
    if (r->has_gauss_next) {
        z = r->gauss_next;
        r->has_gauss_next = 0;
    } else {
        double x2pi = twister_random(r) * 6.283185307179586;  /* math.tau */
        double g2rad = sqrt(-2.0 * log(1.0 - twister_random(r)));
        z = cos(x2pi) * g2rad;
        r->gauss_next = sin(x2pi) * g2rad;
        r->has_gauss_next = 1;
    }
    return mu + z * sigma;
}

/* CPython's float floor division (floatobject.c, _float_div_mod): int(at // 60) */
static long long py_floordiv(double vx, double wx) {
    double mod = fmod(vx, wx);
    double div = (vx - mod) / wx;
    double floordiv;
    if (mod) {
        if ((wx < 0) != (mod < 0)) div -= 1.0;
    }
    if (div) {
        floordiv = floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
    } else {
        floordiv = copysign(0.0, vx / wx);
    }
    return (long long)floordiv;
}

/* timeline.within */
static int within(Traffic *t, double at) {
    for (Py_ssize_t i = 0; i < t->n_outages; i++) {
        if (t->outages[2 * i] <= at && at < t->outages[2 * i + 1]) return 1;
    }
    return 0;
}

/* --- the heap ------------------------------------------------------------------------ */

static int push(Traffic *t, double at, int kind, int slot, long long aux) {
    t->seq += 1;
    Event e = {at, t->seq, kind, slot, aux};
    return events_push(&t->heap, e);
}

/* --- reports.py's ReportState -------------------------------------------------------- */

static int account(Traffic *t, Report *s, double now, int in_outage);

/* ReportState.close_ages */
static int close_ages(Traffic *t, Report *s) {
    if (s->open_weight) {
        if (spread_add(&t->users.ages, s->open_low, s->open_high, s->open_weight) < 0) return -1;
        s->open_weight = 0.0;
    }
    return 0;
}

/* ReportState._aged */
static int report_aged(Traffic *t, Report *s, double low, double high, double count) {
    if (s->open_weight && low == s->open_high && s->rate == s->open_rate) {
        s->open_high = high;
        s->open_weight += count;
        return 0;
    }
    if (close_ages(t, s) < 0) return -1;
    s->open_low = low;
    s->open_high = high;
    s->open_weight = count;
    s->open_rate = s->rate;
    return 0;
}

static void report_set(Report *s, int outcome, double at) {
    if (outcome == OK) {
        s->shown = FRESH;
        s->fetched_at = at;
    } else {
        s->shown = s->fetched_at > -INFINITY ? STALE : NONE;
    }
}

/* ReportState._answered */
static int report_answered(Traffic *t, Report *s, int outcome, double at, int in_outage) {
    Users *u = &t->users;
    if (s->waiting) {
        double waited = at - s->waiting_since;
        double count = s->rate * waited;
        if (spread_add(&u->waits, 0.0, waited, count) < 0) return -1;
        report_set(s, outcome, at);
        if (s->shown == NONE) {
            users_failed(u, count, in_outage);
        } else if (count > 0) {
            users_served(u, count, s->shown == STALE, in_outage);
            double age = at - s->fetched_at;  /* 0: the new one; else the last good one */
            if (spread_add(&u->ages, age, age, count) < 0) return -1;
        }
        s->waiting = 0;
        s->accounted_until = at;
        return 0;
    }
    if (account(t, s, at, in_outage) < 0) return -1;
    report_set(s, outcome, at);
    return 0;
}

/* ReportState.account */
static int account(Traffic *t, Report *s, double now, int in_outage) {
    if (s->pending && s->pending_at <= now) {
        s->pending = 0;
        if (report_answered(t, s, s->pending_outcome, s->pending_at, in_outage) < 0) return -1;
    }
    if (now <= s->accounted_until || s->waiting) return 0;
    double start = s->accounted_until;
    s->accounted_until = now;
    double count = s->rate * (now - start);
    if (s->shown == NONE) {
        users_failed(&t->users, count, in_outage);
        return 0;
    }
    if (!(count > 0)) return 0;
    users_served(&t->users, count, s->shown == STALE, in_outage);
    return report_aged(t, s, start - s->fetched_at, now - s->fetched_at, count);
}

/* ReportState.wait */
static void report_wait(Report *s, double at) {
    if (!s->waiting) {
        s->waiting = 1;
        s->waiting_since = s->accounted_until > at ? s->accounted_until : at;
    }
}

/* --- reports.py's Refresher.after, with node/report_policy.py's holds ----------------- */

static int refresher_after(Traffic *t, Report *s, int outcome, double at, double *out) {
    if (outcome == OK) {
        s->throttled = s->failures = 0;
        if (t->scheduled) {
            *out = at + t->refresh * (1.0 + uniform(&s->random, 0.0, t->jitter));
            return 0;
        }
        *out = at;
        return 0;
    }
    if (outcome == THROTTLED) {
        s->throttled += 1;
        int k = s->throttled - 1 < 16 ? s->throttled - 1 : 16;
        double ceiling = t->throttle_base * (double)(1LL << k);
        ceiling = ceiling < t->throttle_cap ? ceiling : t->throttle_cap;
        s->hold_until = at + (t->throttle_base + uniform(&s->random, 0.0, ceiling));
    } else {
        s->failures += 1;
        double refresh = t->refresh != 0.0 ? t->refresh : 1.0;
        double first = refresh < t->failure_hold ? refresh : t->failure_hold;
        int k = s->failures - 1 < 16 ? s->failures - 1 : 16;
        double hold = first * ldexp(1.0, k);
        hold = hold < t->failure_cap ? hold : t->failure_cap;
        s->hold_until = at + hold;
    }
    if (t->scheduled) {
        double floor_at = at + t->failure_hold;
        *out = floor_at > s->hold_until ? floor_at : s->hold_until;
        return 0;
    }
    *out = s->hold_until;
    return 0;
}

/* --- analytics.py -------------------------------------------------------------------- */

/* SlidingWindow.allow: 1 allowed, 0 refused, -1 error. The same counts as its bisections,
   found by walking back from the end: calls come nearly in time order, so the place of a
   new instant is at or near the end, and a window holds at most ``requests`` to count. */
static int allow(Traffic *t, double at) {
    if (!t->limit_enabled) return 1;
    Doubles *a = &t->allowed;
    if (a->n && a->v[0] < at - 200.0 * t->limit_per) {
        Py_ssize_t cut = bisect_left(a, at - 100.0 * t->limit_per);
        memmove(a->v, a->v + cut, (size_t)(a->n - cut) * sizeof(double));
        a->n -= cut;
    }
    Py_ssize_t right = a->n;  /* bisect_right(a, at) */
    while (right > 0 && a->v[right - 1] > at) right--;
    double since = at - t->limit_per;
    long long before = 0;  /* allowed in (at - per, at] */
    for (Py_ssize_t i = right; i > 0 && a->v[i - 1] > since; i--) {
        if (++before >= t->limit_requests) return 0;
    }
    if (doubles_reserve(a, a->n + 1) < 0) return -1;
    memmove(a->v + right + 1, a->v + right, (size_t)(a->n - right) * sizeof(double));
    a->v[right] = at;
    a->n += 1;
    return 1;
}

/* VirtualAnalytics._answer */
static int answer(Traffic *t, double accepted_until, double at, int *outcome, double *secs) {
    *secs = 0.0;
    if (t->outage) { *outcome = UNAVAILABLE; return 0; }
    int allowed = allow(t, at);
    if (allowed < 0) return -1;
    if (!allowed) { *outcome = THROTTLED; return 0; }
    if (!(t->wall_start + at < accepted_until)) { *outcome = UNAUTHORIZED; return 0; }
    Doubles *ends = &t->ends;
    while (ends->n && ends->v[0] <= at) dheap_pop(ends);
    double seconds = 0.0;
    if (t->latency_enabled) {  /* LatencyModel.draw */
        double at_rest = t->median * exp(t->sigma * gauss(&t->latency_random, 0.0, 1.0));
        seconds = at_rest * (1.0 + t->per_concurrent * (double)ends->n);
    }
    if (dheap_push(ends, at + (seconds < t->gateway ? seconds : t->gateway)) < 0) return -1;
    if (seconds >= t->gateway || seconds > t->timeout) {
        *outcome = UNAVAILABLE;
        *secs = t->timed_out_seconds;
        return 0;
    }
    *outcome = OK;
    *secs = seconds;
    return 0;
}

/* VirtualAnalytics.call */
static int analytics_call(Traffic *t, double accepted_until, double at, int *outcome,
                          double *secs) {
    if (answer(t, accepted_until, at, outcome, secs) < 0) return -1;
    if (*outcome != UNAVAILABLE || *secs) {
        long long minute = py_floordiv(at, 60.0);
        if (minute < 0) minute = 0;  /* (never: calls come after the start) */
        if (minute >= t->n_minutes) {
            Py_ssize_t n = t->n_minutes ? t->n_minutes : 1024;
            while (n <= minute) n *= 2;
            long long *v = PyMem_Realloc(t->per_minute, (size_t)n * sizeof(long long));
            if (v == NULL) { PyErr_NoMemory(); return -1; }
            memset(v + t->n_minutes, 0, (size_t)(n - t->n_minutes) * sizeof(long long));
            t->per_minute = v;
            t->n_minutes = n;
        }
        long long c = ++t->per_minute[minute];
        if (c > t->per_minute_peak) t->per_minute_peak = c;
    }
    t->by_outcome[*outcome] += 1;
    return 0;
}

/* --- slots ----------------------------------------------------------------------------- */

static Report *slot_of(Traffic *t, int slot) {
    if (slot < 0 || slot >= t->n_slots) return NULL;
    return t->slots[slot];
}

static Report *report_new(PyObject *rng, double accounted_until, int caller) {
    Report *s = PyMem_Calloc(1, sizeof(Report));
    if (s == NULL) { PyErr_NoMemory(); return NULL; }
    if (twister_from(rng, &s->random) < 0) { PyMem_Free(s); return NULL; }
    s->caller = caller;
    s->shown = NONE;
    s->fetched_at = -INFINITY;
    s->accounted_until = accounted_until;
    s->hold_until = -INFINITY;
    return s;
}

static void report_free(Report *s) {
    PyMem_Free(s);
}

/* Traffic.flush */
static int flush(Traffic *t, double now) {
    for (Py_ssize_t i = 0; i < t->n_order; i++) {
        Report *s = t->slots[t->order[i]];
        if (account(t, s, now, within(t, s->accounted_until)) < 0) return -1;
    }
    Report *c = slot_of(t, CLUSTER);
    if (c != NULL && account(t, c, now, within(t, c->accounted_until)) < 0) return -1;
    return 0;
}

/* Traffic._rebalance */
static int rebalance(Traffic *t, double now) {
    if (flush(t, now) < 0) return -1;
    Py_ssize_t up = t->n_order;
    Report *c = slot_of(t, CLUSTER);
    for (Py_ssize_t i = 0; i < up; i++) {
        t->slots[t->order[i]]->rate = c != NULL ? 0.0 : t->site_rate / (double)(up > 1 ? up : 1);
    }
    if (c != NULL) c->rate = up ? t->site_rate : 0.0;
    return 0;
}

/* Traffic.note_recovery */
static void note_recovery(Traffic *t, double at) {
    if (!t->has_back || t->users.has_recovery) return;
    for (Py_ssize_t i = 0; i < t->n_order; i++) {
        Report *s = t->slots[t->order[i]];
        if (s->rate && s->shown != FRESH) return;
    }
    Report *c = slot_of(t, CLUSTER);
    if (c != NULL && c->rate && c->shown != FRESH) return;
    double since = at - t->ims_back_at;
    t->users.has_recovery = 1;
    t->users.recovery = since > 0.0 ? since : 0.0;
}

/* --- a report's call and its answer ------------------------------------------------------ */

/* Traffic.complete */
static int complete(Traffic *t, int slot, double at, int outcome, double seconds) {
    Report *s = slot_of(t, slot);
    if (s == NULL) return 0;
    s->flight = 0;
    double done = at + seconds;
    s->pending = 1;  /* ReportState.answers */
    s->pending_at = done;
    s->pending_outcome = outcome;
    double next_at;
    if (refresher_after(t, s, outcome, done, &next_at) < 0) return -1;
    if (!t->scheduled) {  /* the first request after it asks again */
        if (s->rate > 0) {
            double wait;
            if (expovariate(t->random, s->rate, &wait) < 0) return -1;
            next_at += wait;
        } else {
            next_at += 60.0;
        }
    }
    return push(t, next_at, CALL, slot, 0);
}

/* The caller's token for this batch (token_of, once per caller and batch): 1 down, 0 held
   (token NULL: none usable), -1 error */
static int token_for(Traffic *t, int caller, PyObject **token, double *until) {
    if (caller >= t->n_tokens) {
        Py_ssize_t n = t->n_tokens ? t->n_tokens : 64;
        while (n <= caller) n *= 2;
        long long *b = PyMem_Realloc(t->token_batch, (size_t)n * sizeof(long long));
        if (b == NULL) { PyErr_NoMemory(); return -1; }
        t->token_batch = b;
        PyObject **k = PyMem_Realloc(t->token, (size_t)n * sizeof(PyObject *));
        if (k == NULL) { PyErr_NoMemory(); return -1; }
        t->token = k;
        double *u = PyMem_Realloc(t->token_until, (size_t)n * sizeof(double));
        if (u == NULL) { PyErr_NoMemory(); return -1; }
        t->token_until = u;
        int *d = PyMem_Realloc(t->token_down, (size_t)n * sizeof(int));
        if (d == NULL) { PyErr_NoMemory(); return -1; }
        t->token_down = d;
        for (Py_ssize_t i = t->n_tokens; i < n; i++) {
            t->token_batch[i] = -1;
            t->token[i] = NULL;
        }
        t->n_tokens = n;
    }
    if (t->token_batch[caller] != t->batch) {
        PyObject *index = PyLong_FromLong(caller);
        if (index == NULL) return -1;
        PyObject *held = PyObject_CallOneArg(t->token_of, index);
        Py_DECREF(index);
        if (held == NULL) return -1;
        Py_CLEAR(t->token[caller]);
        if (held == Py_None) {
            t->token_down[caller] = 1;
        } else {
            PyObject *value, *accepted;
            if (!PyTuple_Check(held) || PyTuple_GET_SIZE(held) != 2) {
                Py_DECREF(held);
                PyErr_SetString(PyExc_TypeError, "token_of must return (token, until) or None");
                return -1;
            }
            value = PyTuple_GET_ITEM(held, 0);
            accepted = PyTuple_GET_ITEM(held, 1);
            double u = PyFloat_AsDouble(accepted);
            if (u == -1.0 && PyErr_Occurred()) { Py_DECREF(held); return -1; }
            t->token_down[caller] = 0;
            t->token_until[caller] = u;
            if (value != Py_None) {
                Py_INCREF(value);
                t->token[caller] = value;
            }
        }
        Py_DECREF(held);
        t->token_batch[caller] = t->batch;
    }
    if (t->token_down[caller]) return 1;
    *token = t->token[caller];
    *until = t->token_until[caller];
    return 0;
}

/* Traffic._try */
static int try_(Traffic *t, int slot, Report *s, double at) {
    int caller = s->flight_caller;
    PyObject *token = NULL;
    double until = 0.0;
    int down = token_for(t, caller, &token, &until);
    if (down < 0) return -1;
    if (down) {
        if (complete(t, slot, at, UNAVAILABLE, 0.0) < 0) return -1;
        return DONE;
    }
    if (token == NULL) {
        t->stopped_slot = slot;
        return NEEDS_TOKEN;
    }
    s->flight_tries += 1;
    int outcome, ignored;
    double seconds, ignored_s;
    if (analytics_call(t, until, at, &outcome, &seconds) < 0) return -1;
    for (int i = 0; i < t->tries - 1; i++) {  /* naive: every waiting request calls */
        if (analytics_call(t, until, at, &ignored, &ignored_s) < 0) return -1;
    }
    if (outcome == UNAUTHORIZED && s->flight_tries == 1) {
        Py_INCREF(token);
        Py_XSETREF(t->refused, token);
        t->stopped_slot = slot;
        return REFUSED_TOKEN;
    }
    if (complete(t, slot, at, outcome, seconds) < 0) return -1;
    return DONE;
}

/* Traffic._call */
static int call(Traffic *t, int slot, double at) {
    Report *s = slot_of(t, slot);
    if (s == NULL || s->flight) return DONE;
    if (account(t, s, at, within(t, s->accounted_until)) < 0) return -1;
    int caller = s->caller;
    if (slot == CLUSTER && t->published) {
        caller = t->author_up && t->n_callers ? AUTHOR : NO_CALLER;
    } else if (slot == CLUSTER) {
        caller = NO_CALLER;
        if (t->n_callers) {
            t->turn += 1;
            caller = t->callers[t->turn % t->n_callers];
        }
    }
    if (caller == NO_CALLER) {
        if (push(t, at + 60.0, CALL, slot, 0) < 0) return -1;
        return DONE;
    }
    if (!t->scheduled || s->shown == NONE) report_wait(s, at);
    t->flights += 1;
    s->flight = 1;
    s->flight_caller = caller;
    s->flight_started = at;
    s->flight_number = t->flights;
    s->flight_tries = 0;
    return try_(t, slot, s, at);
}

/* Traffic._sample */
static int sample(Traffic *t, double at) {
    if (flush(t, at) < 0) return -1;
    if (at < t->horizon) {
        double next = at + t->sample_every;
        if (push(t, next < t->horizon ? next : t->horizon, SAMPLE, 0, 0) < 0) return -1;
    }
    return t->traced ? SAMPLED : DONE;
}

/* Traffic.run */
static int run(Traffic *t, double now, int waiting) {
    Events *heap = &t->heap;
    for (;;) {
        if (!heap->n) return waiting ? LATER : END;
        Event *head = &heap->v[0];
        double at = head->at;
        if (at >= t->horizon && !waiting) return END;
        int exact = waiting || head->kind == ACTION;
        if (at > now + (exact ? t->tolerance : t->sync)) return LATER;
        if (head->kind == ACTION) return DUE_ACTION;
        Event e = events_pop(heap);
        int code = e.kind == SAMPLE ? sample(t, at) : call(t, e.slot, at);
        if (code < 0) return -1;
        if (t->has_back) note_recovery(t, at);
        if (code != DONE) {
            t->stopped_at = at;
            return code;
        }
    }
}

/* --- the Python type ----------------------------------------------------------------- */

static int get_double(PyObject *o, const char *name, double *out) {
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL) return -1;
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int get_int(PyObject *o, const char *name, long long *out) {
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int get_bool(PyObject *o, const char *name, int *out) {
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL) return -1;
    *out = PyObject_IsTrue(v);
    Py_DECREF(v);
    return *out < 0 ? -1 : 0;
}

static int read_settings(Traffic *t, PyObject *s) {
    long long tries;
    PyObject *limit = NULL, *latency = NULL, *outages = NULL;
    int rc = -1;
    if (get_double(s, "horizon", &t->horizon) < 0 || get_double(s, "sync", &t->sync) < 0
        || get_double(s, "tolerance", &t->tolerance) < 0
        || get_double(s, "sample_every", &t->sample_every) < 0
        || get_bool(s, "traced", &t->traced) < 0
        || get_double(s, "site_rate", &t->site_rate) < 0
        || get_double(s, "wall_start", &t->wall_start) < 0 || get_int(s, "tries", &tries) < 0
        || get_bool(s, "published", &t->published) < 0
        || get_double(s, "refresh", &t->refresh) < 0
        || get_double(s, "failure_hold", &t->failure_hold) < 0
        || get_double(s, "failure_cap", &t->failure_cap) < 0
        || get_double(s, "throttle_base", &t->throttle_base) < 0
        || get_double(s, "throttle_cap", &t->throttle_cap) < 0
        || get_double(s, "jitter", &t->jitter) < 0
        || get_double(s, "latency_sigma", &t->sigma) < 0
        || get_double(s, "timeout", &t->timeout) < 0)
        return -1;
    t->tries = (int)tries;
    t->scheduled = t->refresh > 0;
    if ((limit = PyObject_GetAttrString(s, "rate_limit")) == NULL) goto done;
    if (get_bool(limit, "enabled", &t->limit_enabled) < 0
        || get_int(limit, "requests", &t->limit_requests) < 0
        || get_double(limit, "per", &t->limit_per) < 0)
        goto done;
    if ((latency = PyObject_GetAttrString(s, "latency")) == NULL) goto done;
    if (get_bool(latency, "enabled", &t->latency_enabled) < 0
        || get_double(latency, "median", &t->median) < 0
        || get_double(latency, "per_concurrent", &t->per_concurrent) < 0
        || get_double(latency, "gateway_timeout", &t->gateway) < 0)
        goto done;
    /* min(timeout, gateway), as the reference gives up */
    t->timed_out_seconds = t->gateway < t->timeout ? t->gateway : t->timeout;
    if ((outages = PyObject_GetAttrString(s, "outages")) == NULL) goto done;
    PyObject *seq = PySequence_Fast(outages, "outages must be a sequence");
    if (seq == NULL) goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    t->outages = PyMem_Calloc((size_t)(n ? 2 * n : 1), sizeof(double));
    if (t->outages == NULL) { Py_DECREF(seq); PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        double a, b;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "dd", &a, &b)) {
            Py_DECREF(seq);
            goto done;
        }
        t->outages[2 * i] = a;
        t->outages[2 * i + 1] = b;
    }
    t->n_outages = n;
    Py_DECREF(seq);
    rc = 0;
done:
    Py_XDECREF(limit);
    Py_XDECREF(latency);
    Py_XDECREF(outages);
    return rc;
}

static int Traffic_init(Traffic *t, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"settings", "rng", "latency_rng", "cluster_rng", "token_of", NULL};
    PyObject *settings, *rng, *latency_rng, *cluster_rng, *token_of;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O$OOOO", kwlist, &settings, &rng,
                                     &latency_rng, &cluster_rng, &token_of))
        return -1;
    if (t->token_of != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a traffic engine is made once");
        return -1;
    }
    if (read_settings(t, settings) < 0) return -1;
    if ((t->random = PyObject_GetAttrString(rng, "random")) == NULL) return -1;
    if (twister_from(latency_rng, &t->latency_random) < 0) return -1;
    Py_INCREF(token_of);
    t->token_of = token_of;
    t->n_slots = 64;
    t->slots = PyMem_Calloc((size_t)t->n_slots, sizeof(Report *));
    if (t->slots == NULL) { PyErr_NoMemory(); return -1; }
    if (cluster_rng != Py_None) {
        t->slots[CLUSTER] = report_new(cluster_rng, 0.0, NO_CALLER);
        if (t->slots[CLUSTER] == NULL) return -1;
    }
    return 0;
}

static int Traffic_traverse(Traffic *t, visitproc visit, void *arg) {
    Py_VISIT(t->random);
    Py_VISIT(t->token_of);
    Py_VISIT(t->refused);
    for (Py_ssize_t i = 0; i < t->n_tokens; i++) Py_VISIT(t->token[i]);
    return 0;
}

static int Traffic_clear(Traffic *t) {
    Py_CLEAR(t->random);
    Py_CLEAR(t->token_of);
    Py_CLEAR(t->refused);
    for (Py_ssize_t i = 0; i < t->n_tokens; i++) Py_CLEAR(t->token[i]);
    return 0;
}

static void Traffic_dealloc(Traffic *t) {
    PyObject_GC_UnTrack(t);
    Traffic_clear(t);
    for (Py_ssize_t i = 0; i < t->n_slots; i++) report_free(t->slots[i]);
    PyMem_Free(t->slots);
    PyMem_Free(t->order);
    PyMem_Free(t->callers);
    PyMem_Free(t->outages);
    PyMem_Free(t->per_minute);
    PyMem_Free(t->heap.v);
    PyMem_Free(t->token_batch);
    PyMem_Free(t->token);
    PyMem_Free(t->token_until);
    PyMem_Free(t->token_down);
    doubles_free(&t->allowed);
    doubles_free(&t->ends);
    Spread *spreads[] = {&t->users.waits, &t->users.ages};
    for (int i = 0; i < 2; i++) {
        doubles_free(&spreads[i]->low);
        doubles_free(&spreads[i]->high);
        doubles_free(&spreads[i]->weight);
    }
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int ready(Traffic *t) {
    if (t->token_of == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the traffic engine was not initialised");
        return 0;
    }
    return 1;
}

static PyObject *code_or_error(int code) {
    return code < 0 ? NULL : PyLong_FromLong(code);
}

static PyObject *Traffic_push_action(Traffic *t, PyObject *args) {
    double at;
    long long index;
    if (!ready(t) || !PyArg_ParseTuple(args, "dL", &at, &index)) return NULL;
    if (push(t, at, ACTION, 0, index) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Traffic_push_sample(Traffic *t, PyObject *arg) {
    double at = PyFloat_AsDouble(arg);
    if (!ready(t) || (at == -1.0 && PyErr_Occurred())) return NULL;
    if (push(t, at, SAMPLE, 0, 0) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Traffic_head_at(Traffic *t, PyObject *Py_UNUSED(ignored)) {
    if (!t->heap.n) Py_RETURN_NONE;
    return PyFloat_FromDouble(t->heap.v[0].at);
}

static PyObject *Traffic_pop_action(Traffic *t, PyObject *Py_UNUSED(ignored)) {
    if (!t->heap.n || t->heap.v[0].kind != ACTION) {
        PyErr_SetString(PyExc_RuntimeError, "no action at the head of the heap");
        return NULL;
    }
    Event e = events_pop(&t->heap);
    return Py_BuildValue("dL", e.at, e.aux);
}

static PyObject *Traffic_run(Traffic *t, PyObject *args) {
    double now;
    int waiting;
    if (!ready(t) || !PyArg_ParseTuple(args, "dp", &now, &waiting)) return NULL;
    return code_or_error(run(t, now, waiting));
}

static PyObject *Traffic_forget_tokens(Traffic *t, PyObject *Py_UNUSED(ignored)) {
    t->batch += 1;
    Py_RETURN_NONE;
}

static PyObject *Traffic_try_call(Traffic *t, PyObject *args) {
    int slot;
    double at;
    if (!ready(t) || !PyArg_ParseTuple(args, "id", &slot, &at)) return NULL;
    t->batch += 1;
    Report *s = slot_of(t, slot);
    if (s == NULL || !s->flight) return PyLong_FromLong(DONE);
    return code_or_error(try_(t, slot, s, at));
}

static PyObject *Traffic_complete(Traffic *t, PyObject *args) {
    int slot, outcome;
    double at, seconds;
    if (!ready(t) || !PyArg_ParseTuple(args, "idid", &slot, &at, &outcome, &seconds))
        return NULL;
    if (outcome < OK || outcome > UNAVAILABLE) {
        PyErr_SetString(PyExc_ValueError, "unknown outcome");
        return NULL;
    }
    if (complete(t, slot, at, outcome, seconds) < 0) return NULL;
    Py_RETURN_NONE;
}

static int as_int(PyObject *o, int *out) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

static PyObject *Traffic_flight(Traffic *t, PyObject *arg) {
    int slot;
    if (as_int(arg, &slot) < 0) return NULL;
    Report *s = slot_of(t, slot);
    if (s == NULL || !s->flight) Py_RETURN_NONE;
    return Py_BuildValue("Lidi", s->flight_number, s->flight_caller, s->flight_started,
                         s->waiting);
}

static PyObject *Traffic_open_report(Traffic *t, PyObject *args) {
    int slot;
    PyObject *rng;
    double now;
    if (!ready(t) || !PyArg_ParseTuple(args, "iOd", &slot, &rng, &now)) return NULL;
    if (slot <= CLUSTER) {
        PyErr_SetString(PyExc_ValueError, "a node's report has a slot above 0");
        return NULL;
    }
    if (slot >= t->n_slots) {
        Py_ssize_t n = t->n_slots;
        while (n <= slot) n *= 2;
        Report **v = PyMem_Realloc(t->slots, (size_t)n * sizeof(Report *));
        if (v == NULL) return PyErr_NoMemory();
        memset(v + t->n_slots, 0, (size_t)(n - t->n_slots) * sizeof(Report *));
        t->slots = v;
        t->n_slots = n;
    }
    if (t->slots[slot] != NULL) {
        PyErr_SetString(PyExc_ValueError, "that slot was open already");
        return NULL;
    }
    if (t->n_order == t->cap_order) {
        Py_ssize_t cap = t->cap_order ? 2 * t->cap_order : 64;
        int *v = PyMem_Realloc(t->order, (size_t)cap * sizeof(int));
        if (v == NULL) return PyErr_NoMemory();
        t->order = v;
        t->cap_order = cap;
    }
    Report *s = report_new(rng, now, slot);
    if (s == NULL) return NULL;
    t->slots[slot] = s;
    t->order[t->n_order++] = slot;
    if (rebalance(t, now) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Traffic_report_wanted(Traffic *t, PyObject *args) {
    int slot;
    double now;
    if (!ready(t) || !PyArg_ParseTuple(args, "id", &slot, &now)) return NULL;
    Report *c = slot_of(t, CLUSTER);
    if (c == NULL) {
        if (push(t, now, CALL, slot, 0) < 0) return NULL;
    } else if (c->shown == NONE && !c->flight) {
        if (push(t, now, CALL, CLUSTER, 0) < 0) return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Traffic_close_report(Traffic *t, PyObject *args) {
    int slot;
    double now;
    if (!ready(t) || !PyArg_ParseTuple(args, "id", &slot, &now)) return NULL;
    Report *s = slot_of(t, slot);
    if (slot <= CLUSTER || s == NULL) {
        PyErr_SetString(PyExc_KeyError, "no open report in that slot");
        return NULL;
    }
    if (flush(t, now) < 0 || close_ages(t, s) < 0) return NULL;
    for (Py_ssize_t i = 0; i < t->n_order; i++) {
        if (t->order[i] == slot) {
            memmove(t->order + i, t->order + i + 1, (size_t)(t->n_order - i - 1) * sizeof(int));
            t->n_order -= 1;
            break;
        }
    }
    report_free(s);
    t->slots[slot] = NULL;
    if (rebalance(t, now) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Traffic_set_callers(Traffic *t, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "callers must be a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *v = PyMem_Realloc(t->callers, (size_t)(n ? n : 1) * sizeof(int));
    if (v == NULL) { Py_DECREF(seq); return PyErr_NoMemory(); }
    t->callers = v;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (as_int(PySequence_Fast_GET_ITEM(seq, i), &v[i]) < 0) {
            Py_DECREF(seq);
            t->n_callers = 0;
            return NULL;
        }
    }
    t->n_callers = n;
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static PyObject *Traffic_flush(Traffic *t, PyObject *arg) {
    double now = PyFloat_AsDouble(arg);
    if (!ready(t) || (now == -1.0 && PyErr_Occurred())) return NULL;
    if (flush(t, now) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Traffic_note_recovery(Traffic *t, PyObject *arg) {
    double at = PyFloat_AsDouble(arg);
    if (at == -1.0 && PyErr_Occurred()) return NULL;
    note_recovery(t, at);
    Py_RETURN_NONE;
}

static PyObject *Traffic_set_outage(Traffic *t, PyObject *arg) {
    int down = PyObject_IsTrue(arg);
    if (down < 0) return NULL;
    t->outage = down;
    Py_RETURN_NONE;
}

static PyObject *call_python(const char *module, const char *name, PyObject *args,
                             PyObject *kwargs) {
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) return NULL;
    PyObject *f = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (f == NULL) return NULL;
    PyObject *r = PyObject_Call(f, args, kwargs);
    Py_DECREF(f);
    return r;
}

static PyObject *Traffic_counts(Traffic *t, PyObject *Py_UNUSED(ignored)) {
    PyObject *kwargs = Py_BuildValue(
        "{s(LLLL)sLsdsd}", "by_outcome", t->by_outcome[0], t->by_outcome[1], t->by_outcome[2],
        t->by_outcome[3], "per_minute_peak", t->per_minute_peak, "stale", t->users.stale,
        "errors", t->users.errors);
    if (kwargs == NULL) return NULL;
    PyObject *args = PyTuple_New(0);
    PyObject *r = args ? call_python("harness.virtual.engine", "TrafficCounts", args, kwargs)
                       : NULL;
    Py_XDECREF(args);
    Py_DECREF(kwargs);
    return r;
}

static PyObject *spread_bytes(const Spread *s) {
    return Py_BuildValue(
        "(y#y#y#dd)", (const char *)s->low.v, s->low.n * (Py_ssize_t)sizeof(double),
        (const char *)s->high.v, s->high.n * (Py_ssize_t)sizeof(double),
        (const char *)s->weight.v, s->weight.n * (Py_ssize_t)sizeof(double), s->total,
        s->at_zero);
}

static PyObject *Traffic_seen(Traffic *t, PyObject *Py_UNUSED(ignored)) {
    Users *u = &t->users;
    for (Py_ssize_t i = 0; i < t->n_order; i++) {  /* the ages going on are closed */
        if (close_ages(t, t->slots[t->order[i]]) < 0) return NULL;
    }
    Report *c = slot_of(t, CLUSTER);
    if (c != NULL && close_ages(t, c) < 0) return NULL;
    PyObject *waits = spread_bytes(&u->waits), *ages = spread_bytes(&u->ages), *r = NULL;
    PyObject *recovery = u->has_recovery ? PyFloat_FromDouble(u->recovery) : Py_NewRef(Py_None);
    if (waits != NULL && ages != NULL && recovery != NULL) {
        PyObject *args = Py_BuildValue("(dddOO(ddd)O)", u->fresh, u->stale, u->errors, waits,
                                       ages, u->outage_requests, u->outage_served,
                                       u->outage_fresh, recovery);
        if (args != NULL) r = call_python("harness.virtual.users", "users_from", args, NULL);
        Py_XDECREF(args);
    }
    Py_XDECREF(waits);
    Py_XDECREF(ages);
    Py_XDECREF(recovery);
    return r;
}

/* attributes */

static PyObject *get_seq(Traffic *t, void *c) { return PyLong_FromLongLong(t->seq); }
static PyObject *get_stopped_slot(Traffic *t, void *c) { return PyLong_FromLong(t->stopped_slot); }
static PyObject *get_stopped_at(Traffic *t, void *c) { return PyFloat_FromDouble(t->stopped_at); }
static PyObject *get_refused(Traffic *t, void *c) {
    return Py_NewRef(t->refused ? t->refused : Py_None);
}
static PyObject *get_author_up(Traffic *t, void *c) { return PyBool_FromLong(t->author_up); }
static int set_author_up(Traffic *t, PyObject *v, void *c) {
    int up = v ? PyObject_IsTrue(v) : -1;
    if (up < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "author_up cannot be deleted");
        return -1;
    }
    t->author_up = up;
    return 0;
}
static PyObject *get_back(Traffic *t, void *c) {
    return t->has_back ? PyFloat_FromDouble(t->ims_back_at) : Py_NewRef(Py_None);
}
static int set_back(Traffic *t, PyObject *v, void *c) {
    if (v == NULL) {
        PyErr_SetString(PyExc_TypeError, "ims_back_at cannot be deleted");
        return -1;
    }
    if (v == Py_None) {
        t->has_back = 0;
        return 0;
    }
    double at = PyFloat_AsDouble(v);
    if (at == -1.0 && PyErr_Occurred()) return -1;
    t->has_back = 1;
    t->ims_back_at = at;
    return 0;
}

static PyGetSetDef Traffic_getset[] = {
    {"seq", (getter)get_seq, NULL, "events pushed so far", NULL},
    {"stopped_slot", (getter)get_stopped_slot, NULL, "the slot of the last hand-back", NULL},
    {"stopped_at", (getter)get_stopped_at, NULL, "the instant the last batch stopped at", NULL},
    {"refused", (getter)get_refused, NULL, "the token of the last REFUSED_TOKEN", NULL},
    {"author_up", (getter)get_author_up, (setter)set_author_up, "the author is up", NULL},
    {"ims_back_at", (getter)get_back, (setter)set_back, "when IMS came back", NULL},
    {NULL},
};

static PyMethodDef Traffic_methods[] = {
    {"push_action", (PyCFunction)Traffic_push_action, METH_VARARGS, NULL},
    {"push_sample", (PyCFunction)Traffic_push_sample, METH_O, NULL},
    {"head_at", (PyCFunction)Traffic_head_at, METH_NOARGS, NULL},
    {"pop_action", (PyCFunction)Traffic_pop_action, METH_NOARGS, NULL},
    {"run", (PyCFunction)Traffic_run, METH_VARARGS, NULL},
    {"forget_tokens", (PyCFunction)Traffic_forget_tokens, METH_NOARGS, NULL},
    {"try_call", (PyCFunction)Traffic_try_call, METH_VARARGS, NULL},
    {"complete", (PyCFunction)Traffic_complete, METH_VARARGS, NULL},
    {"flight", (PyCFunction)Traffic_flight, METH_O, NULL},
    {"open_report", (PyCFunction)Traffic_open_report, METH_VARARGS, NULL},
    {"report_wanted", (PyCFunction)Traffic_report_wanted, METH_VARARGS, NULL},
    {"close_report", (PyCFunction)Traffic_close_report, METH_VARARGS, NULL},
    {"set_callers", (PyCFunction)Traffic_set_callers, METH_O, NULL},
    {"flush", (PyCFunction)Traffic_flush, METH_O, NULL},
    {"note_recovery", (PyCFunction)Traffic_note_recovery, METH_O, NULL},
    {"set_outage", (PyCFunction)Traffic_set_outage, METH_O, NULL},
    {"counts", (PyCFunction)Traffic_counts, METH_NOARGS, NULL},
    {"seen", (PyCFunction)Traffic_seen, METH_NOARGS, NULL},
    {NULL},
};

static PyTypeObject TrafficType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "harness.virtual._traffic.Traffic",
    .tp_doc = PyDoc_STR("The traffic engine in C (harness/virtual/traffic.py's Traffic)."),
    .tp_basicsize = sizeof(Traffic),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Traffic_init,
    .tp_dealloc = (destructor)Traffic_dealloc,
    .tp_traverse = (traverseproc)Traffic_traverse,
    .tp_clear = (inquiry)Traffic_clear,
    .tp_methods = Traffic_methods,
    .tp_getset = Traffic_getset,
};

static struct PyModuleDef traffic_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "harness.virtual._traffic",
    .m_doc = PyDoc_STR("The virtual world's traffic engine in C."),
    .m_size = -1,
};

#ifndef TRAFFIC_SOURCE_DIGEST
#define TRAFFIC_SOURCE_DIGEST "unknown"
#endif

PyMODINIT_FUNC PyInit__traffic(void) {
    if (PyType_Ready(&TrafficType) < 0) return NULL;
    PyObject *m = PyModule_Create(&traffic_module);
    if (m == NULL) return NULL;
    /* the source it was built from (harness/virtual/build_engine.py): no stale build runs */
    if (PyModule_AddStringConstant(m, "SOURCE_DIGEST", TRAFFIC_SOURCE_DIGEST) < 0
        || PyModule_AddObjectRef(m, "Traffic", (PyObject *)&TrafficType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
