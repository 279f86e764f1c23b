/*
 * The module loganalyzer._clf: its method table and PyInit__clf, and the
 * small helpers the other files share. The C files are split by concern (see
 * clf.h); the compiled module, its name and its Python API are one.
 *
 * Contract. Python imports the module once per interpreter (single-phase
 * init, no module state: every function works on its arguments alone, and
 * Reducer objects on their own tables). What each function guarantees is
 * stated where it is defined; their signatures are in loganalyzer/_clf.pyi.
 */
#include "clf.h"

#include <stdlib.h>
#include <string.h>

PyObject *clf_new_bytes(Py_ssize_t n) { return PyBytes_FromStringAndSize(NULL, n); }

int clf_snapshot(PyObject *obj, Snapshot *s) {
    memset(s, 0, sizeof *s);
    if (PyObject_GetBuffer(obj, &s->view, PyBUF_SIMPLE) < 0) return 0;
    s->len = s->view.len;
    if (PyBytes_Check(obj)) {
        s->data = s->view.buf;
        return 1;
    }
    /* One byte more: malloc(0) may return NULL. */
    s->copy = malloc((size_t)s->len + 1);
    if (!s->copy) {
        PyBuffer_Release(&s->view);
        PyErr_NoMemory();
        return 0;
    }
    memcpy(s->copy, s->view.buf, (size_t)s->len);
    PyBuffer_Release(&s->view);
    s->data = s->copy;
    return 1;
}

void clf_snapshot_release(Snapshot *s) {
    free(s->copy);
    PyBuffer_Release(&s->view);
    memset(s, 0, sizeof *s);
}

static PyMethodDef methods[] = {
    {"public_v6", clf_public_v6, METH_VARARGS,
     "public_v6(names) -> the RFC 5952 text of each plainly public IPv6 address, else ''"},
    {"v6_texts", clf_v6_texts, METH_VARARGS,
     "v6_texts(hi, lo) -> the RFC 5952 text of each address, a line each"},
    {"count_lines", clf_count_lines, METH_VARARGS, "count_lines(data) -> the number of newlines"},
    {"ip_keys", clf_ip_keys, METH_VARARGS,
     "ip_keys(names) -> (versions, hi, lo): each address's version and 128-bit key"},
    {"mmdb_decode", clf_mmdb_decode, METH_VARARGS,
     "mmdb_decode(data, records, paths) -> each path's value in each record"},
    {"mmdb_records", clf_mmdb_records, METH_VARARGS,
     "mmdb_records(tree, node_count, record_size, ip_version, versions, hi, lo)\n"
     "-> (records, prefixes)"},
    {"scan", clf_scan, METH_VARARGS,
     "scan(data, kind) -> (lines, index, clients, ts, status, bytes, rest, rest_index)\n\n"
     "Accept the lines of the usual shape; hand back the rest verbatim."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_clf", NULL, -1, methods};

PyMODINIT_FUNC PyInit__clf(void) {
    if (PyType_Ready(&clf_ReducerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&clf_ReducerType);
    if (PyModule_AddObject(m, "Reducer", (PyObject *)&clf_ReducerType) < 0) {
        Py_DECREF(&clf_ReducerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
