/*
 * The line grammar of the two NCSA presets (common, combined), and the module
 * functions that read lines with it: scan() and count_lines(). The Reducer
 * (table.c) sums the lines clf_scan_line accepts.
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
 * Contract. Input: any bytes (attacker-controlled); Python guarantees only that
 * a line is the bytes up to a newline or the buffer's end, and that kind was
 * checked (clf_known_kind). Every read of clf_scan_line is bounded by the
 * line's end [s, e); it takes no lock and keeps no state, so any number of
 * threads may call it without the GIL. scan() and count_lines() release the
 * GIL while they walk the buffer, which Python may change meanwhile (a
 * bytearray): scan() sizes its outputs from a first pass and bounds the
 * second by it; count_lines() walks once.
 */
#include "clf.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
static int parse_clf_time(const unsigned char *t, size_t n, int64_t *out) {
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
static const unsigned char *find_special(const unsigned char *p, const unsigned char *e,
                                         int quotes) {
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

/* 1 and the fields when the regex path would accept the line with these values. */
int clf_scan_line(const unsigned char *s, const unsigned char *e, int kind, Fields *f) {
    const unsigned char *p = s, *q;
    if (!(q = token(p, e))) return 0; /* client */
    f->client = p;
    f->client_len = (size_t)(q - p);
    if (!(p = spaces(q, e)) || !(q = token(p, e))) return 0; /* ident */
    if (!(p = spaces(q, e)) || !(q = token(p, e))) return 0; /* user */
    if (!(p = spaces(q, e)) || *p != '[') return 0;
    /* \[[^\]]*\]: the usual time has its first ']' at byte 27, and parse_clf_time
       allows none before it. */
    if (e - p < 28 || !parse_clf_time(p, 28, &f->ts)) return 0;
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
        /* 18 digits always fit in an int64. A count past CLF_MAX_BYTES goes to
           the general parser, which decides what it is worth (null). */
        for (; p < e && is_digit(*p); p++, n++)
            if (n < 18) v = v * 10 + (*p - '0');
        if (n == 0 || n > 18 || v > CLF_MAX_BYTES) return 0;
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

int clf_known_kind(int kind) {
    if (kind == KIND_COMMON || kind == KIND_COMBINED) return 1;
    PyErr_SetString(PyExc_ValueError, "kind must be 0 (common) or 1 (combined)");
    return 0;
}

/*
 * The batch is read where it is, not from a snapshot: the reader hands over
 * a bytearray of 16 MB (read.py's _read_into_batches), and a copy would be
 * one more pass over it. The outputs are sized by the first pass, so the
 * second stops at that many lines: if Python changed the bytes meanwhile,
 * the result is wrong, but every write stays inside the outputs (each line
 * gives at most its own bytes and a newline, at most `lines` times).
 */
PyObject *clf_scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    int kind;
    if (!PyArg_ParseTuple(args, "y*i", &view, &kind)) return NULL;
    if (!clf_known_kind(kind)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *data = view.buf, *end = data + view.len;
    Py_ssize_t lines = 0;
    for (const unsigned char *p = data; p < end; lines++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    PyObject *index = clf_new_bytes(lines * 8), *ts = clf_new_bytes(lines * 8);
    PyObject *status = clf_new_bytes(lines * 4), *nbytes = clf_new_bytes(lines * 8);
    PyObject *clients = clf_new_bytes(view.len + lines + 1), *rest = clf_new_bytes(view.len);
    PyObject *rest_index = clf_new_bytes(lines * 8);
    if (!index || !ts || !status || !nbytes || !clients || !rest || !rest_index) goto fail;

    int64_t *o_index = (int64_t *)PyBytes_AS_STRING(index);
    int64_t *o_ts = (int64_t *)PyBytes_AS_STRING(ts);
    int32_t *o_status = (int32_t *)PyBytes_AS_STRING(status);
    int64_t *o_bytes = (int64_t *)PyBytes_AS_STRING(nbytes);
    int64_t *o_rest_index = (int64_t *)PyBytes_AS_STRING(rest_index);
    char *o_clients = PyBytes_AS_STRING(clients), *o_rest = PyBytes_AS_STRING(rest);
    Py_ssize_t n_ok = 0, n_rest = 0, clients_len = 0, rest_len = 0, line = 0;

    Py_BEGIN_ALLOW_THREADS
    /* A leading newline: Polars sniffs compression from a buffer's first bytes. */
    o_clients[clients_len++] = '\n';
    for (const unsigned char *p = data; p < end && line < lines; line++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
        Fields f;
        if (clf_scan_line(p, e, kind, &f)) {
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
    /* line, not lines: the outputs hold exactly the lines walked. */
    lines = line;
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

/* How many newlines end lines in [p, end): memchr looks at 32 or 64 bytes at a time. */
Py_ssize_t clf_newlines(const unsigned char *p, const unsigned char *end) {
    Py_ssize_t n = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* bytes.count(b"\n") looks at one byte at a time (see clf_newlines). */
PyObject *clf_count_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const unsigned char *p = view.buf, *end = p + view.len;
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = clf_newlines(p, end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(n);
}
