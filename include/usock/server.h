/* server.h -- Python's socketserver: TCP, UDP and Unix-domain servers with a
 * handler per request, served sequentially, by threads, by processes or by
 * a pool of worker threads. */
#ifndef USOCK_SERVER_H
#define USOCK_SERVER_H

#include <stdint.h>

#include "usock/poll.h"
#include "usock/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct usock_server usock_server; /* opaque */

/* How requests are served (chosen at creation). */
enum usock_server_mode {
    USOCK_SERVER_SEQUENTIAL = 0, /* TCPServer: one at a time, in serve_forever's thread */
    USOCK_SERVER_THREADING,      /* ThreadingMixIn: a thread per request */
    USOCK_SERVER_FORKING,        /* ForkingMixIn: a process per request */
    USOCK_SERVER_POOL            /* N long-lived worker threads and a bounded queue */
};

/* What a handler gets (Python's BaseRequestHandler: request, client_address,
 * server). Valid until the handler returns. */
typedef struct usock_request {
    usock_server *server;
    void *udata;            /* the server's user pointer */
    const usock_addr *peer; /* client_address; for AF_UNIX often unnamed */
    /* Stream servers: the connected socket (rfile and wfile are its
     * read/readline and write/sendall); the server closes it after the
     * handler returns. Datagram servers: the server's socket, to answer
     * with usock_sendto(sock, ..., peer). */
    usock *sock;
    const void *data;       /* datagram servers: the packet; stream: NULL */
    size_t len;
} usock_request;

/* A handler returns >= 0, or a negative code that the server hands to
 * handle_error; either way the server serves on. */
typedef int (*usock_handler)(usock_request *req);

typedef struct usock_server_opts {
    int type;                 /* SOCK_STREAM (default) or SOCK_DGRAM */
    int mode;                 /* enum usock_server_mode; default sequential */
    int allow_reuse_address;  /* SO_REUSEADDR; default 0 (Python's) */
    int allow_reuse_port;     /* SO_REUSEPORT; default 0 */
    int dualstack;            /* an IPv6 address also takes IPv4; default 0 */
    int request_queue_size;   /* listen backlog; default 5 (Python's) */
    double conn_timeout;      /* each connection's socket timeout; < 0 None (default) */
    double timeout;           /* handle_request's bound; < 0 None (default) */
    int block_on_close;       /* threading/forking/pool: server_close waits; default 1 */
    int daemon_threads;       /* threading: never joined; default 0 */
    int max_children;         /* forking: at most this many at once; default 40 */
    int workers;              /* pool: worker threads; 0 = the number of cores */
    int queue_size;           /* pool: queued requests (full: accept waits); 0 = 4 x workers */
    size_t max_packet_size;   /* datagram servers; default 8192 (Python's) */

    /* Python's verify_request: 0 drops the peer before the handler (the
     * connection is closed), non-zero serves it. NULL accepts everyone. */
    int (*verify_request)(usock_server *srv, const usock_addr *peer, void *udata);
    /* Called with the handler's negative return (or a server-side failure
     * of this request). NULL: the default writes one line through log. */
    void (*handle_error)(usock_server *srv, const usock_addr *peer, int err, void *udata);
    /* handle_request's timeout ran out with nothing to serve. */
    void (*handle_timeout)(usock_server *srv, void *udata);
    /* Once per turn of serve_forever's loop. */
    void (*service_actions)(usock_server *srv, void *udata);
    /* Where the server's own messages go, one line each, no newline. NULL:
     * standard error (never standard output). May be called from any of
     * the server's threads, serialized by the server. */
    void (*log)(const char *line, void *udata);
} usock_server_opts;

/* Fills *o with the defaults above. */
USOCK_API void usock_server_opts_init(usock_server_opts *o);

/* Python's Server(server_address, RequestHandlerClass): binds to addr
 * (IPv4, IPv6, or AF_UNIX from usock_addr_from_path) and, for a stream
 * server, listens. opts NULL means the defaults. Errors: USOCK_EINVAL, and
 * those of usock_create_server. */
USOCK_API int usock_server_new(usock_server **out, const usock_addr *addr,
                               usock_handler handler, void *udata,
                               const usock_server_opts *opts);

/* Serves until shutdown: waits up to poll_interval seconds (< 0: 0.5, as
 * Python) between looks at the shutdown flag, calls service_actions once a
 * turn. Returns 0 after a shutdown, or a negative code if the server cannot
 * go on (never for a failed request). USOCK_EBUSY if already serving. */
USOCK_API int usock_server_serve_forever(usock_server *srv, double poll_interval);

/* Python's shutdown(): tells serve_forever to return and waits until it has
 * (from another thread; from serve_forever's own thread it would wait
 * forever, and returns USOCK_EDEADLK instead, the request still standing).
 * Returns at once if it is not serving; as in Python, the next
 * serve_forever then returns at once. */
USOCK_API int usock_server_shutdown(usock_server *srv);

/* The same request without the wait: async-signal-safe, for a signal
 * handler. serve_forever returns after its current turn. */
USOCK_API void usock_server_request_shutdown(usock_server *srv);

/* Python's handle_request(): serves exactly one request, waiting at most
 * opts.timeout (None: forever). Returns 0 when one was served (or handed
 * to a thread, process or worker), USOCK_ETIMEDOUT after handle_timeout. */
USOCK_API int usock_server_handle_request(usock_server *srv);

/* Python's server_close(): closes the listener, waits for threads and
 * children when block_on_close, stops the pool's workers (after they serve
 * the queue when block_on_close), and frees the server. Threads it does not
 * wait for keep the server alive until the last one ends. If serve_forever
 * runs in another thread it is shut down first. NULL ok. Not from a
 * handler. */
USOCK_API void usock_server_close(usock_server *srv);

/* The bound address (Python's server_address, with the real port). */
USOCK_API int usock_server_address(const usock_server *srv, usock_addr *a);

/* The listening (or datagram) socket: Python's server.socket. */
USOCK_API usock *usock_server_socket(const usock_server *srv);

/* Counters, readable at any time from any thread. Forking mode counts its
 * children's requests and bytes too. A request is counted (and handed to
 * handle_error) before its connection is closed. */
typedef struct usock_server_stats {
    uint64_t accepted;  /* connections (stream) or datagrams received */
    uint64_t active;    /* requests being handled now */
    uint64_t requests;  /* handlers that returned */
    uint64_t errors;    /* handlers that failed, children that crashed */
    uint64_t bytes_in, bytes_out;
} usock_server_stats;
USOCK_API void usock_server_stats_get(const usock_server *srv, usock_server_stats *st);

#ifdef __cplusplus
}
#endif
#endif
