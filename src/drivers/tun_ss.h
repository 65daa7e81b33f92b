/*
 * tun_ss.h — a stack's connection table printed as `ss -tan` prints the
 * kernel's (and, on request, the `ss -ti` fields of each connection), for
 * the commands that run a stack on a TUN device.
 */
#ifndef SYNACK_DRIVERS_TUN_SS_H
#define SYNACK_DRIVERS_TUN_SS_H

#include <stdbool.h>
#include <stdio.h>

#include "synack/synack.h"

/* Prints the header and one line per listener and connection:
 *   State      Recv-Q Send-Q Local Address:Port     Peer Address:Port
 *   LISTEN     0      128    198.18.0.2:80          0.0.0.0:*
 *   ESTAB      0      0      198.18.0.2:80          198.18.0.1:43210
 * For listeners Recv-Q is the accept queue's depth and Send-Q the backlog,
 * as in ss. With info, each connection gets a second line of tcp_info-like
 * fields as `ss -ti` prints them (rtt/rttvar, rto, mss, wscale, cwnd,
 * retrans, bytes...). Returns the number of entries printed. */
size_t tun_ss_print(synack_stack *s, FILE *out, bool info);

#endif /* SYNACK_DRIVERS_TUN_SS_H */
