/*
 * What the files of loganalyzer._clf share (the module is documented from the
 * Python side in loganalyzer/ingest/native.py, its signatures in _clf.pyi).
 *
 *   module.c  the module: its method table, PyInit__clf, buffer helpers
 *   scan.c    the line grammar of the two NCSA presets; scan(), count_lines()
 *   table.c   Reducer: per-client and per-group sums across batches
 *   addr.c    addresses as keys and as RFC 5952 text: ip_keys(), public_v6(), v6_texts()
 *   mmdb.c    a MaxMind DB's search tree walked and its data section decoded
 *
 * The contract every file keeps: log bytes and database files are hostile. No
 * read goes past the buffer it was given, whatever its bytes. No output sized
 * by one pass over a buffer that Python can change is written past that size
 * by the next pass (Snapshot). And whatever Python does with the module, from
 * any number of threads, memory is never corrupted: at worst a call raises
 * (issue 26; tests/test_native_safety.py, and .ci/sanitize runs the native
 * tests and a fuzz smoke built with AddressSanitizer and UBSan).
 *
 * The declarations below are hidden: the shared object exports PyInit__clf
 * alone, so calls between the files are direct calls, as they were within one
 * file (clf_scan_line was never inlined), and no other module can interpose them.
 */
#ifndef LOGANALYZER_CLF_H
#define LOGANALYZER_CLF_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

enum { KIND_COMMON = 0, KIND_COMBINED = 1 };

/* The largest byte count a line may give (256 TiB in one response): a larger
   one is null, so that no sum of them can wrap (issue 26). The Polars path's
   bound is loganalyzer.ingest.parse.MAX_BYTES; tests/test_native_totals.py
   holds the two equal. */
#define CLF_MAX_BYTES ((int64_t)1 << 48)

/* One accepted line's values (scan.c's clf_scan_line). */
typedef struct {
    int64_t ts, status, bytes; /* status and bytes are -1 where the server wrote "-" */
    const unsigned char *client;
    size_t client_len;
} Fields;

/*
 * A buffer's bytes as they were when the call began: the buffer itself when it
 * is a bytes object, which nothing in Python can change, else a private copy
 * taken while the GIL is held. A bytearray, a memoryview or an mmap can change
 * under a function that has released the GIL, and a second pass over it would
 * then disagree with the first (issue 26: ip_keys(), public_v6(), the names
 * of Reducer.assign() and merge()). Either way the bytes are aligned for
 * int64 (bytes' data is, malloc's is), where a memoryview's slice may not be.
 * scan() bounds its second pass instead: see there why it copies nothing.
 */
typedef struct {
    Py_buffer view; /* held only while data points into it */
    const unsigned char *data;
    Py_ssize_t len;
    unsigned char *copy; /* malloc'd, or NULL */
} Snapshot;

#pragma GCC visibility push(hidden)

/* module.c */
PyObject *clf_new_bytes(Py_ssize_t n);
int clf_snapshot(PyObject *obj, Snapshot *s); /* 0 with an exception set */
void clf_snapshot_release(Snapshot *s);

/* scan.c */
int clf_known_kind(int kind);
int clf_scan_line(const unsigned char *s, const unsigned char *e, int kind, Fields *f);
Py_ssize_t clf_newlines(const unsigned char *p, const unsigned char *end);
PyObject *clf_scan(PyObject *self, PyObject *args);
PyObject *clf_count_lines(PyObject *self, PyObject *args);

/* table.c */
extern PyTypeObject clf_ReducerType;

/* addr.c */
PyObject *clf_public_v6(PyObject *self, PyObject *args);
PyObject *clf_v6_texts(PyObject *self, PyObject *args);
PyObject *clf_ip_keys(PyObject *self, PyObject *args);

/* mmdb.c */
PyObject *clf_mmdb_records(PyObject *self, PyObject *args);
PyObject *clf_mmdb_decode(PyObject *self, PyObject *args);

#pragma GCC visibility pop

#endif
