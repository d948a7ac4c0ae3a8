/* usock.h -- MicroPython's usocket/uselect and Python's socket stack in C. */
#ifndef USOCK_H
#define USOCK_H

#include "usock/version.h"
#include "usock/error.h"
#include "usock/socket.h"
#include "usock/poll.h"
#include "usock/server.h"
#include "usock/http.h"
#include "usock/url.h"
#include "usock/httpd.h"
#include "usock/request.h"
#include "usock/tls.h"

#endif
