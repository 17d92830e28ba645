/*
 * echo.c - the ceiling for tools/bench: a plain single-threaded poll(2) echo server in
 * the shape of the peer's loop (one listening socket, non-blocking connections, one read
 * per readable socket, writes straight back, a bounded write-back buffer per connection
 * beyond which it stops reading). No protocol, no crypto: what loopback TCP and the
 * system calls cost.
 *
 *   echo --tcp HOST:PORT [--max-conns N] [--seconds S]
 *
 * Port 0 picks a free port; the bound port is printed on stderr as the peer does:
 * "event=listening addr=HOST port=N". Exits on SIGTERM/SIGINT or after --seconds
 * (default 3600).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF (64u * 1024u)
#define WRITE_HIGH (256u * 1024u) /* stop reading a connection with this much unsent */
#define MAX_CONNS 19000

struct econn {
    int fd;
    uint8_t *out; /* bytes read but not yet written back */
    size_t out_off, out_len, out_cap;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_drop(struct econn *c)
{
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Writes what is pending. Returns -1 when the connection failed. */
static int conn_flush(struct econn *c)
{
    for (int round = 0; round < 16 && c->out_len > c->out_off; round++) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        free(c->out); /* as the peer does: buffers exist only while they hold bytes */
        c->out = NULL;
        c->out_off = c->out_len = c->out_cap = 0;
    }
    return 0;
}

/* Reads once and echoes; what the socket does not take now waits in c->out. */
static int conn_read(struct econn *c, uint8_t *buf)
{
    ssize_t n = read(c->fd, buf, READ_BUF);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    size_t off = 0;
    if (c->out_len == c->out_off) {
        ssize_t w = write(c->fd, buf, (size_t)n);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        off = w > 0 ? (size_t)w : 0;
    }
    size_t rest = (size_t)n - off;
    if (rest == 0)
        return 0;
    if (c->out_len + rest > c->out_cap) {
        size_t cap = c->out_len + rest + READ_BUF;
        uint8_t *p = realloc(c->out, cap);
        if (p == NULL)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf + off, rest);
    c->out_len += rest;
    return 0;
}

int main(int argc, char **argv)
{
    const char *tcp = "127.0.0.1:0";
    long max_conns = 1024;
    double seconds = 3600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--tcp") == 0)
            tcp = argv[i + 1];
        else if (strcmp(argv[i], "--max-conns") == 0)
            max_conns = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else {
            fprintf(stderr, "usage: echo --tcp HOST:PORT [--max-conns N] [--seconds S]\n");
            return 2;
        }
    }
    if (argc % 2 == 0 || max_conns < 1 || max_conns > MAX_CONNS || !(seconds > 0)) {
        fprintf(stderr, "usage: echo --tcp HOST:PORT [--max-conns N] [--seconds S]\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(tcp, ':');
    if (colon == NULL || (size_t)(colon - tcp) >= sizeof host) {
        fprintf(stderr, "echo: --tcp wants HOST:PORT\n");
        return 2;
    }
    memcpy(host, tcp, (size_t)(colon - tcp));
    host[colon - tcp] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "echo: %s: not an IPv4 address\n", host);
        return 2;
    }

    struct sigaction sig;
    memset(&sig, 0, sizeof sig);
    sig.sa_handler = on_signal;
    sigaction(SIGTERM, &sig, NULL);
    sigaction(SIGINT, &sig, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0 ||
        set_nonblock(lfd) < 0) {
        perror("echo: listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    fprintf(stderr, "event=listening addr=%s port=%u\n", host, (unsigned)ntohs(sa.sin_port));

    size_t n = (size_t)max_conns;
    struct econn *conns = calloc(n, sizeof *conns);
    struct pollfd *pfds = calloc(n + 1, sizeof *pfds);
    uint8_t *buf = malloc(READ_BUF);
    if (conns == NULL || pfds == NULL || buf == NULL)
        return 1;
    for (size_t k = 0; k < n; k++)
        conns[k].fd = -1;
    size_t used = 0; /* conns[0..used) may be open */
    double end = now_s() + seconds;
    for (uint64_t round = 0; round < UINT64_MAX && !stop_flag && now_s() < end; round++) {
        pfds[0].fd = lfd;
        pfds[0].events = POLLIN;
        pfds[0].revents = 0;
        for (size_t k = 0; k < used; k++) {
            struct econn *c = &conns[k];
            pfds[k + 1].fd = c->fd;
            pfds[k + 1].events = 0;
            pfds[k + 1].revents = 0;
            if (c->fd < 0)
                continue;
            if (c->out_len - c->out_off < WRITE_HIGH)
                pfds[k + 1].events |= POLLIN;
            if (c->out_len > c->out_off)
                pfds[k + 1].events |= POLLOUT;
        }
        int ready = poll(pfds, (nfds_t)used + 1, 1000);
        if (ready <= 0)
            continue;
        for (size_t k = 0; k < used; k++) {
            struct econn *c = &conns[k];
            short re = pfds[k + 1].revents;
            if (c->fd < 0 || re == 0)
                continue;
            if ((re & POLLOUT) && conn_flush(c) < 0) {
                conn_drop(c);
                continue;
            }
            if ((re & (POLLIN | POLLERR | POLLHUP)) && conn_read(c, buf) < 0)
                conn_drop(c);
        }
        if (pfds[0].revents & POLLIN) {
            for (int a = 0; a < 64; a++) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                    break;
                size_t slot = n;
                for (size_t k = 0; k < n; k++) {
                    if (conns[k].fd < 0) {
                        slot = k;
                        break;
                    }
                }
                if (slot == n || set_nonblock(fd) < 0) {
                    close(fd);
                    continue;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[slot].fd = fd;
                if (slot + 1 > used)
                    used = slot + 1;
            }
        }
        while (used > 0 && conns[used - 1].fd < 0)
            used--;
    }
    for (size_t k = 0; k < used; k++)
        if (conns[k].fd >= 0)
            conn_drop(&conns[k]);
    close(lfd);
    free(conns);
    free(pfds);
    free(buf);
    return 0;
}
