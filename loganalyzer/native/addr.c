/*
 * Addresses as 128-bit keys and as RFC 5952 text: ip_keys() for the lookups'
 * keys, public_v6() for the clients' canonical form, v6_texts() for the
 * networks written into anonymizer evidence.
 *
 * Contract. Input: "\n"-ended names that come from the log (attacker-
 * controlled: any bytes, any length, NULs), or uint64 arrays that Python
 * checks only for their length here. A name is copied into a fixed buffer
 * only when it is shorter than the buffer, and NUL-terminated for inet_pton,
 * the same function Python's socket module calls. Each function keeps no
 * state, so any number of threads may call it. ip_keys() and public_v6() size
 * their output by a count of the names, then walk them again without the GIL:
 * they walk a snapshot (clf_snapshot), never a buffer Python can change.
 */
#include "clf.h"

#include <arpa/inet.h>
#include <string.h>

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

PyObject *clf_public_v6(PyObject *self, PyObject *args) {
    PyObject *obj;
    Snapshot snap;
    if (!PyArg_ParseTuple(args, "O", &obj) || !clf_snapshot(obj, &snap)) return NULL;
    const unsigned char *p = snap.data, *end = p + snap.len;
    /* Each output line is at most INET6_ADDRSTRLEN, and at least the newline. */
    Py_ssize_t lines = clf_newlines(p, end);
    PyObject *out = clf_new_bytes(lines * INET6_ADDRSTRLEN);
    if (!out) {
        clf_snapshot_release(&snap);
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
    clf_snapshot_release(&snap);
    if (_PyBytes_Resize(&out, o - o0) < 0) return NULL;
    return out;
}

/*
 * v6_texts(hi, lo) -> bytes: the v6_text of each address whose 128 bits are
 * hi and lo (native uint64 arrays of one length), each line ended by "\n".
 * The networks of --anon-db's IPv6 clients are written into their evidence:
 * in Python, thousands of them a chunk were a tenth of judging it.
 */
PyObject *clf_v6_texts(PyObject *self, PyObject *args) {
    Py_buffer hi, lo;
    if (!PyArg_ParseTuple(args, "y*y*", &hi, &lo)) return NULL;
    PyObject *out = NULL;
    if (hi.len != lo.len || hi.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "hi and lo must be uint64 arrays of one length");
        goto done;
    }
    Py_ssize_t n = hi.len / 8;
    out = clf_new_bytes(n * INET6_ADDRSTRLEN);
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
PyObject *clf_ip_keys(PyObject *self, PyObject *args) {
    PyObject *obj;
    Snapshot snap;
    if (!PyArg_ParseTuple(args, "O", &obj) || !clf_snapshot(obj, &snap)) return NULL;
    const unsigned char *p = snap.data, *end = p + snap.len;
    Py_ssize_t lines = clf_newlines(p, end);
    PyObject *vers = clf_new_bytes(lines), *his = clf_new_bytes(lines * 8);
    PyObject *los = clf_new_bytes(lines * 8);
    if (!vers || !his || !los) {
        Py_XDECREF(vers);
        Py_XDECREF(his);
        Py_XDECREF(los);
        clf_snapshot_release(&snap);
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
    clf_snapshot_release(&snap);
    return Py_BuildValue("(NNN)", vers, his, los);
}
