/*
 * raw.h — the --raw method of `synack probe`: the synack engine sends its own
 * SYN over raw sockets and the SYN-ACK (or RST, or ICMP error) is reported as
 * it was on the wire; the half-open connection is then reset, as nmap -sS
 * and hping3 do. Needs root or CAP_NET_RAW.
 */
#ifndef SYNACK_PROBE_RAW_H
#define SYNACK_PROBE_RAW_H

#include "probe.h"

/*
 * The TCP phase with raw sockets, against the first of r->addrs. Fills
 * r->raw, the TCP phase time (first SYN -> reply) and the class; always
 * returns -1: no socket is left for later phases.
 */
int probe_connect_raw(const struct probe_config *cfg, struct probe_result *r);

/*
 * PROBE_OK when raw sockets can be opened; PROBE_ERR_PERMISSION and one line
 * in err if not. *hold keeps the kernel's receive timestamps on for the run
 * (close it at the end; -1 if it could not be had).
 */
enum probe_class probe_raw_check(int *hold, char *err, size_t errlen);

#endif
