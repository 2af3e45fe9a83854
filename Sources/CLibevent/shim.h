#ifndef CALLFLOW_CLIBEVENT_SHIM_H
#define CALLFLOW_CLIBEVENT_SHIM_H
// Debian's event2/event-config.h defines _GNU_SOURCE. Pull in the system socket headers first so
// every module sees one definition of fd_set and friends (a clean build fails otherwise).
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <signal.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#endif
