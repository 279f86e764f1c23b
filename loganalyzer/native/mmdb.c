/*
 * A MaxMind DB read in C where a report needs many addresses at once: the
 * search tree walked for each address (mmdb_records) and the data section
 * decoded for each distinct record (mmdb_decode).
 *
 * Contract. The database is the user's file, not ours, and may be damaged or
 * hostile: Python (native.SearchTree) passes the file's metadata as maxminddb
 * read it and the file mapped read-only. mmdb_records checks that the tree
 * fits the buffer before it walks it without the GIL, and follows a record
 * only while it names a node inside the tree. mmdb_decode holds the GIL (it
 * builds Python values); each read is bounded by the data section, pointers
 * may not point at pointers, and nesting is bounded, so a damaged file gives
 * ValueError, never a bad read.
 */
#include "clf.h"

#include <string.h>

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
PyObject *clf_mmdb_records(PyObject *self, PyObject *args) {
    /* The tree stays the caller's (a mapped file, read a node at a time and
       each read bounded by the check below); the keys are snapshots, aligned
       for their uint64 reads (clf_snapshot). */
    Py_buffer tv;
    PyObject *keys[3], *out = NULL;
    Snapshot vv = {0}, hv = {0}, lv = {0};
    unsigned int node_count;
    int size, ipv;
    if (!PyArg_ParseTuple(args, "y*IiiOOO", &tv, &node_count, &size, &ipv, &keys[0], &keys[1],
                          &keys[2]))
        return NULL;
    if (!clf_snapshot(keys[0], &vv) || !clf_snapshot(keys[1], &hv) || !clf_snapshot(keys[2], &lv))
        goto done;
    Py_ssize_t n = vv.len;
    if ((size != 24 && size != 28 && size != 32) || (ipv != 4 && ipv != 6) ||
        (uint64_t)tv.len < (uint64_t)node_count * (uint64_t)size / 4 || hv.len != n * 8 ||
        lv.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "mmdb_records: a tree or keys of the wrong size");
        goto done;
    }
    PyObject *recs = clf_new_bytes(n * 8), *prefixes = clf_new_bytes(n);
    if (!recs || !prefixes) {
        Py_XDECREF(recs);
        Py_XDECREF(prefixes);
        goto done;
    }
    const unsigned char *tree = tv.buf;
    const int8_t *v = (const int8_t *)vv.data;
    const uint64_t *hi = (const uint64_t *)hv.data, *lo = (const uint64_t *)lv.data;
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
    clf_snapshot_release(&vv), clf_snapshot_release(&hv), clf_snapshot_release(&lv);
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

PyObject *clf_mmdb_decode(PyObject *self, PyObject *args) {
    /* The data section stays the caller's (the mapped file: a copy would be
       all of it), each read bounded by its length. The records are a snapshot,
       aligned for int64; the paths a tuple: building values can collect
       garbage, whose finalizers could change the caller's list. */
    Py_buffer dv;
    Snapshot rv = {0};
    PyObject *list, *records, *paths = NULL, *out = NULL;
    if (!PyArg_ParseTuple(args, "y*OO!", &dv, &records, &PyList_Type, &list)) return NULL;
    if (!clf_snapshot(records, &rv) || !(paths = PyList_AsTuple(list))) goto done;
    Py_ssize_t n = rv.len / 8, count = PyTuple_GET_SIZE(paths);
    const int64_t *recs = (const int64_t *)rv.data;
    for (Py_ssize_t j = 0; j < count; j++) {
        if (!PyTuple_Check(PyTuple_GET_ITEM(paths, j))) {
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
            PyObject *path = PyTuple_GET_ITEM(paths, j);
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
    clf_snapshot_release(&rv);
    Py_XDECREF(paths);
    return out;
}
