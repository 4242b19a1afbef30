/* nbcli.client._untar: the two per-file loops of a small-file restore, in C.
 *
 * Why C: restoring 50,000 small files, tar-restore spent ~14 us of Python per member parsing
 * headers and ~5 us per file making it, while GNU tar needs ~13 us per file for everything
 * (bench/README.md); on two cores shared with bptm that Python was the restore's time. Both
 * loops here take only the common case and stop at the first member or record they do not
 * take; the caller handles that one in Python and calls again. The Python code they mirror
 * stays the reference for what a member means and what a file gets:
 *
 *   scan()  plain regular files of the stream buffer, one after the other, straight into the
 *           file writer's ring as FileWriter.queue packs them (parsing as tarstream.py and
 *           streamreader.py do, for the strict forms only: bpbkar's and GNU tar's);
 *   make()  file records of the ring made into files as Nodes.file_from makes a new name.
 *
 * Nothing is allocated per member, and no byte is read outside the buffers given.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define NS 1000000000LL
/* A pax header larger than this is left to Python (bpbkar's are ~30 bytes). */
#define PAX_MAX 4096
/* Seconds whose nanoseconds still fit an int64 (the ring's mtime field). */
#define SEC_MAX 9000000000LL
#define NAME_MAX_LEN 4095

/* The ring's file record, filewriter._REC = struct.Struct("<B3xIIIIqQII"). */
#define REC_SIZE 44
#define REC_FILE 1
#define REC_FOLDER 2
#define REC_WRAP 3

static inline uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- parsing (scan) ------------------------------------------------------------------- */

/* A ustar number field in its plain form: spaces, octal digits, spaces, up to a NUL or the
 * field's end (all spaces or empty: 0). 0 for any other form (base-256, signs, tabs...),
 * which Python's tarstream._number reads or refuses. */
static int octal(const unsigned char *p, size_t n, uint64_t *out)
{
    size_t len = 0, i = 0;
    uint64_t v = 0;
    int digits = 0;
    while (len < n && p[len])
        len++;
    while (i < len && p[i] == ' ')
        i++;
    while (i < len && p[i] >= '0' && p[i] <= '7') {
        if (++digits > 21)
            return 0;
        v = v * 8 + (uint64_t)(p[i++] - '0');
    }
    while (i < len && p[i] == ' ')
        i++;
    if (i != len)
        return 0;
    *out = v;
    return 1;
}

/* Decimal digits only, at most 18 of them (tarstream._pax_int accepts more forms). */
static int decimal(const unsigned char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 1;
}

/* A pax time "SECONDS[.FRACTION]", non-negative, the fraction up to 9 digits. */
static int pax_ns(const unsigned char *p, size_t n, int64_t *out)
{
    size_t dot = 0;
    uint64_t sec, frac = 0;
    while (dot < n && p[dot] != '.')
        dot++;
    if (!decimal(p, dot, &sec) || sec > (uint64_t)SEC_MAX)
        return 0;
    if (dot < n) {
        size_t digits = n - dot - 1;
        if (digits > 9)
            return 0;
        for (size_t i = dot + 1; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return 0;
            frac = frac * 10 + (uint64_t)(p[i] - '0');
        }
        for (size_t i = digits; i < 9; i++)
            frac *= 10;
    }
    *out = (int64_t)sec * NS + (int64_t)frac;
    return 1;
}

/* The header checksum in its unsigned form (the signed one is left to Python). */
static int checksum_ok(const unsigned char *b)
{
    uint64_t stored;
    unsigned sum = 8 * ' ';
    for (int i = 0; i < 148; i++)
        sum += b[i];
    for (int i = 156; i < BLOCK; i++)
        sum += b[i];
    return octal(b + 148, 8, &stored) && stored == sum;
}

typedef struct {
    const unsigned char *path;  /* a pax path, or NULL */
    size_t path_len;
    int has_mtime, has_size, has_uid, has_gid;
    int64_t mtime_ns;
    uint64_t size, uid, gid;
} Pax;

static int key_is(const unsigned char *k, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

/* The records of a pax header's data (as tarstream.parse_pax reads them), for the keys
 * Python restores or ignores; 0 for anything else (GNU.sparse.*, vendor keys, odd forms). */
static int parse_pax(const unsigned char *d, size_t size, Pax *pax)
{
    size_t pos = 0;
    memset(pax, 0, sizeof *pax);
    while (pos < size && d[pos] != 0) {
        size_t space = pos, end;
        uint64_t length;
        while (space < size && space < pos + 24 && d[space] != ' ')
            space++;
        if (space >= size || d[space] != ' ' || !decimal(d + pos, space - pos, &length))
            return 0;
        end = pos + length;
        if (length < 5 || end > size || end <= space + 1 || d[end - 1] != '\n')
            return 0;
        const unsigned char *key = d + space + 1;
        const unsigned char *eq = memchr(key, '=', end - 1 - (space + 1));
        if (eq == NULL)
            return 0;
        size_t klen = (size_t)(eq - key);
        const unsigned char *val = eq + 1;
        size_t vlen = (size_t)(d + end - 1 - val);
        if (key_is(key, klen, "mtime")) {
            if (!pax_ns(val, vlen, &pax->mtime_ns))
                return 0;
            pax->has_mtime = 1;
        } else if (key_is(key, klen, "path")) {
            if (vlen == 0 || memchr(val, 0, vlen) != NULL)
                return 0;
            pax->path = val;
            pax->path_len = vlen;
        } else if (key_is(key, klen, "size")) {
            if (!decimal(val, vlen, &pax->size))
                return 0;
            pax->has_size = 1;
        } else if (key_is(key, klen, "uid")) {
            if (!decimal(val, vlen, &pax->uid))
                return 0;
            pax->has_uid = 1;
        } else if (key_is(key, klen, "gid")) {
            if (!decimal(val, vlen, &pax->gid))
                return 0;
            pax->has_gid = 1;
        } else if (!(key_is(key, klen, "atime") || key_is(key, klen, "ctime") ||
                     key_is(key, klen, "uname") || key_is(key, klen, "gname") ||
                     key_is(key, klen, "linkpath") || key_is(key, klen, "hdrcharset") ||
                     key_is(key, klen, "comment"))) {
            return 0;  /* not restored here, and Python may treat it specially */
        }
        pos = end;
    }
    return 1;
}

/* A member name tar-restore takes as it is: relative, no empty, "." or ".." component. */
static int canonical(const unsigned char *n, size_t len)
{
    size_t start = 0;
    if (len == 0 || len > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || n[i] == '/') {
            size_t c = i - start;
            if (c == 0 || (c == 1 && n[start] == '.') ||
                (c == 2 && n[start] == '.' && n[start + 1] == '.'))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

PyDoc_STRVAR(scan_doc,
"scan(buf, start, end, ring, produced, room_end, publish_at, folder, fid, queue_max)\n"
"    -> (start, produced, count)\n\n"
"Queue the plain regular files that begin at buf[start:end] to the file writer's ring.\n\n"
"A member is taken when it is a regular file ('0', NUL or '7') of at most queue_max bytes\n"
"whose headers (at most one pax header, with keys tar-restore restores or ignores) have\n"
"unsigned checksums and plain octal fields, whose name is canonical and lies directly in\n"
"`folder` (the name's folder part, b'' for the top), and whose data and padding are all in\n"
"the buffer. Its record goes to ring position `produced` (the ring's offset is produced\n"
"modulo len(ring)) with folder id `fid`, if it fits without wrapping and before `room_end`.\n"
"Stops at the first member that is not taken, or once `produced` reaches `publish_at`;\n"
"returns where the next member begins, the new `produced`, and how many were queued.");

static PyObject *scan(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer buf, ring, folder;
    Py_ssize_t start, end, queue_max;
    long long produced, room_end, publish_at;
    unsigned int fid;
    Py_ssize_t count = 0;

    if (!PyArg_ParseTuple(args, "y*nnw*LLLy*In", &buf, &start, &end, &ring, &produced,
                          &room_end, &publish_at, &folder, &fid, &queue_max))
        return NULL;
    if (start < 0 || end < start || end > buf.len || produced < 0 || ring.len < REC_SIZE) {
        PyBuffer_Release(&buf);
        PyBuffer_Release(&ring);
        PyBuffer_Release(&folder);
        PyErr_SetString(PyExc_ValueError, "scan: positions outside the buffers");
        return NULL;
    }
    const unsigned char *b = buf.buf;
    unsigned char *r = ring.buf;
    const unsigned char *fname = folder.buf;
    size_t flen = (size_t)folder.len;
    uint64_t rlen = (uint64_t)ring.len;
    unsigned char joined[NAME_MAX_LEN + 1];

    while (produced < publish_at) {
        size_t p = (size_t)start, left = (size_t)(end - start);
        Pax pax;
        int has_pax = 0;
        uint64_t mode, uid, gid, size, mtime;

        if (left < BLOCK)
            break;
        if (b[p + 156] == 'x') {
            uint64_t psize;
            if (!checksum_ok(b + p) || !octal(b + p + 124, 12, &psize) || psize > PAX_MAX)
                break;
            uint64_t skip = BLOCK + round_up(psize, BLOCK);
            if (skip + BLOCK > left || !parse_pax(b + p + BLOCK, (size_t)psize, &pax))
                break;
            has_pax = 1;
            p += (size_t)skip;
            left -= (size_t)skip;
        }
        const unsigned char *h = b + p;
        char type = (char)h[156];
        if ((type != '0' && type != '\0' && type != '7') || !checksum_ok(h) ||
            !octal(h + 100, 8, &mode) || !octal(h + 108, 8, &uid) ||
            !octal(h + 116, 8, &gid) || !octal(h + 124, 12, &size) ||
            !octal(h + 136, 12, &mtime))
            break;
        int64_t mtime_ns;
        if (has_pax && pax.has_mtime)
            mtime_ns = pax.mtime_ns;
        else if (mtime <= (uint64_t)SEC_MAX)
            mtime_ns = (int64_t)mtime * NS;
        else
            break;
        if (has_pax) {
            if (pax.has_size)
                size = pax.size;
            if (pax.has_uid)
                uid = pax.uid;
            if (pax.has_gid)
                gid = pax.gid;
        }
        if (uid > 0xFFFFFFFFu || gid > 0xFFFFFFFFu || size > (uint64_t)queue_max)
            break;

        /* The name: a pax path, else prefix "/" name for POSIX ustar (tarstream.parse_header). */
        const unsigned char *name;
        size_t nlen;
        if (has_pax && pax.path != NULL) {
            name = pax.path;
            nlen = pax.path_len;
        } else {
            size_t n1 = strnlen((const char *)h, 100);
            if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != 0) {
                size_t n0 = strnlen((const char *)h + 345, 155);
                memcpy(joined, h + 345, n0);
                joined[n0] = '/';
                memcpy(joined + n0 + 1, h, n1);
                name = joined;
                nlen = n0 + 1 + n1;
            } else {
                name = h;
                nlen = n1;
            }
        }
        if (!canonical(name, nlen))
            break;
        const unsigned char *slash = NULL;
        for (size_t i = nlen; i > 0; i--) {
            if (name[i - 1] == '/') {
                slash = name + i - 1;
                break;
            }
        }
        size_t dlen = slash ? (size_t)(slash - name) : 0;
        if (dlen != flen || memcmp(name, fname, dlen) != 0)
            break;
        const unsigned char *leaf = slash ? slash + 1 : name;
        size_t llen = nlen - (size_t)(leaf - name);

        uint64_t data_span = round_up(size, BLOCK);
        if (BLOCK + data_span > left)
            break;
        uint64_t n = round_up(REC_SIZE + nlen + llen + size, 8);
        uint64_t off = (uint64_t)produced % rlen;
        if (n > rlen / 4 || off + n > rlen || (uint64_t)produced + n > (uint64_t)room_end)
            break;

        unsigned char *rec = r + off;
        memset(rec, 0, REC_SIZE);
        rec[0] = REC_FILE;
        put_u32(rec + 4, fid);
        put_u32(rec + 8, (uint32_t)(mode & 07777));
        put_u32(rec + 12, (uint32_t)uid);
        put_u32(rec + 16, (uint32_t)gid);
        put_u64(rec + 20, (uint64_t)mtime_ns);
        put_u64(rec + 28, size);
        put_u32(rec + 36, (uint32_t)nlen);
        put_u32(rec + 40, (uint32_t)llen);
        memcpy(rec + REC_SIZE, name, nlen);
        memcpy(rec + REC_SIZE + nlen, leaf, llen);
        memcpy(rec + REC_SIZE + nlen + llen, h + BLOCK, (size_t)size);

        produced += (long long)n;
        start = (Py_ssize_t)(p + BLOCK + data_span);
        count++;
    }
    PyBuffer_Release(&buf);
    PyBuffer_Release(&ring);
    PyBuffer_Release(&folder);
    return Py_BuildValue("nLn", start, produced, count);
}

/* ---- making files (make) -------------------------------------------------------------- */

/* -1 with a Python exception when a signal handler raised one, else 0: retry the call. */
static int interrupted(void)
{
    return PyErr_CheckSignals() < 0 ? -1 : 0;
}

/* Outcome of one record: made, left to Python (the partial file removed), or an exception. */
enum { MADE, DECLINED, RAISED };

static int make_one(int dir, const char *leaf, const unsigned char *data, uint64_t size,
                    unsigned mode, uint32_t uid, uint32_t gid, int64_t mtime_ns, int as_root,
                    unsigned umask_bits)
{
    int fd;
    while ((fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        mode & 0777)) < 0) {
        if (errno != EINTR)
            return DECLINED;  /* an existing name, or an error: Python's to handle or report */
        if (interrupted() < 0)
            return RAISED;
    }
    int outcome = MADE;
    uint64_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, (size_t)(size - done));
        if (w < 0) {
            if (errno == EINTR && interrupted() == 0)
                continue;
            outcome = PyErr_Occurred() ? RAISED : DECLINED;
            goto undo;
        }
        done += (uint64_t)w;
    }
    /* As Nodes.metadata: chown only as root and before chmod (it clears setuid bits);
     * chmod only for what umask or the creation mode left out. */
    if (as_root && fchown(fd, uid, gid) < 0)
        goto declined;
    if ((mode & (07000 | umask_bits)) && fchmod(fd, mode) < 0)
        goto declined;
    int64_t sec = mtime_ns / NS, nsec = mtime_ns % NS;
    if (nsec < 0) {
        sec -= 1;
        nsec += NS;
    }
    struct timespec times[2] = {{(time_t)sec, (long)nsec}, {(time_t)sec, (long)nsec}};
    if (futimens(fd, times) < 0)
        goto declined;
    if (close(fd) < 0) {
        fd = -1;
        goto declined;
    }
    return MADE;
declined:
    outcome = DECLINED;
undo:
    if (fd >= 0)
        close(fd);
    unlinkat(dir, leaf, 0);
    return outcome;
}

PyDoc_STRVAR(make_doc,
"make(ring, pos, upto, folders, as_root, umask) -> (pos, made)\n\n"
"Make the file records in ring positions [pos, upto) into new files, as Nodes.file_from\n"
"makes a new name: created exclusively with the mode's permission bits, the data, then\n"
"owner (as_root only), mode (when umask or setuid/setgid/sticky call for it) and mtime.\n"
"`folders[fid]` is the descriptor of a record's folder. Stops at the first record it does\n"
"not make - a folder record, a name that exists, any error (its partial file removed) -\n"
"and returns that record's position and how many files were made.");

static PyObject *make(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer ring;
    long long pos, upto;
    PyObject *folders;
    int as_root;
    unsigned int umask_bits;
    Py_ssize_t made = 0;
    char leaf[NAME_MAX_LEN + 1];

    if (!PyArg_ParseTuple(args, "w*LLOpI", &ring, &pos, &upto, &folders, &as_root,
                          &umask_bits))
        return NULL;
    const unsigned char *r = ring.buf;
    uint64_t rlen = (uint64_t)ring.len;
    if (pos < 0 || rlen < REC_SIZE) {
        PyBuffer_Release(&ring);
        PyErr_SetString(PyExc_ValueError, "make: positions outside the ring");
        return NULL;
    }
    while (pos < upto) {
        uint64_t off = (uint64_t)pos % rlen;
        if (rlen - off < REC_SIZE) {  /* a tail too short for a record: skipped */
            pos += (long long)(rlen - off);
            continue;
        }
        const unsigned char *rec = r + off;
        if (rec[0] == REC_WRAP) {
            pos += (long long)(rlen - off);
            continue;
        }
        if (rec[0] != REC_FILE)
            break;
        uint32_t fid = get_u32(rec + 4), mode = get_u32(rec + 8), uid = get_u32(rec + 12),
                 gid = get_u32(rec + 16), nlen = get_u32(rec + 36), llen = get_u32(rec + 40);
        int64_t mtime_ns = (int64_t)get_u64(rec + 20);
        uint64_t size = get_u64(rec + 28);
        if (llen == 0 || llen > NAME_MAX_LEN || size > rlen ||
            (uint64_t)nlen + llen + size > rlen - off - REC_SIZE)
            break;  /* (size first: the sum must not wrap) */
        const unsigned char *lp = rec + REC_SIZE + nlen;
        if (memchr(lp, 0, llen) != NULL)
            break;
        memcpy(leaf, lp, llen);
        leaf[llen] = 0;

        PyObject *key = PyLong_FromUnsignedLong(fid);
        PyObject *item = key ? PyObject_GetItem(folders, key) : NULL;
        Py_XDECREF(key);
        int dir = item ? (int)PyLong_AsLong(item) : -1;
        Py_XDECREF(item);
        if (PyErr_Occurred()) {  /* not a folder we hold: Python's code says what it is */
            PyErr_Clear();
            break;
        }
        int outcome = make_one(dir, leaf, lp + llen, size, mode & 07777, uid, gid, mtime_ns,
                               as_root, umask_bits);
        if (outcome == RAISED) {
            PyBuffer_Release(&ring);
            return NULL;
        }
        if (outcome == DECLINED)
            break;
        made++;
        pos += (long long)round_up(REC_SIZE + (uint64_t)nlen + llen + size, 8);
    }
    PyBuffer_Release(&ring);
    return Py_BuildValue("Ln", pos, made);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"make", make, METH_VARARGS, make_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nbcli.client._untar",
    "The per-file loops of a small-file restore, in C (see the comment at the top of _untar.c).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__untar(void)
{
    return PyModule_Create(&module);
}
