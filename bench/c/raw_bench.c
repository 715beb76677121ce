/* A reference publisher: the ceiling the broker sets, not a peer.
 *
 * One thread, one TCP socket (TCP_NODELAY), no MQTT library: the MQTT 5 packets are encoded by
 * hand, and every PUBLISH is a copy of one pre-encoded template with its packet id and the
 * payload's sequence number patched in. Up to min(Receive Maximum, 1000) QoS>0 publishes are in
 * flight; new publishes (and PUBRELs) are batched into one output buffer of up to 64 KiB per
 * send(), and every acknowledgement in each read is decoded. It shows how many messages per
 * second the broker accepts when the client costs almost nothing; the harness reports it beside
 * the clients and never uses it in a tether ÷ peer ratio.
 *
 * Only the pub workload: QoS 0 publishes N, then one QoS 1 marker, and waits for the marker's
 * PUBACK (the broker handles a connection in order); QoS 1/2 wait for every PUBACK/PUBCOMP.
 *
 *   raw_bench --workload pub --port P [--host H] [--n N] [--qos Q] [--size B] [--timeout T] [--topic T]
 */
/* The header's receiver, pacing and window helpers serve the other programs, not this one. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "bench_common.h"
#pragma GCC diagnostic pop

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#define OUT_CAP 65536
#define IN_CAP 65536
#define MAX_WINDOW 1000
/* Once the window was full, new QoS>0 publishes are appended only when at least this many slots
 * (at most a quarter of the window, the rule tether's session follows) are free again. Measured on
 * 2 cores against mosquitto 2.0.11 (64 B, 8 runs each, medians): against refilling one slot per
 * acknowledgement, 250 lets the broker accept ~18 % more at QoS 1 (fewer, larger writes wake it
 * less often) and ~5 % more at QoS 2; as a ceiling, the better of the two is the one to show. */
#define REFILL_AT 250

/* What a packet id in flight waits for. */
enum { FREE = 0, WAIT_PUBACK, WAIT_PUBREC, WAIT_PUBCOMP };

typedef struct {
    int fd;
    uint64_t deadline;
    outcome *o;
    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t in[IN_CAP];
    size_t in_len;
    bool timed_out; /* send_all reached the deadline */
    bool torn;      /* send_all stopped early: the stream may end inside a packet */
} conn;

/* One pre-encoded PUBLISH: fixed header, topic, packet id (QoS>0), properties length 0; the
 * payload follows the header bytes. */
typedef struct {
    uint8_t hdr[160];
    size_t hdr_len; /* bytes before the payload */
    size_t id_at;   /* offset of the packet id (QoS>0) */
    size_t len;     /* the whole packet */
    int qos;
} publish_tpl;

/* ---- encoding and framing ---- */

static size_t put_vbi(uint8_t *p, uint32_t v) {
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (v) b |= 0x80;
        p[n++] = b;
    } while (v);
    return n;
}

/* A variable byte integer at p[0..len): the bytes it takes, 0 when incomplete, -1 when malformed. */
static int get_vbi(const uint8_t *p, size_t len, uint32_t *v) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= len) return 0;
        x |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return -1;
}

/* One complete packet at the start of buf[0..len)? 1 (and its parts), 0 not yet, -1 malformed. */
static int frame(const uint8_t *buf, size_t len, uint8_t *type, const uint8_t **body, uint32_t *body_len,
                 size_t *total) {
    if (len < 2) return 0;
    uint32_t rl;
    int k = get_vbi(buf + 1, len - 1, &rl);
    if (k <= 0) return k;
    size_t t = 1 + (size_t)k + rl;
    if (len < t) return 0;
    *type = buf[0];
    *body = buf + 1 + k;
    *body_len = rl;
    *total = t;
    return 1;
}

static bool make_template(publish_tpl *t, const char *topic, int qos, size_t size) {
    memset(t, 0, sizeof *t);
    size_t tlen = strlen(topic);
    size_t rl = 2 + tlen + (qos ? 2 : 0) + 1 + size;
    if (rl > 268435455u) return false;
    uint8_t *p = t->hdr;
    size_t i = 0;
    p[i++] = (uint8_t)(0x30 | (qos << 1));
    i += put_vbi(p + i, (uint32_t)rl);
    p[i++] = (uint8_t)(tlen >> 8);
    p[i++] = (uint8_t)tlen;
    memcpy(p + i, topic, tlen);
    i += tlen;
    if (qos) {
        t->id_at = i;
        p[i++] = 0;
        p[i++] = 0;
    }
    p[i++] = 0; /* properties length */
    t->hdr_len = i;
    t->len = i + size;
    t->qos = qos;
    return true;
}

/* The size of the property with identifier `id` whose value starts at p[0..len) (identifier
 * already consumed): its value's length, or -1 (unknown identifier or truncated). */
static long prop_value_len(uint32_t id, const uint8_t *p, size_t len) {
    uint32_t v;
    int k;
    size_t a, b;
    switch (id) {
    case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
        return len >= 1 ? 1 : -1; /* byte */
    case 0x13: case 0x21: case 0x22: case 0x23:
        return len >= 2 ? 2 : -1; /* two-byte integer */
    case 0x02: case 0x11: case 0x18: case 0x27:
        return len >= 4 ? 4 : -1; /* four-byte integer */
    case 0x0B:
        k = get_vbi(p, len, &v); /* variable byte integer */
        return k > 0 ? k : -1;
    case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F: /* UTF-8 string */
    case 0x09: case 0x16:                                                        /* binary data */
        if (len < 2) return -1;
        a = 2 + ((size_t)p[0] << 8 | p[1]);
        return a <= len ? (long)a : -1;
    case 0x26: /* string pair */
        if (len < 2) return -1;
        a = 2 + ((size_t)p[0] << 8 | p[1]);
        if (a + 2 > len) return -1;
        b = 2 + ((size_t)p[a] << 8 | p[a + 1]);
        return a + b <= len ? (long)(a + b) : -1;
    default:
        return -1;
    }
}

/* ---- the socket ---- */

static int ms_left(const conn *c, int cap_ms) {
    uint64_t now = mono_ns();
    if (now >= c->deadline) return 0;
    uint64_t ms = (c->deadline - now) / 1000000ull + 1;
    return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

static bool send_all(conn *c, const uint8_t *p, size_t len) {
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (mono_ns() >= c->deadline) {
                c->timed_out = true; /* the caller says what was going on */
                c->torn = true;
                return false;
            }
            struct pollfd pf = {c->fd, POLLOUT, 0};
            poll(&pf, 1, ms_left(c, 1000));
            continue;
        }
        outcome_fail(c->o, "send: %s", n < 0 ? strerror(errno) : "wrote nothing");
        c->torn = true;
        return false;
    }
    return true;
}

/* Reads what the socket holds into the input buffer (waiting up to 100 ms first when `wait`):
 * bytes read, 0 when nothing came, -1 on failure (outcome set). */
static long recv_some(conn *c, bool wait) {
    if (c->in_len == IN_CAP) {
        outcome_fail(c->o, "a packet from the broker exceeds %d bytes", IN_CAP);
        return -1;
    }
    if (wait) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        int r = poll(&pf, 1, ms_left(c, 100));
        if (r == 0 || (r < 0 && errno == EINTR)) return 0;
        if (r < 0) {
            outcome_fail(c->o, "poll: %s", strerror(errno));
            return -1;
        }
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, MSG_DONTWAIT);
    if (n > 0) {
        c->in_len += (size_t)n;
        return n;
    }
    if (n == 0) {
        outcome_fail(c->o, "the broker closed the connection");
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    outcome_fail(c->o, "recv: %s", strerror(errno));
    return -1;
}

static void consume(conn *c, size_t n) {
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static int connect_tcp(const bench_args *a, conn *c) {
    char port[16];
    snprintf(port, sizeof port, "%d", a->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        outcome_fail(c->o, "resolve %s: %s", a->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /* SO_SNDTIMEO bounds a blocking connect on Linux. */
        int ms = ms_left(c, 10000);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        outcome_fail(c->o, "connect %s:%d: %s", a->host, a->port, strerror(err));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    return 0;
}

/* ---- MQTT ---- */

typedef struct {
    long receive_max;
    int max_qos;
    uint32_t max_packet;
} server_limits;

static bool mqtt_connect(conn *c, server_limits *lim) {
    char id[32];
    snprintf(id, sizeof id, "raw-%d", (int)getpid());
    size_t idlen = strlen(id);
    uint8_t p[64];
    size_t i = 0;
    p[i++] = 0x10;
    i += put_vbi(p + i, (uint32_t)(10 + 1 + 2 + idlen));
    static const uint8_t vh[] = {0, 4, 'M', 'Q', 'T', 'T', 5, 0x02 /* clean start */, 0, 60 /* keep alive */,
                                 0 /* properties length */};
    memcpy(p + i, vh, sizeof vh);
    i += sizeof vh;
    p[i++] = (uint8_t)(idlen >> 8);
    p[i++] = (uint8_t)idlen;
    memcpy(p + i, id, idlen);
    i += idlen;
    if (!send_all(c, p, i)) {
        if (c->timed_out) outcome_fail(c->o, "timed out sending CONNECT");
        return false;
    }

    uint8_t type;
    const uint8_t *b;
    uint32_t blen;
    size_t total;
    for (;;) {
        int f = frame(c->in, c->in_len, &type, &b, &blen, &total);
        if (f < 0) {
            outcome_fail(c->o, "malformed packet instead of CONNACK");
            return false;
        }
        if (f > 0) break;
        if (mono_ns() >= c->deadline) {
            outcome_fail(c->o, "timed out waiting for CONNACK");
            return false;
        }
        if (recv_some(c, true) < 0) return false;
    }
    if (type == 0xE0) {
        outcome_fail(c->o, "DISCONNECT instead of CONNACK (reason 0x%02x)", blen ? b[0] : 0);
        return false;
    }
    if (type != 0x20 || blen < 2) {
        outcome_fail(c->o, "expected CONNACK, got packet 0x%02x", type);
        return false;
    }
    if (b[1] != 0) {
        outcome_fail(c->o, "connection refused: reason 0x%02x", b[1]);
        return false;
    }
    lim->receive_max = 65535;
    lim->max_qos = 2;
    lim->max_packet = 0; /* no limit */
    size_t off = 2;
    uint32_t plen = 0;
    if (blen > off) {
        int k = get_vbi(b + off, blen - off, &plen);
        if (k <= 0 || off + (size_t)k + plen > blen) {
            outcome_fail(c->o, "CONNACK: malformed properties length");
            return false;
        }
        off += (size_t)k;
    }
    const uint8_t *pp = b + off;
    size_t j = 0;
    while (j < plen) {
        uint32_t pid;
        int k = get_vbi(pp + j, plen - j, &pid);
        if (k <= 0) {
            outcome_fail(c->o, "CONNACK: malformed property identifier");
            return false;
        }
        j += (size_t)k;
        long vlen = prop_value_len(pid, pp + j, plen - j);
        if (vlen < 0) {
            outcome_fail(c->o, "CONNACK: bad or unknown property 0x%02x", pid);
            return false;
        }
        const uint8_t *v = pp + j;
        if (pid == 0x21) lim->receive_max = (long)v[0] << 8 | v[1];
        else if (pid == 0x24) lim->max_qos = v[0];
        else if (pid == 0x27) lim->max_packet = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
        j += (size_t)vlen;
    }
    consume(c, total);
    if (lim->receive_max == 0) {
        outcome_fail(c->o, "CONNACK: Receive Maximum 0");
        return false;
    }
    return true;
}

static const char *ack_name(uint8_t type) {
    return type == 0x40 ? "PUBACK" : type == 0x50 ? "PUBREC" : "PUBCOMP";
}

static void run_pub(const bench_args *a, outcome *o) {
    static conn c; /* static: the buffers are large */
    static uint8_t state[65536];
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.o = o;
    c.deadline = mono_ns() + (uint64_t)(a->timeout * 1e9);
    o->n = a->n;
    o->has_acked = true;

    publish_tpl pub, marker;
    if (!make_template(&pub, a->topic, a->qos, a->size) || !make_template(&marker, a->topic, 1, a->size)) {
        outcome_fail(o, "payload of %zu bytes is too large for MQTT", a->size);
        return;
    }
    c.out_cap = pub.len > OUT_CAP ? pub.len : OUT_CAP;
    if (marker.len > c.out_cap) c.out_cap = marker.len;
    c.out = malloc(c.out_cap);

    server_limits lim;
    if (connect_tcp(a, &c) < 0 || !mqtt_connect(&c, &lim)) goto out;
    if (a->qos > lim.max_qos || (a->qos == 0 && lim.max_qos < 1)) {
        outcome_fail(o, "the broker's Maximum QoS is %d", lim.max_qos);
        goto out;
    }
    if (lim.max_packet && marker.len > lim.max_packet) {
        outcome_fail(o, "a publish of %zu bytes exceeds the broker's Maximum Packet Size %" PRIu32, marker.len,
                     lim.max_packet);
        goto out;
    }
    long win = lim.receive_max < MAX_WINDOW ? lim.receive_max : MAX_WINDOW;
    long refill = win / 4 < REFILL_AT ? (win / 4 > 0 ? win / 4 : 1) : REFILL_AT;

    uint64_t total = a->n + (a->qos == 0 ? 1 : 0); /* publishes, the marker included */
    uint64_t expect = a->qos ? a->n : 1;           /* completions that end the run */
    uint64_t sent = 0, done = 0, last_ns = 0;
    long inflight = 0;
    uint16_t cursor = 0;
    uint64_t t0 = mono_ns();
    while (done < expect) {
        if (mono_ns() >= c.deadline) {
            c.timed_out = true;
            break;
        }
        /* Append what the window and the buffer allow. */
        bool more = false, room = inflight + refill <= win;
        while (room && sent < total) {
            const publish_tpl *t = (a->qos == 0 && sent == a->n) ? &marker : &pub;
            if (t->qos && inflight >= win) break;
            if (c.out_len + t->len > c.out_cap) {
                more = true;
                break;
            }
            uint8_t *p = c.out + c.out_len;
            memcpy(p, t->hdr, t->hdr_len);
            if (t->qos) {
                do cursor = cursor == 65535 ? 1 : cursor + 1;
                while (state[cursor] != FREE);
                state[cursor] = t->qos == 1 ? WAIT_PUBACK : WAIT_PUBREC;
                p[t->id_at] = (uint8_t)(cursor >> 8);
                p[t->id_at + 1] = (uint8_t)cursor;
                inflight++;
            }
            fill_payload(p + t->hdr_len, a->size, t == &marker ? MARKER : sent, 0);
            c.out_len += t->len;
            sent++;
        }
        if (c.out_len) {
            if (!send_all(&c, c.out, c.out_len)) break;
            c.out_len = 0;
        }
        /* Read acks: wait for them only when nothing can be sent. */
        long r = recv_some(&c, !more && (sent == total || inflight + refill > win));
        if (r < 0) break;
        if (r == 0) continue;
        uint64_t now = mono_ns();
        size_t pos = 0;
        bool failed = false;
        for (;;) {
            uint8_t type;
            const uint8_t *b;
            uint32_t blen;
            size_t len;
            int f = frame(c.in + pos, c.in_len - pos, &type, &b, &blen, &len);
            if (f == 0) break;
            if (f < 0) {
                outcome_fail(o, "malformed packet from the broker");
                failed = true;
                break;
            }
            pos += len;
            if (type == 0x40 || type == 0x50 || type == 0x70) {
                if (blen < 2) {
                    outcome_fail(o, "%s too short", ack_name(type));
                    failed = true;
                    break;
                }
                uint16_t id = (uint16_t)(b[0] << 8 | b[1]);
                uint8_t rc = blen > 2 ? b[2] : 0;
                uint8_t want = type == 0x40 ? WAIT_PUBACK : type == 0x50 ? WAIT_PUBREC : WAIT_PUBCOMP;
                if (rc >= 0x80) {
                    outcome_fail(o, "%s for packet id %u: reason code 0x%02x", ack_name(type), id, rc);
                    failed = true;
                    break;
                }
                if (id == 0 || state[id] != want) {
                    outcome_fail(o, "unexpected %s for packet id %u", ack_name(type), id);
                    failed = true;
                    break;
                }
                if (type == 0x50) {
                    state[id] = WAIT_PUBCOMP;
                    if (c.out_len + 4 > c.out_cap) {
                        if (!send_all(&c, c.out, c.out_len)) {
                            failed = true;
                            break;
                        }
                        c.out_len = 0;
                    }
                    uint8_t *p = c.out + c.out_len;
                    p[0] = 0x62;
                    p[1] = 0x02;
                    p[2] = (uint8_t)(id >> 8);
                    p[3] = (uint8_t)id;
                    c.out_len += 4;
                } else {
                    state[id] = FREE;
                    inflight--;
                    done++;
                    last_ns = now;
                }
            } else if (type == 0xE0) {
                outcome_fail(o, "the broker sent DISCONNECT (reason 0x%02x)", blen ? b[0] : 0);
                failed = true;
                break;
            } else if (type != 0xD0) { /* PINGRESP is harmless; anything else is not expected */
                outcome_fail(o, "unexpected packet 0x%02x from the broker", type);
                failed = true;
                break;
            }
        }
        if (failed) break;
        consume(&c, pos);
#ifdef TCP_QUICKACK
        /* Nothing goes out in answer to what was read: acknowledge it now rather than on the
         * delayed-ACK timer, which a broker with Nagle on (mosquitto's default) waits for
         * before it sends the next acks (~40 ms per window); what tether's driver does. */
        if (c.out_len == 0 && !(inflight + refill <= win && sent < total)) {
            int one = 1;
            (void)setsockopt(c.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
#endif
    }
    o->acked = a->qos ? done : (done ? a->n + 1 : 0);
    if (c.timed_out || (!o->error[0] && done < expect))
        outcome_fail(o, "timed out with %" PRIu64 " of %" PRIu64 " published, %" PRIu64 " of %" PRIu64 " completed",
                     sent, total, done, expect);
    if (!o->error[0] && last_ns > t0) o->elapsed_s = (double)(last_ns - t0) / 1e9;

out:
    if (c.fd >= 0) {
        /* DISCONNECT (normal disconnection), unless a send stopped inside a packet: its bytes
         * would then be read as the rest of that packet. */
        static const uint8_t disconnect[2] = {0xE0, 0x00};
        if (!c.torn) (void)!send(c.fd, disconnect, sizeof disconnect, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(c.fd);
    }
    free(c.out);
    o->ok = !o->error[0];
}

int main(int argc, char **argv) {
    bench_args a = parse_args(argc, argv, "raw");
    outcome o;
    memset(&o, 0, sizeof o);
    o.ok = true;
    /* A reference, not a peer: it speaks MQTT 5 only (the 3.1.1 row leaves it out). */
    if (a.protocol != 5) outcome_fail(&o, "raw: MQTT 5 only");
    else if (!strcmp(a.workload, "pub")) run_pub(&a, &o);
    else outcome_fail(&o, "raw: only the pub workload");
    outcome_print(&o, &a);
    return 0;
}
