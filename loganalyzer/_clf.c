/*
 * A native scanner for the two NCSA presets (common, combined): the report's
 * fast path (see loganalyzer/native.py, which documents the contract).
 *
 * Why native: a report must look at every byte of every line to count it as
 * parsed or rejected, and with Polars expressions that check alone costs 1.6x
 * the benchmark's floor (issue 6). One pass in C does the check, the CLF time
 * and the numbers while the bytes are in cache.
 *
 * Why it cannot change a report: it only ever *accepts* a line it is sure of,
 * one of printable ASCII whose fields have the usual shape, and gives it
 * exactly what the regex path would. Every other line (malformed, blank, a
 * comment, non-ASCII, control bytes, an odd time) is handed back untouched for
 * the Polars path to parse or reject as before. tests/test_native.py holds the
 * two paths equal on generated and adversarial lines.
 *
 * Log lines are attacker-controlled: every read is bounded by the line's end,
 * and every output buffer is sized from the input before the scan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { KIND_COMMON = 0, KIND_COMBINED = 1 };

/* "Jan".."Dec" as three bytes in an int: the exact case Apache writes. */
static const uint32_t MONTHS[12] = {
    0x4a616e, 0x466562, 0x4d6172, 0x417072, 0x4d6179, 0x4a756e,
    0x4a756c, 0x417567, 0x536570, 0x4f6374, 0x4e6f76, 0x446563,
};

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int two(const unsigned char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

static int days_in_month(int y, int m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * "[dd/Mon/yyyy:HH:MM:SS +hhmm]" (exactly 28 bytes) to UTC microseconds.
 * Returns 0 for any other form or an impossible date, which sends the line to
 * the general parser: only the usual form is decided here.
 */
static int clf_time(const unsigned char *t, size_t n, int64_t *out) {
    static const int digits[] = {1, 2, 8, 9, 10, 11, 13, 14, 16, 17, 19, 20, 23, 24, 25, 26};
    if (n != 28 || t[0] != '[' || t[3] != '/' || t[7] != '/' || t[12] != ':' || t[15] != ':' ||
        t[18] != ':' || t[21] != ' ' || (t[22] != '+' && t[22] != '-') || t[27] != ']')
        return 0;
    for (size_t i = 0; i < sizeof digits / sizeof digits[0]; i++)
        if (!is_digit(t[digits[i]])) return 0;
    uint32_t name = (uint32_t)t[4] << 16 | (uint32_t)t[5] << 8 | t[6];
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (name == MONTHS[i]) month = i + 1;
    int day = two(t + 1), year = two(t + 8) * 100 + two(t + 10);
    int hh = two(t + 13), mi = two(t + 16), ss = two(t + 19);
    int oh = two(t + 23), om = two(t + 25);
    /* Years are kept to a range no log disputes; the rest go to the general parser. */
    if (month == 0 || year < 1970 || year > 2199 || day < 1 || day > days_in_month(year, month) ||
        hh > 23 || mi > 59 || ss > 59 || oh > 23 || om > 59)
        return 0;
    int64_t secs = days_from_civil(year, month, day) * 86400 + hh * 3600 + mi * 60 + ss;
    int64_t off = (int64_t)(oh * 60 + om) * 60;
    secs += t[22] == '-' ? off : -off;
    *out = secs * 1000000;
    return 1;
}

/* Bytes a line of printable ASCII never holds: control bytes, DEL, and 0x80 up. */
static int unprintable(unsigned char c) { return c < 0x20 || c > 0x7e; }

/*
 * The first byte in [p, e) that is unprintable or, with quotes set, a double
 * quote or a backslash; e if there is none. Sixteen bytes at a time where
 * SSE2 is available (every x86-64): user agents are most of a line's bytes.
 */
static const unsigned char *find_special(const unsigned char *p, const unsigned char *e, int quotes) {
#if defined(__SSE2__)
    const __m128i low = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    const __m128i quote = _mm_set1_epi8(quotes ? '"' : 0x7f);
    const __m128i slash = _mm_set1_epi8(quotes ? '\\' : 0x7f);
    while (e - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        /* Signed compare: 0x80 and up are negative, so below 0x20 too. */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, low), _mm_cmpeq_epi8(x, del)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)));
        int bits = _mm_movemask_epi8(m);
        if (bits) return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    for (; p < e; p++)
        if (unprintable(*p) || (quotes && (*p == '"' || *p == '\\'))) return p;
    return e;
}

/* One or more spaces and something after them, or NULL. */
static const unsigned char *spaces(const unsigned char *p, const unsigned char *e) {
    if (p >= e || *p != ' ') return NULL;
    while (p < e && *p == ' ') p++;
    return p < e ? p : NULL;
}

/* A non-empty run of printable non-spaces followed by a space (\S+ then " +"). */
static const unsigned char *token(const unsigned char *p, const unsigned char *e) {
    const unsigned char *s = p;
    while (p < e && *p > ' ' && *p < 0x7f) p++;
    return p == s || p >= e || *p != ' ' ? NULL : p;
}

/*
 * Inside a quoted field: (?:[^"\\]|\\.)* up to the closing quote. Returns the
 * quote's position, or e when the line ends first (the caller decides whether
 * that is allowed), or NULL for a backslash with nothing after it or an
 * unprintable byte.
 */
static const unsigned char *quoted(const unsigned char *p, const unsigned char *e) {
    for (;;) {
        p = find_special(p, e, 1);
        if (p >= e || *p == '"') return p;
        if (*p != '\\' || p + 1 >= e || unprintable(p[1])) return NULL;
        p += 2;
    }
}

typedef struct {
    int64_t ts, status, bytes;
    const unsigned char *client;
    size_t client_len;
} Fields;

/* 1 and the fields when the regex path would accept the line with these values. */
static int scan_line(const unsigned char *s, const unsigned char *e, int kind, Fields *f) {
    const unsigned char *p = s, *q;
    if (!(q = token(p, e))) return 0; /* client */
    f->client = p;
    f->client_len = (size_t)(q - p);
    if (!(p = spaces(q, e)) || !(q = token(p, e))) return 0; /* ident */
    if (!(p = spaces(q, e)) || !(q = token(p, e))) return 0; /* user */
    if (!(p = spaces(q, e)) || *p != '[') return 0;
    /* \[[^\]]*\]: the usual time has its first ']' at byte 27, and clf_time
       allows none before it. */
    if (e - p < 28 || !clf_time(p, 28, &f->ts)) return 0;
    q = p + 27;
    if (!(p = spaces(q + 1, e)) || *p != '"') return 0;
    q = quoted(p + 1, e); /* request */
    if (!q || q >= e) return 0;
    if (!(p = spaces(q + 1, e))) return 0;
    if (*p == '-') {
        f->status = -1;
        p++;
    } else {
        if (e - p < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2])) return 0;
        f->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
    }
    if (!(p = spaces(p, e))) return 0;
    if (*p == '-') {
        f->bytes = -1;
        p++;
    } else {
        int64_t v = 0;
        int n = 0;
        /* 18 digits always fit in an Int64; longer ones go to the general parser. */
        for (; p < e && is_digit(*p); p++, n++)
            if (n < 18) v = v * 10 + (*p - '0');
        if (n == 0 || n > 18) return 0;
        f->bytes = v;
    }
    /* (?:\s.*)?$ after the bytes: whatever follows a space, if printable. */
    if (kind == KIND_COMMON) return p == e || (*p == ' ' && find_special(p, e, 0) == e);
    if (!(p = spaces(p, e)) || *p != '"') return 0;
    q = quoted(p + 1, e); /* referer */
    if (!q || q >= e) return 0;
    if (!(p = spaces(q + 1, e)) || *p != '"') return 0;
    q = quoted(p + 1, e); /* user agent: its closing quote may be missing */
    if (!q) return 0;
    return q >= e || q + 1 == e || (q[1] == ' ' && find_special(q + 1, e, 0) == e);
}

static PyObject *new_bytes(Py_ssize_t n) { return PyBytes_FromStringAndSize(NULL, n); }

static int known_kind(int kind) {
    if (kind == KIND_COMMON || kind == KIND_COMBINED) return 1;
    PyErr_SetString(PyExc_ValueError, "kind must be 0 (common) or 1 (combined)");
    return 0;
}

/* (data, kind) arguments; on success the caller releases view. */
static int data_and_kind(PyObject *args, Py_buffer *view, int *kind) {
    if (!PyArg_ParseTuple(args, "y*i", view, kind)) return 0;
    if (known_kind(*kind)) return 1;
    PyBuffer_Release(view);
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int kind;
    if (!data_and_kind(args, &view, &kind)) return NULL;
    const unsigned char *data = view.buf, *end = data + view.len;
    Py_ssize_t lines = 0;
    for (const unsigned char *p = data; p < end; lines++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    PyObject *index = new_bytes(lines * 8), *ts = new_bytes(lines * 8);
    PyObject *status = new_bytes(lines * 4), *nbytes = new_bytes(lines * 8);
    PyObject *clients = new_bytes(view.len + lines + 1), *rest = new_bytes(view.len);
    PyObject *rest_index = new_bytes(lines * 8);
    if (!index || !ts || !status || !nbytes || !clients || !rest || !rest_index) goto fail;

    int64_t *o_index = (int64_t *)PyBytes_AS_STRING(index), *o_ts = (int64_t *)PyBytes_AS_STRING(ts);
    int32_t *o_status = (int32_t *)PyBytes_AS_STRING(status);
    int64_t *o_bytes = (int64_t *)PyBytes_AS_STRING(nbytes);
    int64_t *o_rest_index = (int64_t *)PyBytes_AS_STRING(rest_index);
    char *o_clients = PyBytes_AS_STRING(clients), *o_rest = PyBytes_AS_STRING(rest);
    Py_ssize_t n_ok = 0, n_rest = 0, clients_len = 0, rest_len = 0;

    Py_BEGIN_ALLOW_THREADS
    /* A leading newline: Polars sniffs compression from a buffer's first bytes. */
    o_clients[clients_len++] = '\n';
    Py_ssize_t line = 0;
    for (const unsigned char *p = data; p < end; line++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        Fields f;
        if (scan_line(p, e, kind, &f)) {
            o_index[n_ok] = line;
            o_ts[n_ok] = f.ts;
            o_status[n_ok] = (int32_t)f.status;
            o_bytes[n_ok] = f.bytes;
            memcpy(o_clients + clients_len, f.client, f.client_len);
            clients_len += (Py_ssize_t)f.client_len;
            o_clients[clients_len++] = '\n';
            n_ok++;
        } else {
            /* Verbatim, with its own line end (or none at the very end), so the
               general path sees exactly the bytes it would have. */
            memcpy(o_rest + rest_len, p, (size_t)(next - p));
            rest_len += next - p;
            o_rest_index[n_rest++] = line;
        }
        p = next;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&index, n_ok * 8) || _PyBytes_Resize(&ts, n_ok * 8) ||
        _PyBytes_Resize(&status, n_ok * 4) || _PyBytes_Resize(&nbytes, n_ok * 8) ||
        _PyBytes_Resize(&clients, clients_len) || _PyBytes_Resize(&rest, rest_len) ||
        _PyBytes_Resize(&rest_index, n_rest * 8)) {
        /* _PyBytes_Resize freed and cleared the one that failed. */
        Py_XDECREF(index), Py_XDECREF(ts), Py_XDECREF(status), Py_XDECREF(nbytes);
        Py_XDECREF(clients), Py_XDECREF(rest), Py_XDECREF(rest_index);
        return NULL;
    }
    return Py_BuildValue("nNNNNNNN", lines, index, clients, ts, status, nbytes, rest, rest_index);

fail:
    PyBuffer_Release(&view);
    Py_XDECREF(index), Py_XDECREF(ts), Py_XDECREF(status), Py_XDECREF(nbytes);
    Py_XDECREF(clients), Py_XDECREF(rest), Py_XDECREF(rest_index);
    return NULL;
}

/*
 * Reducer: the same scan, with the accepted lines summed per client as they
 * are read (requests, bytes, first and last time, status classes), across
 * every batch of a run. These are the partials of loganalyzer.aggregate.partials
 * for a report keyed by client alone; Polars never holds a frame of requests,
 * and memory grows with distinct clients only.
 *
 * A large batch is cut in two at a line end and each half summed on its own
 * thread into its own table: partials of any split merge exactly
 * (merge_partials), so a client may have a row in each table.
 */
enum { N_SUMS = 7 }; /* requests, bytes, 2xx, 3xx, 4xx, 5xx, other */

/* One client's sums together: one or two cache lines per request, not nine. */
typedef struct {
    uint64_t sums[N_SUMS];
    int64_t first, last;
} Acc;

/* An address's first 32 bytes kept in the entry (an IPv6 address in its
   usual form fits): a lookup touches nothing else. */
enum { INLINE = 4 };
typedef struct {
    uint64_t k[INLINE];
    uint64_t hash;
    uint64_t key; /* offset of the whole address in Table.names */
    uint32_t len;
    int32_t slot; /* index into acc, -1 when empty */
} Entry;

typedef struct {
    Entry *entries;
    size_t cap;
    Acc *acc;
    size_t n, acc_cap;
    /* "\n" then each address followed by "\n": Polars reads it as lines. */
    char *names;
    size_t names_len, names_cap;
    uint64_t seed; /* of hash_key */
    /* The two threads' tables sit side by side: keep them off one cache line. */
    char pad[128];
} Table;

/* The lines a part hands back, and its counts. The buffers grow as needed. */
typedef struct {
    char *rest;
    size_t rest_len, rest_cap;
    int64_t *index; /* each handed-back line's number within the part, from 0 */
    size_t n_rest, index_cap;
    Py_ssize_t lines, accepted;
    /* Reading a file: where the lines are, not their bytes, so a window of
       nothing but odd lines costs a few numbers (runs of lines, four int64
       each: file offset, length, first line's number, lines) and Python reads
       them back a piece at a time. buf's first byte is at file offset buf_off. */
    int spans;
    const unsigned char *buf;
    int64_t buf_off;
} Out;

static int out_span(Out *o, const unsigned char *p, size_t n, int64_t line) {
    int64_t off = o->buf_off + (int64_t)(p - o->buf);
    if (o->n_rest) {
        int64_t *last = &o->index[4 * (o->n_rest - 1)];
        if (last[0] + last[1] == off && last[2] + last[3] == line) {
            last[1] += (int64_t)n, last[3] += 1;
            return 1;
        }
    }
    if (4 * (o->n_rest + 1) > o->index_cap) {
        size_t cap = o->index_cap ? o->index_cap * 2 : 1024;
        int64_t *x = realloc(o->index, cap * sizeof(int64_t));
        if (!x) return 0;
        o->index = x, o->index_cap = cap;
    }
    int64_t *span = &o->index[4 * o->n_rest++];
    span[0] = off, span[1] = (int64_t)n, span[2] = line, span[3] = 1;
    return 1;
}

static int out_rest(Out *o, const unsigned char *p, size_t n, int64_t line) {
    if (o->spans) return out_span(o, p, n, line);
    if (o->rest_len + n > o->rest_cap) {
        size_t cap = o->rest_cap ? o->rest_cap : 1 << 16;
        while (cap < o->rest_len + n) cap *= 2;
        char *r = realloc(o->rest, cap);
        if (!r) return 0;
        o->rest = r, o->rest_cap = cap;
    }
    if (o->n_rest == o->index_cap) {
        size_t cap = o->index_cap ? o->index_cap * 2 : 1024;
        int64_t *x = realloc(o->index, cap * sizeof(int64_t));
        if (!x) return 0;
        o->index = x, o->index_cap = cap;
    }
    memcpy(o->rest + o->rest_len, p, n);
    o->rest_len += n;
    o->index[o->n_rest++] = line;
    return 1;
}

static void out_free(Out *o) {
    free(o->rest), free(o->index);
    memset(o, 0, sizeof *o);
}

typedef struct Groups Groups; /* below, with the grouped sums */

/* What one thread does to one part of a batch in memory. */
typedef struct {
    Table *table;
    const Groups *groups; /* NULL: per-client sums */
    Acc *gacc;
    const unsigned char *start, *end; /* whole lines */
    /* A batch in pieces: the line that starts after the part's last newline
       and ends in a later piece, copied whole (add_pieces). */
    unsigned char *tail;
    size_t tail_len;
    int kind;
    Out out;
    int failed; /* out of memory */
} Part;

/* Every byte counts: addresses of one IPv6 network share their first 16. The
   seed is random per run: client strings come from the log, and a fixed hash
   would let a crafted log make every insert probe a long chain. */
static uint64_t hash_key(const unsigned char *p, size_t n, uint64_t seed) {
    uint64_t h = (0x9e3779b97f4a7c15ULL ^ seed) ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xc2b2ae3d27d4eb4fULL;
        h ^= h >> 29;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = (h ^ v) * 0xc2b2ae3d27d4eb4fULL;
    }
    return h ^ (h >> 32);
}

static int table_init(Table *t) {
    memset(t, 0, sizeof *t);
    t->cap = 1024;
    t->entries = malloc(t->cap * sizeof(Entry));
    t->acc_cap = 512;
    t->acc = malloc(t->acc_cap * sizeof(Acc));
    t->names_cap = 1 << 16;
    t->names = malloc(t->names_cap);
    if (!t->entries || !t->acc || !t->names) return 0;
    for (size_t i = 0; i < t->cap; i++) t->entries[i].slot = -1;
    t->names[t->names_len++] = '\n';
    return 1;
}

static void table_free(Table *t) {
    free(t->entries), free(t->acc), free(t->names);
    memset(t, 0, sizeof *t);
}

static int table_grow(Table *t) {
    size_t cap = t->cap * 2;
    Entry *e = malloc(cap * sizeof(Entry));
    if (!e) return 0;
    for (size_t i = 0; i < cap; i++) e[i].slot = -1;
    for (size_t j = 0; j < t->cap; j++) {
        Entry *old = &t->entries[j];
        if (old->slot < 0) continue;
        size_t i = old->hash & (cap - 1);
        while (e[i].slot >= 0) i = (i + 1) & (cap - 1);
        e[i] = *old;
    }
    free(t->entries);
    t->entries = e;
    t->cap = cap;
    return 1;
}

/* A client's key: its first 32 bytes, its length, where it is, and its hash. */
typedef struct {
    uint64_t k[INLINE], hash;
    const unsigned char *client;
    uint32_t len;
} Key;

static void make_key(Key *key, const unsigned char *client, size_t len, uint64_t seed) {
    memset(key->k, 0, sizeof key->k);
    memcpy(key->k, client, len < sizeof key->k ? len : sizeof key->k);
    key->len = (uint32_t)len, key->client = client;
    key->hash = hash_key(client, len, seed);
}

/* The client's slot in acc, added if new (with ts as its first and last time);
   -1 when out of memory. */
static int32_t table_slot(Table *t, const Key *key, int64_t ts) {
    size_t i = key->hash & (t->cap - 1);
    Entry *e = t->entries;
    uint32_t klen = key->len;
    while (e[i].slot >= 0) {
        if (e[i].hash == key->hash && e[i].len == klen && e[i].k[0] == key->k[0] &&
            e[i].k[1] == key->k[1] && e[i].k[2] == key->k[2] && e[i].k[3] == key->k[3] &&
            (klen <= 32 || memcmp(t->names + e[i].key + 32, key->client + 32, klen - 32) == 0))
            return e[i].slot;
        i = (i + 1) & (t->cap - 1);
    }
    if (t->n == t->acc_cap) {
        Acc *acc = realloc(t->acc, t->acc_cap * 2 * sizeof(Acc));
        if (!acc) return -1;
        t->acc = acc;
        t->acc_cap *= 2;
    }
    while (t->names_len + klen + 1 > t->names_cap) {
        char *names = realloc(t->names, t->names_cap * 2);
        if (!names) return -1;
        t->names = names;
        t->names_cap *= 2;
    }
    int32_t slot = (int32_t)t->n++;
    memcpy(e[i].k, key->k, sizeof e[i].k);
    e[i].hash = key->hash, e[i].key = t->names_len, e[i].len = klen, e[i].slot = slot;
    memcpy(t->names + t->names_len, key->client, klen);
    t->names_len += klen;
    t->names[t->names_len++] = '\n';
    Acc *a = &t->acc[slot];
    memset(a, 0, sizeof *a);
    a->first = a->last = ts;
    if (t->n * 2 > t->cap && !table_grow(t)) return -1;
    return slot;
}

/*
 * Grouped sums (a report whose keys all come from the client's lookup, such
 * as --by region). Each client is looked up once, by Python, and from then on
 * its lines are summed straight into its group's sums. What is kept per
 * client is only its key and its group, 32 bytes in the table, so memory
 * grows little with the number of clients (issue 6: a log four times longer
 * must not need much more). Clients not yet looked up are summed in the
 * per-thread tables above until Python assigns them a group.
 *
 * The group's distinct clients are counted as report rows count them: by the
 * canonical address (the "who"), which Python gives with the group. A who is
 * kept in the table as a key of its own, so a second spelling of an address
 * finds it there and is not counted twice.
 */
enum { G_EMPTY = -2, G_DROPPED = -1 };

typedef struct {
    uint64_t k[2];  /* the key's first 16 bytes, zero-padded */
    uint32_t hash;  /* the low half of hash_key */
    uint32_t tail;  /* offset of bytes 17.. in Groups.tails */
    uint32_t len;
    int32_t group;  /* G_DROPPED: filtered out; G_EMPTY: a free slot */
} GEntry;

struct Groups {
    GEntry *entries;
    size_t cap, n;
    char *tails;
    size_t tails_len, tails_cap;
    Acc *acc[2]; /* each thread's sums per group */
    uint64_t *unique;
    size_t n_groups, groups_cap;
};

/*
 * The table of clients is mapped on its own where it can be, so that growing it
 * is an mremap and a rehash in place (groups_grow), not a new table beside the
 * old: at the growth of the 20M-line benchmark log's table the old 14 MB and
 * the new 21 MB were the top of the run's peak.
 */
#ifdef __linux__
/* Lengths in bytes: the kernel rounds them up to whole pages, as it mapped them. */
static GEntry *entries_resize(GEntry *old, size_t old_cap, size_t cap) {
    size_t was = old_cap * sizeof(GEntry), size = cap * sizeof(GEntry);
    void *p = old ? mremap(old, was, size, MREMAP_MAYMOVE)
                  : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static void entries_free(GEntry *e, size_t cap) {
    if (e) munmap(e, cap * sizeof(GEntry));
}
#else
static GEntry *entries_resize(GEntry *old, size_t old_cap, size_t cap) {
    (void)old_cap;
    return realloc(old, cap * sizeof(GEntry));
}
static void entries_free(GEntry *e, size_t cap) {
    (void)cap;
    free(e);
}
#endif

static int groups_init(Groups *g) {
    memset(g, 0, sizeof *g);
    g->entries = entries_resize(NULL, 0, 1024);
    if (!g->entries) return 0;
    g->cap = 1024;
    for (size_t i = 0; i < g->cap; i++) g->entries[i].group = G_EMPTY;
    return 1;
}

static void groups_free(Groups *g) {
    entries_free(g->entries, g->cap);
    free(g->tails), free(g->acc[0]), free(g->acc[1]), free(g->unique);
    memset(g, 0, sizeof *g);
}

/* Where a key's probe starts. The table grows by half, not double (a quarter
   less memory on average), so the hash is mapped onto it by a multiply, not a mask. */
static size_t g_home(size_t cap, uint32_t hash) { return (size_t)(((uint64_t)hash * cap) >> 32); }

static size_t g_next(size_t cap, size_t i) { return i + 1 == cap ? 0 : i + 1; }

/* The key's group, or G_EMPTY when it is not in the table. */
static int32_t groups_find(const Groups *g, const Key *key) {
    size_t i = g_home(g->cap, (uint32_t)key->hash);
    const GEntry *e = g->entries;
    for (; e[i].group != G_EMPTY; i = g_next(g->cap, i)) {
        if (e[i].hash == (uint32_t)key->hash && e[i].len == key->len && e[i].k[0] == key->k[0] &&
            e[i].k[1] == key->k[1] &&
            (key->len <= 16 ||
             memcmp(g->tails + e[i].tail, key->client + 16, key->len - 16) == 0))
            return e[i].group;
    }
    return G_EMPTY;
}

/*
 * Grow the table by half, in place: each entry not yet moved is taken out and
 * put at the first slot from its new home that is free or holds an entry not
 * yet moved (which is taken out in turn). A moved entry never moves again, so
 * every slot between an entry's home and its place ends up full, as probing
 * needs.
 */
static int groups_grow(Groups *g) {
    size_t old_cap = g->cap, cap = old_cap + old_cap / 2;
    if (cap > UINT32_MAX) return 0;
    uint8_t *moved = calloc(cap / 8 + 1, 1);
    if (!moved) return 0;
    GEntry *e = entries_resize(g->entries, old_cap, cap);
    if (!e) {
        free(moved);
        return 0;
    }
    for (size_t i = old_cap; i < cap; i++) e[i].group = G_EMPTY;
    for (size_t j = 0; j < old_cap; j++) {
        if (e[j].group == G_EMPTY || (moved[j / 8] >> (j % 8) & 1)) continue;
        GEntry cur = e[j];
        e[j].group = G_EMPTY;
        for (;;) {
            size_t i = g_home(cap, cur.hash);
            while (e[i].group != G_EMPTY && (moved[i / 8] >> (i % 8) & 1)) i = g_next(cap, i);
            GEntry out = e[i];
            e[i] = cur;
            moved[i / 8] |= (uint8_t)(1u << (i % 8));
            if (out.group == G_EMPTY) break;
            cur = out;
        }
    }
    free(moved);
    g->entries = e;
    g->cap = cap;
    return 1;
}

/* Add a key that is not in the table. 0 when out of memory (or past 4 GB of
   long keys, which the 32-bit offsets cannot reach). */
static int groups_insert(Groups *g, const Key *key, int32_t group) {
    if ((g->n + 1) * 4 > g->cap * 3 && !groups_grow(g)) return 0;
    uint32_t tail = 0;
    if (key->len > 16) {
        size_t more = key->len - 16;
        if (g->tails_len + more > UINT32_MAX) return 0;
        if (g->tails_len + more > g->tails_cap) {
            size_t cap = g->tails_cap ? g->tails_cap : 1 << 16;
            while (cap < g->tails_len + more) cap *= 2;
            char *t = realloc(g->tails, cap);
            if (!t) return 0;
            g->tails = t, g->tails_cap = cap;
        }
        tail = (uint32_t)g->tails_len;
        memcpy(g->tails + g->tails_len, key->client + 16, more);
        g->tails_len += more;
    }
    size_t i = g_home(g->cap, (uint32_t)key->hash);
    while (g->entries[i].group != G_EMPTY) i = g_next(g->cap, i);
    GEntry *e = &g->entries[i];
    e->k[0] = key->k[0], e->k[1] = key->k[1];
    e->hash = (uint32_t)key->hash, e->tail = tail, e->len = key->len, e->group = group;
    g->n++;
    return 1;
}

static void acc_empty(Acc *a) {
    memset(a->sums, 0, sizeof a->sums);
    a->first = INT64_MAX, a->last = INT64_MIN;
}

static void acc_fold(Acc *into, const Acc *from) {
    for (int s = 0; s < N_SUMS; s++) into->sums[s] += from->sums[s];
    if (from->first < into->first) into->first = from->first;
    if (from->last > into->last) into->last = from->last;
}

/* Room for groups [0, n). 0 when out of memory. */
static int groups_reserve(Groups *g, size_t n) {
    if (n <= g->n_groups) return 1;
    if (n > g->groups_cap) {
        size_t cap = g->groups_cap ? g->groups_cap : 256;
        while (cap < n) cap *= 2;
        for (int j = 0; j < 2; j++) {
            Acc *a = realloc(g->acc[j], cap * sizeof(Acc));
            if (!a) return 0;
            g->acc[j] = a;
        }
        uint64_t *u = realloc(g->unique, cap * sizeof(uint64_t));
        if (!u) return 0;
        g->unique = u, g->groups_cap = cap;
    }
    for (size_t i = g->n_groups; i < n; i++) {
        acc_empty(&g->acc[0][i]), acc_empty(&g->acc[1][i]);
        g->unique[i] = 0;
    }
    g->n_groups = n;
    return 1;
}

/*
 * Lines go through in groups: parse a group and ask the memory for each
 * client's table entry, then look them up and ask for their sums, then add.
 * A table of a hundred thousand clients is far bigger than the caches, and
 * waiting for each entry in turn was most of the time.
 */
enum { GROUP = 16 };

/* Sum the lines in [data, end), each ending in a newline but perhaps the
   last; hand the rest to o. 0 when out of memory. */
static int sum_lines(Table *t, const Groups *g, Acc *gacc, int kind, const unsigned char *data,
                     const unsigned char *end, Out *o) {
    /* Counters in locals: the two threads' Outs share a cache line. */
    Py_ssize_t line = o->lines, accepted = 0;
    Fields f[GROUP];
    Key keys[GROUP];
    int32_t slots[GROUP];
    /* Where each line's sums go: its group (with g), a client of t, or nowhere
       (its client is filtered out). Indices, not pointers: t->acc can move. */
    enum { TO_NOWHERE, TO_GROUP, TO_CLIENT } to[GROUP];
    const unsigned char *p = data;
    int ok = 1;
    while (p < end && ok) {
        int n = 0;
        for (; n < GROUP && p < end; line++) {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            const unsigned char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
            if (scan_line(p, e, kind, &f[n])) {
                make_key(&keys[n], f[n].client, f[n].client_len, t->seed);
                if (g)
                    __builtin_prefetch(&g->entries[g_home(g->cap, (uint32_t)keys[n].hash)]);
                else
                    __builtin_prefetch(&t->entries[keys[n].hash & (t->cap - 1)]);
                n++;
            } else if (!out_rest(o, p, (size_t)(next - p), line)) {
                /* Verbatim, with its own line end, for the general parser. */
                ok = 0;
                break;
            }
            p = next;
        }
        for (int j = 0; j < n && ok; j++) {
            int32_t group = g ? groups_find(g, &keys[j]) : G_EMPTY;
            if (group != G_EMPTY) {
                to[j] = group >= 0 ? TO_GROUP : TO_NOWHERE;
                slots[j] = group;
            } else if ((slots[j] = table_slot(t, &keys[j], f[j].ts)) < 0) {
                ok = 0;
            } else {
                to[j] = TO_CLIENT;
                __builtin_prefetch(&t->acc[slots[j]], 1);
            }
        }
        for (int j = 0; j < n && ok; j++) {
            accepted++;
            if (to[j] == TO_NOWHERE) continue;
            Acc *a = to[j] == TO_GROUP ? &gacc[slots[j]] : &t->acc[slots[j]];
            if (f[j].ts < a->first) a->first = f[j].ts;
            if (f[j].ts > a->last) a->last = f[j].ts;
            a->sums[0] += 1;
            /* Polars sums an Int64 column skipping nulls ("-"), wrapping on overflow. */
            if (f[j].bytes >= 0) a->sums[1] += (uint64_t)f[j].bytes;
            int64_t klass = f[j].status < 0 ? 0 : f[j].status / 100;
            a->sums[klass >= 2 && klass <= 5 ? klass : 6] += 1;
        }
    }
    o->lines = line;
    o->accepted += accepted;
    return ok;
}

static void *sum_part(void *arg) {
    Part *w = arg;
    w->failed = !sum_lines(w->table, w->groups, w->gacc, w->kind, w->start, w->end, &w->out) ||
                (w->tail_len && !sum_lines(w->table, w->groups, w->gacc, w->kind, w->tail,
                                           w->tail + w->tail_len, &w->out));
    return NULL;
}

/*
 * One thread's share of a window of a file: the lines that start in
 * [start, stop), read with pread into a buffer of its own. Read and summed a
 * megabyte at a time, each piece is still in the cache when it is parsed,
 * and nothing is read twice or copied through Python.
 */
typedef struct {
    Table *table;
    const Groups *groups; /* NULL: per-client sums */
    Acc *gacc;
    int fd, kind;
    int64_t start, stop;
    int find_start; /* start is not known to begin a line: skip to the next one */
    int64_t end;    /* out: just after the last line summed */
    Out out;
    int err;    /* out: errno of a failed read */
    int failed; /* out: out of memory */
} ReadPart;

enum { READ_CHUNK = 1 << 20 };

static ssize_t pread_full(int fd, unsigned char *buf, size_t n, int64_t off, int *err) {
    for (;;) {
        ssize_t got = pread(fd, buf, n, (off_t)off);
        if (got >= 0) return got;
        if (errno != EINTR) {
            *err = errno;
            return -1;
        }
    }
}

/* The last newline in [p, end), or NULL. */
static unsigned char *last_newline(unsigned char *p, unsigned char *end) {
    while (end > p)
        if (*--end == '\n') return end;
    return NULL;
}

static void *read_part(void *arg) {
    ReadPart *w = arg;
    size_t cap = READ_CHUNK, len = 0;
    unsigned char *buf = malloc(cap);
    /* A line starts at start if start is 0 or a newline ends start - 1. */
    int skipping = w->find_start && w->start > 0;
    int64_t pos = skipping ? w->start - 1 : w->start; /* the file offset of buf[0] */
    w->end = skipping ? -1 : w->start; /* -1: no line of ours starts before the end */
    if (!buf) {
        w->failed = 1;
        return NULL;
    }
    for (;;) {
        if (len == cap) { /* one line longer than the buffer */
            unsigned char *b = realloc(buf, cap * 2);
            if (!b) {
                w->failed = 1;
                break;
            }
            buf = b, cap *= 2;
        }
        ssize_t got = pread_full(w->fd, buf + len, cap - len, pos + (int64_t)len, &w->err);
        if (got < 0) break;
        int eof = got == 0;
        len += (size_t)got;
        unsigned char *p = buf, *end = buf + len;
        if (skipping) {
            unsigned char *nl = memchr(buf, '\n', len);
            if (!nl) { /* still inside the line that began before our share */
                pos += (int64_t)len, len = 0;
                if (eof) break;
                continue;
            }
            skipping = 0;
            p = nl + 1;
        }
        int64_t p_off = pos + (p - buf);
        if (p_off >= w->stop) { /* the next line is the next share's */
            w->end = p_off;
            break;
        }
        /* The last line that starts before stop ends at the first newline at or
           after stop - 1; p starts before stop, so that is not before p. */
        unsigned char *upto = NULL; /* end of our share, once it is in the buffer */
        int64_t from = w->stop - 1 - pos;
        if (from < (int64_t)len) {
            unsigned char *nl = memchr(buf + from, '\n', len - (size_t)from);
            if (nl) upto = nl + 1;
        }
        if (!upto && eof) upto = end; /* the file's last line, perhaps without a newline */
        unsigned char *whole = upto;
        if (!whole) {
            unsigned char *nl = last_newline(p, end);
            whole = nl ? nl + 1 : p;
        }
        w->out.buf = buf, w->out.buf_off = pos;
        if (whole > p &&
            !sum_lines(w->table, w->groups, w->gacc, w->kind, p, whole, &w->out)) {
            w->failed = 1;
            break;
        }
        w->end = pos + (whole - buf);
        if (upto) break;
        /* Keep the unfinished line at the front and read on. */
        size_t keep = (size_t)(end - whole);
        memmove(buf, whole, keep);
        pos += (int64_t)(whole - buf);
        len = keep;
    }
    free(buf);
    return NULL;
}

/* work(a), and work(b) on a thread of its own when two (in turn if no thread
   can be started). */
static void both(void *(*work)(void *), void *a, void *b, int two) {
    pthread_t thread;
    int threaded = two && pthread_create(&thread, NULL, work, b) == 0;
    work(a);
    if (threaded)
        pthread_join(thread, NULL);
    else if (two)
        work(b);
}

/*
 * A batch summed a piece at a time by whoever is free: the thread that adds
 * it (into tables[0]) and a helper (into tables[1]). A gzipped log's reader
 * thread waited on the full read-ahead queue while the consumer summed alone;
 * now it sums pieces meanwhile (help()) and inflates again once there is
 * room. Two threads of our own beside the inflating one were slower: the
 * reader's spare time comes at no fixed point of a batch.
 */
typedef struct {
    Part *parts; /* NULL: no batch is being added */
    int n, next; /* parts, and the first not yet taken */
    int helping; /* parts the helper has taken and not finished */
} Job;

typedef struct {
    PyObject_HEAD
    Table tables[2];
    Groups groups;
    int grouped; /* sums per group (see Groups), not per client */
    int busy;    /* a batch is being added (the GIL is released meanwhile) */
    int broken; /* out of memory part-way: the sums are incomplete */
    int synced; /* mu and cv are initialised */
    int helper; /* a thread is in help() */
    pthread_mutex_t mu; /* guards job */
    pthread_cond_t cv;  /* a job was posted, or the helper finished a part */
    Job job;
} Reducer;

static int Reducer_init(Reducer *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"seed", "grouped", NULL};
    unsigned long long seed = 0;
    int grouped = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Kp:Reducer", names, &seed, &grouped))
        return -1;
    groups_free(&self->groups);
    if (!groups_init(&self->groups)) {
        PyErr_NoMemory();
        return -1;
    }
    self->grouped = grouped;
    for (int j = 0; j < 2; j++) {
        table_free(&self->tables[j]);
        if (!table_init(&self->tables[j])) {
            PyErr_NoMemory();
            return -1;
        }
        /* Both tables alike: folding one into the other rehashes with it. */
        self->tables[j].seed = seed;
    }
    if (!self->synced) {
        if (pthread_mutex_init(&self->mu, NULL) != 0) {
            PyErr_NoMemory();
            return -1;
        }
        if (pthread_cond_init(&self->cv, NULL) != 0) {
            pthread_mutex_destroy(&self->mu);
            PyErr_NoMemory();
            return -1;
        }
        self->synced = 1;
    }
    memset(&self->job, 0, sizeof self->job);
    self->busy = self->broken = 0;
    return 0;
}

static void Reducer_dealloc(Reducer *self) {
    for (int j = 0; j < 2; j++) table_free(&self->tables[j]);
    groups_free(&self->groups);
    if (self->synced) pthread_mutex_destroy(&self->mu), pthread_cond_destroy(&self->cv);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int usable(Reducer *self) {
    if (!self->tables[0].entries || !self->tables[1].entries || !self->groups.entries) {
        PyErr_SetString(PyExc_RuntimeError, "Reducer was not initialised");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Reducer is in use by another thread");
        return 0;
    }
    if (self->broken) {
        PyErr_SetString(PyExc_MemoryError, "Reducer ran out of memory earlier");
        return 0;
    }
    return 1;
}

/* (lines, accepted, rest, rest_index): the parts' handed-back lines, numbered. */
static PyObject *join_outs(Out **outs, int n) {
    Py_ssize_t lines = 0, accepted = 0, rest_len = 0, n_rest = 0;
    for (int j = 0; j < n; j++) {
        lines += outs[j]->lines, accepted += outs[j]->accepted;
        rest_len += (Py_ssize_t)outs[j]->rest_len, n_rest += (Py_ssize_t)outs[j]->n_rest;
    }
    PyObject *rest = new_bytes(rest_len), *rest_index = new_bytes(n_rest * 8), *result = NULL;
    if (rest && rest_index) {
        char *o_rest = PyBytes_AS_STRING(rest);
        int64_t *o_index = (int64_t *)PyBytes_AS_STRING(rest_index);
        Py_ssize_t base = 0;
        for (int j = 0; j < n; j++) {
            if (outs[j]->rest_len) memcpy(o_rest, outs[j]->rest, outs[j]->rest_len);
            o_rest += outs[j]->rest_len;
            for (size_t r = 0; r < outs[j]->n_rest; r++) *o_index++ = outs[j]->index[r] + base;
            base += outs[j]->lines;
        }
        result = Py_BuildValue("nnOO", lines, accepted, rest, rest_index);
    }
    Py_XDECREF(rest), Py_XDECREF(rest_index);
    return result;
}

/* (end, lines, accepted, spans): the parts' runs of handed-back lines, their
   line numbers counted from the first part's first line. */
static PyObject *join_spans(Out **outs, int n, int64_t end) {
    Py_ssize_t lines = 0, accepted = 0, n_spans = 0;
    for (int j = 0; j < n; j++) {
        lines += outs[j]->lines, accepted += outs[j]->accepted;
        n_spans += (Py_ssize_t)outs[j]->n_rest;
    }
    PyObject *spans = new_bytes(n_spans * 4 * 8);
    if (!spans) return NULL;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(spans);
    Py_ssize_t base = 0;
    for (int j = 0; j < n; j++) {
        for (size_t r = 0; r < outs[j]->n_rest; r++, o += 4) {
            memcpy(o, &outs[j]->index[4 * r], 4 * sizeof(int64_t));
            o[2] += base;
        }
        base += outs[j]->lines;
    }
    return Py_BuildValue("LnnN", (long long)end, lines, accepted, spans);
}

/* The job's next part, or -1 when every part is taken. With mu held. */
static int job_take(Job *job) { return job->parts && job->next < job->n ? job->next++ : -1; }

/* Sum a part into the adding thread's tables (who 0) or the helper's (1). */
static void sum_as(Reducer *self, Part *w, int who) {
    w->table = &self->tables[who];
    w->gacc = self->groups.acc[who];
    sum_part(w);
}

/* Post the parts for a helper and sum them until none is left; return once
   the helper has finished the parts it took. Without the GIL. */
static void run_job(Reducer *self, Part *parts, int n) {
    pthread_mutex_lock(&self->mu);
    self->job = (Job){.parts = parts, .n = n};
    pthread_cond_broadcast(&self->cv);
    for (int i; (i = job_take(&self->job)) >= 0;) {
        pthread_mutex_unlock(&self->mu);
        sum_as(self, &parts[i], 0);
        pthread_mutex_lock(&self->mu);
    }
    while (self->job.helping) pthread_cond_wait(&self->cv, &self->mu);
    self->job.parts = NULL;
    pthread_mutex_unlock(&self->mu);
}

/* The result of adding the parts; frees their outs and tails. */
static PyObject *added(Reducer *self, Part *parts, int n) {
    PyObject *result = NULL;
    Out **outs = malloc((size_t)(n ? n : 1) * sizeof(Out *));
    int failed = 0;
    for (int j = 0; j < n; j++) failed |= parts[j].failed;
    if (failed) {
        self->broken = 1;
        PyErr_NoMemory();
    } else if (!outs) {
        PyErr_NoMemory();
    } else {
        for (int j = 0; j < n; j++) outs[j] = &parts[j].out;
        result = join_outs(outs, n);
    }
    for (int j = 0; j < n; j++) {
        out_free(&parts[j].out);
        free(parts[j].tail);
    }
    free(outs);
    return result;
}

static PyObject *Reducer_add(Reducer *self, PyObject *args) {
    Py_buffer view;
    int kind, threads = 2;
    if (!PyArg_ParseTuple(args, "y*i|i", &view, &kind, &threads)) return NULL;
    if (!known_kind(kind)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (!usable(self)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *data = view.buf, *end = data + view.len;
    Part parts[2];
    memset(parts, 0, sizeof parts);
    int n_parts = 1;
    const Groups *groups = self->grouped ? &self->groups : NULL;
    parts[0] = (Part){.table = &self->tables[0], .groups = groups, .gacc = self->groups.acc[0],
                      .start = data, .end = end, .kind = kind};
    self->busy = 1;

    Py_BEGIN_ALLOW_THREADS
    /* Below a megabyte a thread costs more than it saves. */
    const unsigned char *cut =
        view.len > (1 << 20) && threads > 1
            ? memchr(data + view.len / 2, '\n', (size_t)(view.len - view.len / 2))
            : NULL;
    if (cut && cut + 1 < end) {
        n_parts = 2;
        parts[0].end = cut + 1;
        parts[1] = (Part){.table = &self->tables[1], .groups = groups,
                          .gacc = self->groups.acc[1], .start = cut + 1, .end = end,
                          .kind = kind};
    }
    both(sum_part, &parts[0], &parts[1], n_parts == 2);
    Py_END_ALLOW_THREADS

    self->busy = 0;
    PyBuffer_Release(&view);
    return added(self, parts, n_parts);
}

/* Cut a batch given in pieces (whole lines in all; a line may run across
   pieces) into a part per piece: the lines that start in it, the one that
   runs on into later pieces copied whole into its tail. 0 when out of memory
   (the tails made so far are the caller's to free). */
static int piece_parts(const Py_buffer *views, int n, Part *parts) {
    int starts_line = 1; /* the next piece starts a line */
    for (int i = 0; i < n; i++) {
        const unsigned char *p = views[i].buf, *e = p + views[i].len;
        Part *w = &parts[i];
        w->start = w->end = p;
        if (p == e) continue;
        const unsigned char *first = memchr(p, '\n', (size_t)(e - p)), *last = e - 1;
        while (first && *last != '\n') last--;
        const unsigned char *run = NULL; /* the start of a line that runs on */
        if (first) {
            w->start = starts_line ? p : first + 1;
            w->end = last + 1;
            if (last + 1 < e) run = last + 1;
        } else if (starts_line) {
            run = p;
        }
        starts_line = e[-1] == '\n';
        if (!run) continue;
        size_t len = (size_t)(e - run);
        const unsigned char *nl = NULL;
        int j = i + 1;
        for (; j < n && !nl; j++) {
            const unsigned char *q = views[j].buf;
            nl = memchr(q, '\n', (size_t)views[j].len);
            len += nl ? (size_t)(nl - q) + 1 : (size_t)views[j].len;
        }
        unsigned char *t = malloc(len), *o = t;
        if (!t) return 0;
        memcpy(o, run, (size_t)(e - run)), o += e - run;
        for (int k = i + 1; k < j; k++) {
            const unsigned char *q = views[k].buf;
            size_t m = k + 1 == j && nl ? (size_t)(nl - q) + 1 : (size_t)views[k].len;
            memcpy(o, q, m), o += m;
        }
        w->tail = t, w->tail_len = len;
    }
    return 1;
}

/*
 * add_pieces(pieces, kind, helped=False) -> (lines, accepted, rest, rest_index)
 * add() of the batch the pieces make together, never joined: an inflated
 * batch arrives as the decompressor's pieces, and joining them was a copy
 * of every byte on the reader's thread. helped: the pieces are summed one at
 * a time by this thread and whichever calls help() meanwhile (Job).
 */
static PyObject *Reducer_add_pieces(Reducer *self, PyObject *args) {
    PyObject *list;
    int kind, helped = 0;
    if (!PyArg_ParseTuple(args, "Oi|p", &list, &kind, &helped) || !known_kind(kind)) return NULL;
    if (!usable(self)) return NULL;
    PyObject *seq = PySequence_Fast(list, "pieces must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > INT_MAX / 2) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many pieces");
        return NULL;
    }
    Py_buffer *views = calloc((size_t)n + 1, sizeof(Py_buffer));
    Part *parts = calloc((size_t)n + 1, sizeof(Part));
    Py_ssize_t got = 0;
    PyObject *result = NULL;
    if (!views || !parts) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++)
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &views[got], PyBUF_SIMPLE) < 0)
            goto done;
    const Groups *groups = self->grouped ? &self->groups : NULL;
    for (Py_ssize_t j = 0; j < n; j++)
        parts[j] = (Part){.table = &self->tables[0], .groups = groups,
                          .gacc = self->groups.acc[0], .kind = kind};
    int cut;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    cut = piece_parts(views, (int)n, parts);
    if (cut && helped) {
        run_job(self, parts, (int)n);
    } else if (cut) {
        for (Py_ssize_t j = 0; j < n; j++) sum_part(&parts[j]);
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (!cut) {
        PyErr_NoMemory();
        for (Py_ssize_t j = 0; j < n; j++) free(parts[j].tail);
    } else {
        result = added(self, parts, (int)n);
    }
done:
    for (Py_ssize_t j = 0; j < got; j++) PyBuffer_Release(&views[j]);
    free(views), free(parts);
    Py_DECREF(seq);
    return result;
}

/*
 * help(wait_ms) -> parts summed
 * Sum pieces of the batch another thread is adding with helped=True, if one
 * is posted within wait_ms, until none is left. One helper at a time: a
 * second gets 0 at once. The helper's sums go to a table of their own.
 */
static PyObject *Reducer_help(Reducer *self, PyObject *args) {
    int wait_ms, done = 0, alone;
    if (!PyArg_ParseTuple(args, "i", &wait_ms)) return NULL;
    if (!self->synced) {
        PyErr_SetString(PyExc_RuntimeError, "Reducer was not initialised");
        return NULL;
    }
    if (wait_ms < 0) wait_ms = 0;
    Py_BEGIN_ALLOW_THREADS
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long long ns = until.tv_nsec + (long long)(wait_ms % 1000) * 1000000LL;
    until.tv_sec += wait_ms / 1000 + (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&self->mu);
    alone = !self->helper;
    self->helper = 1;
    while (alone && (!self->job.parts || self->job.next >= self->job.n))
        if (pthread_cond_timedwait(&self->cv, &self->mu, &until) == ETIMEDOUT) break;
    for (int i; alone && (i = job_take(&self->job)) >= 0; done++) {
        Part *w = &self->job.parts[i];
        self->job.helping++;
        pthread_mutex_unlock(&self->mu);
        sum_as(self, w, 1);
        pthread_mutex_lock(&self->mu);
        if (--self->job.helping == 0) pthread_cond_broadcast(&self->cv);
    }
    if (alone) self->helper = 0;
    pthread_mutex_unlock(&self->mu);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(done);
}

/*
 * read(fd, offset, size, kind) -> (end, lines, accepted, spans)
 * Sum the lines of a plain file that start in [offset, offset + size), where
 * offset starts a line; end is just after the last of them (the file's size
 * at its end). Two threads read and sum a half each.
 */
static PyObject *Reducer_read(Reducer *self, PyObject *args) {
    int fd, kind;
    long long offset, size;
    if (!PyArg_ParseTuple(args, "iLLi", &fd, &offset, &size, &kind) || !known_kind(kind))
        return NULL;
    if (offset < 0 || size < 1) {
        PyErr_SetString(PyExc_ValueError, "offset must be >= 0 and size >= 1");
        return NULL;
    }
    if (!usable(self)) return NULL;
    ReadPart parts[2];
    memset(parts, 0, sizeof parts);
    int64_t mid = offset + size / 2, stop = offset + size;
    const Groups *groups = self->grouped ? &self->groups : NULL;
    parts[0] = (ReadPart){.table = &self->tables[0], .groups = groups,
                          .gacc = self->groups.acc[0], .fd = fd, .kind = kind, .start = offset,
                          .stop = size > 1 ? mid : stop};
    parts[1] = (ReadPart){.table = &self->tables[1], .groups = groups,
                          .gacc = self->groups.acc[1], .fd = fd, .kind = kind, .start = mid,
                          .stop = stop, .find_start = 1};
    parts[0].out.spans = parts[1].out.spans = 1;
    int n_parts = size > 1 ? 2 : 1;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    both(read_part, &parts[0], &parts[1], n_parts == 2);
    Py_END_ALLOW_THREADS
    self->busy = 0;

    Out *outs[2] = {&parts[0].out, &parts[1].out};
    PyObject *result = NULL;
    int err = parts[0].err ? parts[0].err : parts[1].err;
    if (parts[0].failed || parts[1].failed) {
        self->broken = 1;
        PyErr_NoMemory();
    } else if (err) {
        /* Part of the window may be summed: the sums are no longer whole. */
        self->broken = 1;
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    } else {
        /* The second share ends the window unless the first ran past it (one
           line across the middle, or the file's end). */
        int64_t end = parts[0].end >= parts[1].end || n_parts == 1 ? parts[0].end : parts[1].end;
        result = join_spans(outs, n_parts, end);
    }
    out_free(outs[0]), out_free(outs[1]);
    return result;
}

/* Fold the second table into the first and empty it: one row per client, and
   the memory of the second table back. 0 when out of memory. */
static int fold_tables(Table *t) {
    Table *from = &t[1];
    for (size_t j = 0; j < from->cap; j++) {
        Entry *e = &from->entries[j];
        if (e->slot < 0) continue;
        Key key;
        make_key(&key, (const unsigned char *)from->names + e->key, e->len, t[0].seed);
        int32_t slot = table_slot(&t[0], &key, from->acc[e->slot].first);
        if (slot < 0) return 0;
        acc_fold(&t[0].acc[slot], &from->acc[e->slot]);
    }
    uint64_t seed = from->seed;
    table_free(from);
    int ok = table_init(from);
    from->seed = seed;
    return ok;
}

/* usable(), and whether the reducer sums per group as the method needs. */
static int usable_as(Reducer *self, int grouped) {
    if (!usable(self)) return 0;
    if (self->grouped != grouped) {
        PyErr_SetString(PyExc_RuntimeError, grouped ? "Reducer sums per client, not per group"
                                                    : "Reducer sums per group, not per client");
        return 0;
    }
    return 1;
}

/* Fold the second per-client table into the first, without the GIL. */
static int fold_clients(Reducer *self) {
    int folded;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    folded = fold_tables(self->tables);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (!folded) {
        self->broken = 1;
        PyErr_NoMemory();
    }
    return folded;
}

/* out = sums, first, last of n accumulators, column by column for Polars:
   a[k], folded with b[k] when b is given. 0 (an exception set) when out of memory. */
static int acc_columns(const Acc *a, const Acc *b, Py_ssize_t n, PyObject *out[3]) {
    out[0] = new_bytes(n * 8 * N_SUMS), out[1] = new_bytes(n * 8), out[2] = new_bytes(n * 8);
    if (!out[0] || !out[1] || !out[2]) {
        Py_XDECREF(out[0]), Py_XDECREF(out[1]), Py_XDECREF(out[2]);
        return 0;
    }
    uint64_t *o_sums = (uint64_t *)PyBytes_AS_STRING(out[0]);
    int64_t *o_first = (int64_t *)PyBytes_AS_STRING(out[1]);
    int64_t *o_last = (int64_t *)PyBytes_AS_STRING(out[2]);
    for (Py_ssize_t k = 0; k < n; k++) {
        Acc acc = a[k];
        if (b) acc_fold(&acc, &b[k]);
        for (int s = 0; s < N_SUMS; s++) o_sums[s * n + k] = acc.sums[s];
        o_first[k] = acc.first, o_last[k] = acc.last;
    }
    return 1;
}

static PyObject *Reducer_sums(Reducer *self, PyObject *noargs) {
    /* Folded: every client is in the first table. */
    if (!usable_as(self, 0) || !fold_clients(self)) return NULL;
    Table *t = &self->tables[0];
    Py_ssize_t n = (Py_ssize_t)t->n;
    PyObject *names = PyBytes_FromStringAndSize(t->names, (Py_ssize_t)t->names_len), *c[3];
    if (!names) return NULL;
    if (!acc_columns(t->acc, NULL, n, c)) {
        Py_DECREF(names);
        return NULL;
    }
    return Py_BuildValue("nNNNN", n, names, c[0], c[1], c[2]);
}

static PyObject *Reducer_waiting(Reducer *self, PyObject *noargs) {
    return PyLong_FromSize_t(self->tables[0].n + self->tables[1].n);
}

/* pending() -> names: the clients not yet given a group, "\n" first and after
   each, in the order assign() takes their groups. */
static PyObject *Reducer_pending(Reducer *self, PyObject *noargs) {
    if (!usable_as(self, 1) || !fold_clients(self)) return NULL;
    return PyBytes_FromStringAndSize(self->tables[0].names, (Py_ssize_t)self->tables[0].names_len);
}

/* The next "\n"-ended name at *p (before end), or NULL; *p moves past it. */
static const unsigned char *next_name(const unsigned char **p, const unsigned char *end,
                                      size_t *len) {
    const unsigned char *nl = *p < end ? memchr(*p, '\n', (size_t)(end - *p)) : NULL;
    if (!nl) return NULL;
    const unsigned char *name = *p;
    *len = (size_t)(nl - name);
    *p = nl + 1;
    return name;
}

/* Whether names ("\n" first and after each) holds exactly n names. */
static int holds_names(const Py_buffer *names, size_t n) {
    const unsigned char *p = names->buf, *end = p + names->len;
    if (names->len < 1 || *p != '\n' || end[-1] != '\n') return n == 0 && names->len <= 1;
    size_t count = 0;
    for (p++; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) count++;
    return count == n;
}

/* None, or (out of memory part-way: the sums are no longer whole) MemoryError
   and a reducer that refuses further use. */
static PyObject *none_unless_broken(Reducer *self, int ok) {
    if (ok) return Py_NewRef(Py_None);
    self->broken = 1;
    return PyErr_NoMemory();
}

/* Give each pending client its group; count its who once; fold its sums in. */
static int assign_groups(Reducer *self, const int32_t *group, const Py_buffer *whos) {
    Table *t = &self->tables[0];
    Groups *g = &self->groups;
    const unsigned char *cp = (const unsigned char *)t->names + 1;
    const unsigned char *cend = (const unsigned char *)t->names + t->names_len;
    const unsigned char *wp = (const unsigned char *)whos->buf + 1;
    const unsigned char *wend = (const unsigned char *)whos->buf + whos->len;
    for (size_t c = 0; c < t->n; c++) {
        size_t clen = 0, wlen = 0;
        const unsigned char *client = next_name(&cp, cend, &clen);
        const unsigned char *who = next_name(&wp, wend, &wlen);
        Key ck, wk;
        make_key(&wk, who, wlen, t->seed);
        if (groups_find(g, &wk) == G_EMPTY) {
            if (group[c] >= 0) g->unique[group[c]]++;
            if (!groups_insert(g, &wk, group[c])) return 0;
        }
        if (clen != wlen || memcmp(client, who, clen) != 0) {
            make_key(&ck, client, clen, t->seed);
            if (groups_find(g, &ck) == G_EMPTY && !groups_insert(g, &ck, group[c])) return 0;
        }
        if (group[c] >= 0) acc_fold(&g->acc[0][group[c]], &t->acc[c]);
    }
    uint64_t seed = t->seed;
    table_free(t);
    int ok = table_init(t);
    t->seed = seed;
    return ok;
}

/*
 * assign(groups, whos): the pending clients' groups (int32, -1 for a client the
 * report leaves out) and their canonical addresses ("\n" first and after each),
 * in pending() order. Their sums move to their groups, and every later line of
 * theirs is summed there directly.
 */
static PyObject *Reducer_assign(Reducer *self, PyObject *args) {
    Py_buffer gv, wv;
    if (!PyArg_ParseTuple(args, "y*y*", &gv, &wv)) return NULL;
    PyObject *result = NULL;
    Table *t = self->tables;
    size_t n = t[0].n;
    const int32_t *group = gv.buf;
    if (!usable_as(self, 1)) goto done;
    if (t[1].n != 0 || (size_t)gv.len != n * sizeof(int32_t) || !holds_names(&wv, n)) {
        PyErr_SetString(PyExc_ValueError,
                        "assign() needs one group and one who per pending client");
        goto done;
    }
    int32_t top = -1;
    for (size_t c = 0; c < n; c++) {
        /* New groups are numbered on from the last: at most one per client. */
        if (group[c] < -1 || (group[c] >= 0 && (size_t)group[c] >= self->groups.n_groups + n)) {
            PyErr_SetString(PyExc_ValueError, "assign() got a group out of range");
            goto done;
        }
        if (group[c] > top) top = group[c];
    }
    int ok = groups_reserve(&self->groups, (size_t)top + 1);
    if (!ok) {
        result = none_unless_broken(self, ok);
        goto done;
    }
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    ok = assign_groups(self, group, &wv);
#if defined(__GLIBC__)
    /* The pending tables were just emptied: give their pages back, or glibc
       keeps them, and a long log's peak grows with each round (issue 6). */
    malloc_trim(0);
#endif
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = none_unless_broken(self, ok);
done:
    PyBuffer_Release(&gv), PyBuffer_Release(&wv);
    return result;
}

/* Add partials made elsewhere (by Polars, from the lines the scanner left). */
static int merge_rows(Reducer *self, const Py_buffer *names, size_t n, const int64_t *sums,
                      const int64_t *first, const int64_t *last) {
    Table *t = &self->tables[0];
    Groups *g = self->grouped ? &self->groups : NULL;
    const unsigned char *p = (const unsigned char *)names->buf + 1;
    const unsigned char *end = (const unsigned char *)names->buf + names->len;
    for (size_t r = 0; r < n; r++) {
        size_t len = 0;
        const unsigned char *name = next_name(&p, end, &len);
        Key key;
        make_key(&key, name, len, t->seed);
        Acc row;
        for (int s = 0; s < N_SUMS; s++) row.sums[s] = (uint64_t)sums[s * n + r];
        row.first = first[r], row.last = last[r];
        int32_t group = g ? groups_find(g, &key) : G_EMPTY;
        if (group >= 0) acc_fold(&g->acc[0][group], &row);
        if (group != G_EMPTY) continue;
        int32_t slot = table_slot(t, &key, row.first);
        if (slot < 0) return 0;
        Acc *a = &t->acc[slot];
        if (a->sums[0] == 0) acc_empty(a); /* new: its times are the row's, nulls too */
        acc_fold(a, &row);
    }
    return 1;
}

/*
 * merge(names, sums, first, last): partial rows ("\n" first and after each
 * name; sums int64 column by column in sums() order; first and last int64,
 * INT64_MAX and INT64_MIN for none), added as if their lines had been read.
 */
static PyObject *Reducer_merge(Reducer *self, PyObject *args) {
    Py_buffer nv, sv, fv, lv;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &nv, &sv, &fv, &lv)) return NULL;
    PyObject *result = NULL;
    size_t n = (size_t)fv.len / sizeof(int64_t);
    if (!usable(self)) goto done;
    if ((size_t)fv.len % sizeof(int64_t) || lv.len != fv.len ||
        (size_t)sv.len != n * N_SUMS * sizeof(int64_t) || !holds_names(&nv, n)) {
        PyErr_SetString(PyExc_ValueError, "merge() needs columns of one length");
        goto done;
    }
    int ok;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    ok = merge_rows(self, &nv, n, sv.buf, fv.buf, lv.buf);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = none_unless_broken(self, ok);
done:
    PyBuffer_Release(&nv), PyBuffer_Release(&sv), PyBuffer_Release(&fv), PyBuffer_Release(&lv);
    return result;
}

/* groups() -> (n, sums, first, last, unique): every group's sums, by number. */
static PyObject *Reducer_groups(Reducer *self, PyObject *noargs) {
    if (!usable_as(self, 1)) return NULL;
    if (self->tables[0].n || self->tables[1].n) {
        PyErr_SetString(PyExc_RuntimeError, "groups() with clients still pending");
        return NULL;
    }
    Groups *g = &self->groups;
    Py_ssize_t n = (Py_ssize_t)g->n_groups;
    PyObject *unique = PyBytes_FromStringAndSize(n ? (const char *)g->unique : "", n * 8), *c[3];
    if (!unique) return NULL;
    if (!acc_columns(g->acc[0], g->acc[1], n, c)) {
        Py_DECREF(unique);
        return NULL;
    }
    return Py_BuildValue("nNNNN", n, c[0], c[1], c[2], unique);
}

static PyMethodDef Reducer_methods[] = {
    {"add", (PyCFunction)Reducer_add, METH_VARARGS,
     "add(data, kind, threads=2) -> (lines, accepted, rest, rest_index)\n\n"
     "Sum the lines of the usual shape; hand back the rest verbatim."},
    {"add_pieces", (PyCFunction)Reducer_add_pieces, METH_VARARGS,
     "add_pieces(pieces, kind, helped=False) -> (lines, accepted, rest, rest_index)\n\n"
     "add() of the batch the pieces (buffers) make together, without joining them;\n"
     "helped: a piece at a time, with whichever thread calls help() meanwhile."},
    {"help", (PyCFunction)Reducer_help, METH_VARARGS,
     "help(wait_ms) -> pieces summed: help with a helped add_pieces() posted within wait_ms."},
    {"read", (PyCFunction)Reducer_read, METH_VARARGS,
     "read(fd, offset, size, kind) -> (end, lines, accepted, spans)\n\n"
     "Read and sum the lines of a plain file that start in [offset, offset + size)."},
    {"sums", (PyCFunction)Reducer_sums, METH_NOARGS,
     "sums() -> (n, names, sums, first, last): every client's sums so far."},
    {"waiting", (PyCFunction)Reducer_waiting, METH_NOARGS,
     "waiting() -> at most how many clients are pending (grouped)."},
    {"pending", (PyCFunction)Reducer_pending, METH_NOARGS,
     "pending() -> names: the clients not yet given a group."},
    {"assign", (PyCFunction)Reducer_assign, METH_VARARGS,
     "assign(groups, whos): the pending clients' groups and canonical addresses."},
    {"merge", (PyCFunction)Reducer_merge, METH_VARARGS,
     "merge(names, sums, first, last): add partial rows made elsewhere."},
    {"groups", (PyCFunction)Reducer_groups, METH_NOARGS,
     "groups() -> (n, sums, first, last, unique): every group's sums."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReducerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "loganalyzer._clf.Reducer",
    .tp_basicsize = sizeof(Reducer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Per-client sums of common or combined lines, across batches.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reducer_init,
    .tp_dealloc = (destructor)Reducer_dealloc,
    .tp_methods = Reducer_methods,
};

/* How many newlines end lines in [p, end): memchr looks at 32 or 64 bytes at a time. */
static Py_ssize_t newlines(const unsigned char *p, const unsigned char *end) {
    Py_ssize_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/*
 * public_v6(names) -> bytes: for each "\n"-ended address in names, its RFC 5952
 * text if it is a plainly public IPv6 address, else an empty line. The same
 * inet_pton that Python's socket module calls, v6_text for the text, and the same ranges
 * as enrich._global_v6, without a Python call per address. Only strings of hex
 * digits and colons are tried: anything else (brackets, zones, ports, mapped
 * IPv4) is left empty for the ipaddress path.
 */
static int plainly_public(const unsigned char *a) {
    unsigned first = (unsigned)a[0] << 8 | a[1], second = (unsigned)a[2] << 8 | a[3];
    if (first < 0x2000 || first > 0x3fff) return 0;
    if (first == 0x2001 || first == 0x2002 || first == 0x3fff)
        return first == 0x2001 && second >= 0x0200 && second != 0x0db8;
    return 1;
}

/*
 * The RFC 5952 text of an address, as Python's ipaddress writes it: groups in
 * lower-case hex without leading zeros, the first longest run of two or more
 * zero groups as "::", and never a dotted IPv4 tail (ipaddress writes none
 * either). inet_ntop's sprintf per group was most of the time of public_v6.
 * Returns the length written (at most 39).
 */
static size_t v6_text(const unsigned char *a, char *out) {
    static const char hex[] = "0123456789abcdef";
    unsigned g[8];
    int best = -1, best_len = 1, run = 0;
    for (int i = 0; i < 8; i++) {
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
        run = g[i] == 0 ? run + 1 : 0;
        if (run > best_len) {
            best_len = run;
            best = i - run + 1;
        }
    }
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            out[n++] = ':';
            if (i == 0) out[n++] = ':';
            i += best_len - 1;
            continue;
        }
        int shift = 12;
        while (shift > 0 && (g[i] >> shift) == 0) shift -= 4;
        for (; shift >= 0; shift -= 4) out[n++] = hex[(g[i] >> shift) & 15];
        if (i < 7) out[n++] = ':';
    }
    return n;
}

static PyObject *public_v6(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *p = view.buf, *end = p + view.len;
    /* Each output line is at most INET6_ADDRSTRLEN, and at least the newline. */
    Py_ssize_t lines = newlines(p, end);
    PyObject *out = new_bytes(lines * INET6_ADDRSTRLEN);
    if (!out) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(out), *o0 = o;
    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        size_t n = (size_t)(nl - p), colons = 0;
        int plain = n > 0 && n < INET6_ADDRSTRLEN;
        for (size_t i = 0; plain && i < n; i++) {
            unsigned char c = p[i];
            colons += c == ':';
            plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                    c == ':';
        }
        char text[INET6_ADDRSTRLEN];
        unsigned char packed[16];
        if (plain && colons >= 2) {
            memcpy(text, p, n);
            text[n] = '\0';
            if (inet_pton(AF_INET6, text, packed) == 1 && plainly_public(packed))
                o += v6_text(packed, o);
        }
        *o++ = '\n';
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&out, o - o0) < 0) return NULL;
    return out;
}

/*
 * v6_texts(hi, lo) -> bytes: the v6_text of each address whose 128 bits are
 * hi and lo (native uint64 arrays of one length), each line ended by "\n".
 * The networks of --anon-db's IPv6 clients are written into their evidence:
 * in Python, thousands of them a chunk were a tenth of judging it.
 */
static PyObject *v6_texts(PyObject *self, PyObject *args) {
    Py_buffer hi, lo;
    if (!PyArg_ParseTuple(args, "y*y*", &hi, &lo)) return NULL;
    PyObject *out = NULL;
    if (hi.len != lo.len || hi.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "hi and lo must be uint64 arrays of one length");
        goto done;
    }
    Py_ssize_t n = hi.len / 8;
    out = new_bytes(n * INET6_ADDRSTRLEN);
    if (!out) goto done;
    char *o = PyBytes_AS_STRING(out), *o0 = o;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h, l;
        memcpy(&h, (const char *)hi.buf + 8 * i, 8);
        memcpy(&l, (const char *)lo.buf + 8 * i, 8);
        unsigned char a[16];
        for (int b = 0; b < 8; b++) {
            a[b] = (unsigned char)(h >> (56 - 8 * b));
            a[8 + b] = (unsigned char)(l >> (56 - 8 * b));
        }
        o += v6_text(a, o);
        *o++ = '\n';
    }
    if (_PyBytes_Resize(&out, o - o0) < 0) out = NULL;
done:
    PyBuffer_Release(&hi);
    PyBuffer_Release(&lo);
    return out;
}

/*
 * ip_keys(names) -> (versions, hi, lo): for each "\n"-ended address in names,
 * 4 or 6 and its 128-bit key, IPv4 as IPv4-mapped IPv6 (the keys of
 * anonymizers.address_keys), as int8 and two native uint64 arrays. inet_pton
 * reads only plain forms (no leading zeros, brackets, zones, spaces or NULs):
 * what it refuses gets version 0 and is left to the caller's ipaddress path.
 */
static PyObject *ip_keys(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *p = view.buf, *end = p + view.len;
    Py_ssize_t lines = newlines(p, end);
    PyObject *vers = new_bytes(lines), *his = new_bytes(lines * 8), *los = new_bytes(lines * 8);
    if (!vers || !his || !los) {
        Py_XDECREF(vers);
        Py_XDECREF(his);
        Py_XDECREF(los);
        PyBuffer_Release(&view);
        return NULL;
    }
    int8_t *v = (int8_t *)PyBytes_AS_STRING(vers);
    uint64_t *hi = (uint64_t *)PyBytes_AS_STRING(his), *lo = (uint64_t *)PyBytes_AS_STRING(los);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < lines; i++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(nl - p);
        char text[INET6_ADDRSTRLEN];
        unsigned char a[16];
        v[i] = 0;
        hi[i] = lo[i] = 0;
        /* A NUL would end inet_pton's text early: "1.2.3.4\0x" is no address. */
        if (n > 0 && n < sizeof text && !memchr(p, '\0', n)) {
            memcpy(text, p, n);
            text[n] = '\0';
            if (memchr(text, ':', n)) {
                if (inet_pton(AF_INET6, text, a) == 1) v[i] = 6;
            } else if (inet_pton(AF_INET, text, a + 12) == 1) {
                memset(a, 0, 10);
                a[10] = a[11] = 0xff;
                v[i] = 4;
            }
            for (int k = 0; v[i] && k < 8; k++) {
                hi[i] = hi[i] << 8 | a[k];
                lo[i] = lo[i] << 8 | a[k + 8];
            }
        }
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(NNN)", vers, his, los);
}

/* One record of a MaxMind DB search tree node (the MMDB format's 24, 28 or 32 bits). */
static uint32_t mmdb_record(const unsigned char *tree, int size, uint32_t node, int right) {
    const unsigned char *b;
    switch (size) {
    case 24:
        b = tree + (size_t)node * 6 + right * 3;
        return (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
    case 28:
        b = tree + (size_t)node * 7;
        if (right)
            return (uint32_t)(b[3] & 0x0f) << 24 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 |
                   b[6];
        return (uint32_t)(b[3] & 0xf0) << 20 | (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
    default:
        b = tree + (size_t)node * 8 + right * 4;
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    }
}

/*
 * mmdb_records(tree, node_count, record_size, ip_version, versions, hi, lo)
 * -> (records, prefixes): for each address of ip_keys, the search tree's record for it in a
 * MaxMind DB whose file (or its first bytes) is tree: a number above
 * node_count, which names the address's data, so that addresses with equal
 * numbers have the same data; or -1 when there is none (an empty record, an
 * address of version 0, IPv6 in an IPv4-only database). Each distinct
 * record's data can then be decoded once for all its addresses. prefixes
 * (uint8) are the lengths of the networks the records cover, counted as the
 * reference reader counts them (from the IPv4 start for IPv4).
 */
static PyObject *mmdb_records(PyObject *self, PyObject *args) {
    Py_buffer tv, vv, hv, lv;
    unsigned int node_count;
    int size, ipv;
    if (!PyArg_ParseTuple(args, "y*Iiiy*y*y*", &tv, &node_count, &size, &ipv, &vv, &hv, &lv))
        return NULL;
    Py_ssize_t n = vv.len;
    PyObject *out = NULL;
    if ((size != 24 && size != 28 && size != 32) || (ipv != 4 && ipv != 6) ||
        (uint64_t)tv.len < (uint64_t)node_count * (uint64_t)size / 4 || hv.len != n * 8 ||
        lv.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "mmdb_records: a tree or keys of the wrong size");
        goto done;
    }
    PyObject *recs = new_bytes(n * 8), *prefixes = new_bytes(n);
    if (!recs || !prefixes) {
        Py_XDECREF(recs);
        Py_XDECREF(prefixes);
        goto done;
    }
    const unsigned char *tree = tv.buf;
    const int8_t *v = vv.buf;
    const uint64_t *hi = hv.buf, *lo = lv.buf;
    int64_t *rec = (int64_t *)PyBytes_AS_STRING(recs);
    uint8_t *prefix = (uint8_t *)PyBytes_AS_STRING(prefixes);
    Py_BEGIN_ALLOW_THREADS
    /* IPv4 lives under 96 zero bits of an IPv6 tree. */
    uint32_t v4_start = 0;
    for (int i = 0; ipv == 6 && i < 96 && v4_start < node_count; i++)
        v4_start = mmdb_record(tree, size, v4_start, 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        rec[i] = -1;
        prefix[i] = 0;
        if (v[i] == 0 || (v[i] == 6 && ipv == 4)) continue;
        uint32_t node = v[i] == 4 ? v4_start : 0;
        int first = v[i] == 4 ? 96 : 0, b = first;
        for (; b < 128 && node < node_count; b++) {
            uint64_t word = b < 64 ? hi[i] : lo[i];
            node = mmdb_record(tree, size, node, (int)(word >> (63 - b % 64) & 1));
        }
        if (node > node_count) rec[i] = node;
        prefix[i] = (uint8_t)(b - first);
    }
    Py_END_ALLOW_THREADS
    out = Py_BuildValue("(NN)", recs, prefixes);
done:
    PyBuffer_Release(&tv);
    PyBuffer_Release(&vv);
    PyBuffer_Release(&hv);
    PyBuffer_Release(&lv);
    return out;
}

/*
 * mmdb_decode(data, records, paths) -> [[value, ...] per path]: the value at
 * each path (a tuple of map keys and array indexes) of each record's data, as
 * maxminddb would decode it: str, float, int or bool, or None where the path
 * leads nowhere or to a map or array. The empty path gives the number of
 * pairs of a record that is a map (None for any other record). data is the
 * MaxMind DB's data section and records offsets into it. The file is the
 * user's, not ours: every read is
 * bounded by the section, and pointers and nesting are bounded in depth, so
 * that a damaged file gives ValueError, never a bad read.
 */
enum { MM_POINTER = 1, MM_STRING = 2, MM_DOUBLE = 3, MM_UINT16 = 5, MM_UINT32 = 6, MM_MAP = 7,
       MM_INT32 = 8, MM_UINT64 = 9, MM_ARRAY = 11, MM_BOOLEAN = 14, MM_FLOAT = 15, MM_DEPTH = 64 };

typedef struct {
    const unsigned char *data;
    size_t len;
    int bad; /* the section is damaged where it was read */
} MMData;

/* The field at *pos: its type and size (a pointer's: its target), *pos moved to its payload. */
static int mm_field(MMData *d, size_t *pos, size_t *size) {
    if (*pos >= d->len) return d->bad = 1, 0;
    unsigned ctrl = d->data[(*pos)++];
    int type = (int)(ctrl >> 5);
    if (type == MM_POINTER) {
        unsigned ss = (ctrl >> 3) & 3, n = ss + 1;
        if (n > d->len - *pos) return d->bad = 1, 0;
        const unsigned char *b = d->data + *pos;
        size_t v;
        if (ss == 0) v = (size_t)(ctrl & 7) << 8 | b[0];
        else if (ss == 1) v = ((size_t)(ctrl & 7) << 16 | (size_t)b[0] << 8 | b[1]) + 2048;
        else if (ss == 2)
            v = ((size_t)(ctrl & 7) << 24 | (size_t)b[0] << 16 | (size_t)b[1] << 8 | b[2]) + 526336;
        else v = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
        *pos += n;
        *size = v;
        return MM_POINTER;
    }
    if (type == 0) {
        if (*pos >= d->len) return d->bad = 1, 0;
        type = 7 + d->data[(*pos)++];
    }
    size_t n = ctrl & 0x1f;
    if (n >= 29) {
        size_t extra = n - 28;
        if (extra > d->len - *pos) return d->bad = 1, 0;
        const unsigned char *b = d->data + *pos;
        n = n == 29 ? 29 + (size_t)b[0]
            : n == 30 ? 285 + ((size_t)b[0] << 8 | b[1])
                      : 65821 + ((size_t)b[0] << 16 | (size_t)b[1] << 8 | b[2]);
        *pos += extra;
    }
    *size = n;
    return type;
}

/* The field at *pos, through a pointer if it is one (a pointer may not point at one). */
static int mm_resolve(MMData *d, size_t *pos, size_t *size) {
    int type = mm_field(d, pos, size);
    if (type == MM_POINTER) {
        *pos = *size;
        type = mm_field(d, pos, size);
        if (type == MM_POINTER) return d->bad = 1, 0;
    }
    return type;
}

/* Move *pos past the value whose field mm_field just read. */
static void mm_skip(MMData *d, size_t *pos, int type, size_t size, int depth) {
    if (d->bad || type == MM_POINTER || type == MM_BOOLEAN) return;
    if (depth > MM_DEPTH) {
        d->bad = 1;
        return;
    }
    if (type == MM_MAP || type == MM_ARRAY) {
        size_t items = type == MM_MAP ? 2 * size : size;
        for (size_t i = 0; i < items && !d->bad; i++) {
            size_t sub;
            int t = mm_field(d, pos, &sub);
            mm_skip(d, pos, t, sub, depth + 1);
        }
        return;
    }
    if (size > d->len - *pos) {
        d->bad = 1;
        return;
    }
    *pos += size;
}

static uint64_t mm_uint(const unsigned char *b, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | b[i];
    return v;
}

/* Move *pos to the value of key in the map of `pairs` pairs there; 0 if it has none. */
static int mm_find_key(MMData *d, size_t *pos, size_t pairs, const char *key, size_t klen) {
    for (size_t i = 0; i < pairs && !d->bad; i++) {
        size_t kpos, ksize;
        int kt = mm_field(d, pos, &ksize);
        if (kt == MM_POINTER) {
            kpos = ksize;
            kt = mm_field(d, &kpos, &ksize);
        } else if (kt == MM_STRING && ksize <= d->len - *pos) {
            kpos = *pos;
            *pos += ksize;
        } else {
            kpos = d->len;
        }
        if (d->bad || kt != MM_STRING || ksize > d->len - kpos) return d->bad = 1, 0;
        if (ksize == klen && memcmp(d->data + kpos, key, klen) == 0) return 1;
        size_t sub;
        int t = mm_field(d, pos, &sub);
        mm_skip(d, pos, t, sub, 0);
    }
    return 0;
}

/* The value at path in the data at pos, a new reference: None where there is none. */
static PyObject *mm_value(MMData *d, size_t pos, PyObject *path) {
    size_t size;
    int type = mm_resolve(d, &pos, &size);
    if (PyTuple_GET_SIZE(path) == 0) { /* the record itself: how many pairs, if a map */
        if (d->bad || type != MM_MAP) Py_RETURN_NONE;
        return PyLong_FromSize_t(size);
    }
    for (Py_ssize_t s = 0; s < PyTuple_GET_SIZE(path) && !d->bad; s++) {
        PyObject *step = PyTuple_GET_ITEM(path, s);
        if (PyLong_Check(step)) {
            Py_ssize_t index = PyLong_AsSsize_t(step);
            if (index == -1 && PyErr_Occurred()) return NULL;
            if (type != MM_ARRAY || index < 0 || (size_t)index >= size) Py_RETURN_NONE;
            for (Py_ssize_t i = 0; i < index && !d->bad; i++) {
                size_t sub;
                int t = mm_field(d, &pos, &sub);
                mm_skip(d, &pos, t, sub, 0);
            }
        } else {
            Py_ssize_t klen;
            const char *key = PyUnicode_AsUTF8AndSize(step, &klen);
            if (!key) return NULL;
            if (type != MM_MAP || !mm_find_key(d, &pos, size, key, (size_t)klen)) {
                if (d->bad) break;
                Py_RETURN_NONE;
            }
        }
        if (!d->bad) type = mm_resolve(d, &pos, &size);
    }
    if (d->bad) Py_RETURN_NONE;
    const unsigned char *b = d->data + pos;
    int fits = size <= d->len - pos;
    switch (type) {
    case MM_STRING:
        if (!fits) break;
        return PyUnicode_DecodeUTF8((const char *)b, (Py_ssize_t)size, "replace");
    case MM_DOUBLE:
    case MM_FLOAT: {
        if (!fits || size != (type == MM_DOUBLE ? 8u : 4u)) break;
        uint64_t bits = mm_uint(b, size);
        if (type == MM_DOUBLE) {
            double v;
            memcpy(&v, &bits, 8);
            return PyFloat_FromDouble(v);
        }
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        return PyFloat_FromDouble(f);
    }
    case MM_UINT16:
    case MM_UINT32:
    case MM_UINT64:
        if (!fits || size > (type == MM_UINT16 ? 2u : type == MM_UINT32 ? 4u : 8u)) break;
        return PyLong_FromUnsignedLongLong(mm_uint(b, size));
    case MM_INT32:
        if (!fits || size > 4) break;
        return PyLong_FromLong((long)(int32_t)(uint32_t)mm_uint(b, size));
    case MM_BOOLEAN:
        return PyBool_FromLong(size != 0);
    default: /* maps, arrays, bytes, uint128: no report column holds one */
        Py_RETURN_NONE;
    }
    d->bad = 1;
    Py_RETURN_NONE;
}

static PyObject *mmdb_decode(PyObject *self, PyObject *args) {
    Py_buffer dv, rv;
    PyObject *paths, *out = NULL;
    if (!PyArg_ParseTuple(args, "y*y*O!", &dv, &rv, &PyList_Type, &paths)) return NULL;
    Py_ssize_t n = rv.len / 8, count = PyList_GET_SIZE(paths);
    const int64_t *recs = rv.buf;
    for (Py_ssize_t j = 0; j < count; j++) {
        if (!PyTuple_Check(PyList_GET_ITEM(paths, j))) {
            PyErr_SetString(PyExc_TypeError, "mmdb_decode: each path is a tuple");
            goto done;
        }
    }
    out = PyList_New(count);
    for (Py_ssize_t j = 0; out && j < count; j++) {
        PyObject *col = PyList_New(n);
        if (!col) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, j, col);
        for (Py_ssize_t i = 0; i < n; i++) {
            MMData d = {dv.buf, (size_t)dv.len, 0};
            PyObject *path = PyList_GET_ITEM(paths, j);
            PyObject *v = recs[i] < 0 ? NULL : mm_value(&d, (size_t)recs[i], path);
            if (!v || d.bad) {
                Py_XDECREF(v);
                if (v || recs[i] < 0)
                    PyErr_SetString(PyExc_ValueError, "the database's data section is damaged");
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(col, i, v);
        }
    }
done:
    PyBuffer_Release(&dv);
    PyBuffer_Release(&rv);
    return out;
}

/* bytes.count(b"\n") looks at one byte at a time (see newlines). */
static PyObject *count_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *p = view.buf, *end = p + view.len;
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = newlines(p, end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"public_v6", public_v6, METH_VARARGS,
     "public_v6(names) -> the RFC 5952 text of each plainly public IPv6 address, else ''"},
    {"v6_texts", v6_texts, METH_VARARGS,
     "v6_texts(hi, lo) -> the RFC 5952 text of each address, a line each"},
    {"count_lines", count_lines, METH_VARARGS, "count_lines(data) -> the number of newlines"},
    {"ip_keys", ip_keys, METH_VARARGS,
     "ip_keys(names) -> (versions, hi, lo): each address's version and 128-bit key"},
    {"mmdb_decode", mmdb_decode, METH_VARARGS,
     "mmdb_decode(data, records, paths) -> each path's value in each record"},
    {"mmdb_records", mmdb_records, METH_VARARGS,
     "mmdb_records(tree, node_count, record_size, ip_version, versions, hi, lo)\n"
     "-> (records, prefixes)"},
    {"scan", scan, METH_VARARGS,
     "scan(data, kind) -> (lines, index, clients, ts, status, bytes, rest, rest_index)\n\n"
     "Accept the lines of the usual shape; hand back the rest verbatim."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_clf", NULL, -1, methods};

PyMODINIT_FUNC PyInit__clf(void) {
    if (PyType_Ready(&ReducerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ReducerType);
    if (PyModule_AddObject(m, "Reducer", (PyObject *)&ReducerType) < 0) {
        Py_DECREF(&ReducerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
