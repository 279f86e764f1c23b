/*
 * Reducer: the scan of scan.c, with the accepted lines summed per client as
 * they are read (requests, bytes, first and last time, status classes), across
 * every batch of a run; or, grouped, per report row (Groups below).
 *
 * Contract. Python (loganalyzer/ingest/native.py: Sums, GroupSums) hands over
 * batches of whole lines (bytes, or the decompressor's pieces), a file
 * descriptor and window to read, and, for groups, int32 group numbers and
 * "\n"-separated names whose counts it checks against the table's. The lines
 * are attacker-controlled: the grammar's reads are bounded by each line, and
 * every table and output grows as needed. The tables belong to one call at a
 * time: a method that changes them sets busy while it holds the GIL, releases
 * the GIL to do the work, and clears busy once it holds the GIL again; a
 * second thread's call meanwhile raises RuntimeError. The only concurrent entry
 * is help(), which sums into the second table under mu while add_pieces()
 * waits for it.
 */
#include "clf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif

/*
 * The sums per client are the partials of loganalyzer.analysis.aggregate.partials
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

/* Sums stop at INT64_MAX: Python reads them as int64, where a sum that went
   past it would read as negative (issue 26). A byte count is at most
   CLF_MAX_BYTES, so it takes 2^15 of the largest to get there, and an int64
   partial from Polars that is negative has already wrapped: it is as large. */
static uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t s = a + b;
    return s < a || s > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : s;
}

static void acc_fold(Acc *into, const Acc *from) {
    for (int s = 0; s < N_SUMS; s++) into->sums[s] = sat_add(into->sums[s], from->sums[s]);
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
            if (clf_scan_line(p, e, kind, &f[n])) {
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
            /* Polars sums an Int64 column skipping nulls ("-"). */
            if (f[j].bytes >= 0) a->sums[1] = sat_add(a->sums[1], (uint64_t)f[j].bytes);
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

/* A method that changes the tables while busy is set raises this, with the GIL:
   busy is only read and written with the GIL held. */
#define IN_USE "Reducer is in use by another thread, or by the call that is running"

static int Reducer_init(Reducer *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"seed", "grouped", NULL};
    unsigned long long seed = 0;
    int grouped = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Kp:Reducer", names, &seed, &grouped))
        return -1;
    /* After the arguments, which can run Python code (__index__, __bool__):
       from here to the end the GIL is held, so no call can start meanwhile. */
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, IN_USE);
        return -1;
    }
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
    /* A helper may be waiting in help() for a job: it reads job under mu. */
    pthread_mutex_lock(&self->mu);
    self->job = (Job){0};
    pthread_mutex_unlock(&self->mu);
    self->broken = 0;
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
        PyErr_SetString(PyExc_RuntimeError, IN_USE);
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
    PyObject *rest = clf_new_bytes(rest_len), *rest_index = clf_new_bytes(n_rest * 8);
    PyObject *result = NULL;
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
    PyObject *spans = clf_new_bytes(n_spans * 4 * 8);
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
    if (!clf_known_kind(kind)) {
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
        /* Bounded by first, not by its byte: a bytearray piece can change
           while the GIL is released, and first may no longer be a newline. */
        while (first && last > first && *last != '\n') last--;
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
    if (!PyArg_ParseTuple(args, "Oi|p", &list, &kind, &helped) || !clf_known_kind(kind))
        return NULL;
    if (!usable(self)) return NULL;
    /* Taken before the pieces are: reading them can run Python code (a
       generator), and another add() must not slip in meanwhile (issue 26). A
       tuple of them, because the caller's list could change while they are summed. */
    self->busy = 1;
    PyObject *result = NULL, *seq = PySequence_Tuple(list);
    Py_buffer *views = NULL;
    Part *parts = NULL;
    Py_ssize_t got = 0, n = seq ? PyTuple_GET_SIZE(seq) : 0;
    if (!seq) goto done;
    if (n > INT_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "too many pieces");
        goto done;
    }
    views = calloc((size_t)n + 1, sizeof(Py_buffer));
    parts = calloc((size_t)n + 1, sizeof(Part));
    if (!views || !parts) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(seq, got), &views[got], PyBUF_SIMPLE) < 0)
            goto done;
    const Groups *groups = self->grouped ? &self->groups : NULL;
    for (Py_ssize_t j = 0; j < n; j++)
        parts[j] = (Part){.table = &self->tables[0], .groups = groups,
                          .gacc = self->groups.acc[0], .kind = kind};
    int cut;
    Py_BEGIN_ALLOW_THREADS
    cut = piece_parts(views, (int)n, parts);
    if (cut && helped) {
        run_job(self, parts, (int)n);
    } else if (cut) {
        for (Py_ssize_t j = 0; j < n; j++) sum_part(&parts[j]);
    }
    Py_END_ALLOW_THREADS
    if (!cut) {
        PyErr_NoMemory();
        for (Py_ssize_t j = 0; j < n; j++) free(parts[j].tail);
    } else {
        result = added(self, parts, (int)n);
    }
done:
    for (Py_ssize_t j = 0; j < got; j++) PyBuffer_Release(&views[j]);
    free(views), free(parts);
    Py_XDECREF(seq);
    self->busy = 0;
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
    if (!PyArg_ParseTuple(args, "iLLi", &fd, &offset, &size, &kind) || !clf_known_kind(kind))
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
    out[0] = clf_new_bytes(n * 8 * N_SUMS);
    out[1] = clf_new_bytes(n * 8), out[2] = clf_new_bytes(n * 8);
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
    /* The counts change while a batch is added without the GIL. */
    if (!usable(self)) return NULL;
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
static int holds_names(const Snapshot *names, size_t n) {
    const unsigned char *p = names->data, *end = p + names->len;
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
static int assign_groups(Reducer *self, const int32_t *group, const Snapshot *whos) {
    Table *t = &self->tables[0];
    Groups *g = &self->groups;
    const unsigned char *cp = (const unsigned char *)t->names + 1;
    const unsigned char *cend = (const unsigned char *)t->names + t->names_len;
    const unsigned char *wp = whos->data + 1, *wend = whos->data + whos->len;
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
    PyObject *gobj, *wobj, *result = NULL;
    /* Snapshots: the groups are checked here and used as indexes without the
       GIL, and the whos are counted here and walked again then. */
    Snapshot gv = {0}, wv = {0};
    if (!PyArg_ParseTuple(args, "OO", &gobj, &wobj)) return NULL;
    if (!clf_snapshot(gobj, &gv) || !clf_snapshot(wobj, &wv) || !usable_as(self, 1)) goto done;
    Table *t = self->tables;
    size_t n = t[0].n;
    const int32_t *group = (const int32_t *)gv.data;
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
    clf_snapshot_release(&gv), clf_snapshot_release(&wv);
    return result;
}

/* Add partials made elsewhere (by Polars, from the lines the scanner left). */
static int merge_rows(Reducer *self, const Snapshot *names, size_t n, const int64_t *sums,
                      const int64_t *first, const int64_t *last) {
    Table *t = &self->tables[0];
    Groups *g = self->grouped ? &self->groups : NULL;
    const unsigned char *p = names->data + 1, *end = names->data + names->len;
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
    PyObject *obj[4], *result = NULL;
    /* Snapshots: the names are counted here and walked again without the GIL;
       and the columns, read as int64, are aligned in a copy as in bytes. */
    Snapshot nv = {0}, sv = {0}, fv = {0}, lv = {0};
    if (!PyArg_ParseTuple(args, "OOOO", &obj[0], &obj[1], &obj[2], &obj[3])) return NULL;
    if (!clf_snapshot(obj[0], &nv) || !clf_snapshot(obj[1], &sv) || !clf_snapshot(obj[2], &fv) ||
        !clf_snapshot(obj[3], &lv) || !usable(self))
        goto done;
    size_t n = (size_t)fv.len / sizeof(int64_t);
    if ((size_t)fv.len % sizeof(int64_t) || lv.len != fv.len ||
        (size_t)sv.len != n * N_SUMS * sizeof(int64_t) || !holds_names(&nv, n)) {
        PyErr_SetString(PyExc_ValueError, "merge() needs columns of one length");
        goto done;
    }
    int ok;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    ok = merge_rows(self, &nv, n, (const int64_t *)sv.data, (const int64_t *)fv.data,
                    (const int64_t *)lv.data);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = none_unless_broken(self, ok);
done:
    clf_snapshot_release(&nv), clf_snapshot_release(&sv);
    clf_snapshot_release(&fv), clf_snapshot_release(&lv);
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

PyTypeObject clf_ReducerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "loganalyzer._clf.Reducer",
    .tp_basicsize = sizeof(Reducer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Per-client sums of common or combined lines, across batches.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reducer_init,
    .tp_dealloc = (destructor)Reducer_dealloc,
    .tp_methods = Reducer_methods,
};
