/* A prototype measured in docs/benchmarks/feeds.md, session 9: NOT built, NOT used by Touchline.

   The compact layout's value columns for feeds.protocol.fastodds._read_bodies, in place of the
   quote split, the glue join and the column slices:
       columns(bodies) -> (ids, odds, probabilities, actives, counts) or None
   Each body (a market's outcomes text after '"><outcome id="'):
       id" odds="V" probabilities="V" active="V"/><outcome id="...  ending '"/>'
   A value is the text up to the next quote; the glue between values must be exactly the
   layout's; anything else (a non-exact or non-ASCII str included) gives None, and the caller
   then leaves the message to the full parser, as the pure split does.

   Built for the experiment with:
       gcc -O2 -Wall -fPIC -shared -I$(python -c "import sysconfig;print(sysconfig.get_paths()['include'])") \
           feeds_columns_prototype.c -o feeds/protocol/_columns$(python -c "import sysconfig;print(sysconfig.get_config_var('EXT_SUFFIX'))")
   (module name _columns). Before any use: a pure-Python twin as the fallback and the reference,
   a test comparing the two, and a fuzz run (the session's loop: random edits of the bench's
   bodies, results compared with the pure split's). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const char G1[] = "\" odds=\"";
static const char G2[] = "\" probabilities=\"";
static const char G3[] = "\" active=\"";
static const char GN[] = "\"/><outcome id=\"";
static const char GE[] = "\"/>";

static int take(PyObject *s, const char *d, Py_ssize_t *pos, Py_ssize_t n, PyObject *out) {
    /* the value from *pos up to the next quote; *pos left on the quote */
    const char *q = memchr(d + *pos, '"', (size_t)(n - *pos));
    if (q == NULL) return 0;
    Py_ssize_t end = q - d;
    PyObject *v = PyUnicode_Substring(s, *pos, end);
    if (v == NULL) return -1;
    int r = PyList_Append(out, v);
    Py_DECREF(v);
    if (r < 0) return -1;
    *pos = end;
    return 1;
}

static int glue(const char *d, Py_ssize_t *pos, Py_ssize_t n, const char *g, Py_ssize_t len) {
    if (n - *pos < len || memcmp(d + *pos, g, (size_t)len) != 0) return 0;
    *pos += len;
    return 1;
}

static PyObject *columns(PyObject *self, PyObject *bodies) {
    if (!PyList_CheckExact(bodies)) { PyErr_SetString(PyExc_TypeError, "list expected"); return NULL; }
    PyObject *ids = PyList_New(0), *odds = PyList_New(0), *probs = PyList_New(0), *acts = PyList_New(0);
    PyObject *counts = PyList_New(0);
    if (!ids || !odds || !probs || !acts || !counts) goto error;
    Py_ssize_t nb = PyList_GET_SIZE(bodies);
    for (Py_ssize_t b = 0; b < nb; b++) {
        PyObject *s = PyList_GET_ITEM(bodies, b);
        if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s)) goto none;
        const char *d = (const char *)PyUnicode_1BYTE_DATA(s);
        Py_ssize_t n = PyUnicode_GET_LENGTH(s), pos = 0, count = 0;
        for (;;) {
            int r;
            if ((r = take(s, d, &pos, n, ids)) <= 0) goto fail_or_none_r;
            if (!glue(d, &pos, n, G1, sizeof G1 - 1)) goto none;
            if ((r = take(s, d, &pos, n, odds)) <= 0) goto fail_or_none_r;
            if (!glue(d, &pos, n, G2, sizeof G2 - 1)) goto none;
            if ((r = take(s, d, &pos, n, probs)) <= 0) goto fail_or_none_r;
            if (!glue(d, &pos, n, G3, sizeof G3 - 1)) goto none;
            if ((r = take(s, d, &pos, n, acts)) <= 0) goto fail_or_none_r;
            count++;
            if (n - pos == (Py_ssize_t)(sizeof GE - 1) && memcmp(d + pos, GE, sizeof GE - 1) == 0) break;
            if (!glue(d, &pos, n, GN, sizeof GN - 1)) goto none;
            continue;
        fail_or_none_r:
            if (r < 0) goto error;
            goto none;
        }
        PyObject *c = PyLong_FromSsize_t(count);
        if (c == NULL || PyList_Append(counts, c) < 0) { Py_XDECREF(c); goto error; }
        Py_DECREF(c);
    }
    return Py_BuildValue("(NNNNN)", ids, odds, probs, acts, counts);
none:
    Py_DECREF(ids); Py_DECREF(odds); Py_DECREF(probs); Py_DECREF(acts); Py_DECREF(counts);
    Py_RETURN_NONE;
error:
    Py_XDECREF(ids); Py_XDECREF(odds); Py_XDECREF(probs); Py_XDECREF(acts); Py_XDECREF(counts);
    return NULL;
}

static PyMethodDef methods[] = {{"columns", columns, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns", NULL, -1, methods};
PyMODINIT_FUNC PyInit__columns(void) { return PyModule_Create(&module); }
