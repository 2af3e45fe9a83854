#ifndef CALLFLOW_CREDIS_SHIM_H
#define CALLFLOW_CREDIS_SHIM_H
// hiredis' libevent adapter includes event2/event.h, whose Debian config header defines
// _GNU_SOURCE: the system socket headers come first (see CLibevent/shim.h).
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

/// The adapter's attach function is `static` in its header; this gives Swift one entry point.
static inline int callflow_redis_attach(redisAsyncContext *ac, struct event_base *base) {
    return redisLibeventAttach(ac, base);
}
#endif
