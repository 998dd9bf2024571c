// CPcap: the one C header SpanSight includes for libpcap. Only SpanSightCapture imports it.
// Helpers are prefixed CPcap_ and are static inline, so the system library target needs no
// compiled C of its own.
#ifndef SPANSIGHT_CPCAP_SHIM_H
#define SPANSIGHT_CPCAP_SHIM_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

// The packet header layout this project relies on (struct timeval on 64-bit Linux).
_Static_assert(sizeof(((struct pcap_pkthdr *)0)->caplen) == 4, "caplen is 32-bit");
_Static_assert(sizeof(((struct pcap_pkthdr *)0)->len) == 4, "len is 32-bit");

/// Seconds and sub-second part of a packet header. With a handle opened for nanosecond
/// precision, tv_usec holds nanoseconds.
static inline int64_t CPcap_headerSeconds(const struct pcap_pkthdr *h) { return (int64_t)h->ts.tv_sec; }
static inline int64_t CPcap_headerFraction(const struct pcap_pkthdr *h) { return (int64_t)h->ts.tv_usec; }
static inline uint32_t CPcap_headerCaplen(const struct pcap_pkthdr *h) { return h->caplen; }
static inline uint32_t CPcap_headerLen(const struct pcap_pkthdr *h) { return h->len; }

/// Byte offset of the next record in an offline capture (for progress and truncation reports);
/// -1 for live handles or when unknown.
static inline long CPcap_fileOffset(pcap_t *p) {
    FILE *f = pcap_file(p);
    return f ? ftell(f) : -1L;
}

/// Clears every capability of the calling thread (effective, permitted, inheritable), for a
/// sensor that started unprivileged with file capabilities (CAP_NET_RAW) and has opened its
/// capture. capset(2) has no glibc wrapper. 0 on success, else -1 and errno.
static inline int CPcap_dropCapabilities(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].effective = 0; data[i].permitted = 0; data[i].inheritable = 0;
    }
    return (int)syscall(SYS_capset, &header, data);
}

/// PR_SET_NO_NEW_PRIVS: no exec from here on can gain privileges (set-id bits, file
/// capabilities). prctl is variadic, so Swift cannot call it directly.
static inline int CPcap_noNewPrivileges(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

/// PR_SET_KEEPCAPS off: a setuid away from root then clears the permitted, effective and
/// ambient sets (the kernel's default, made explicit).
static inline int CPcap_clearKeepCapabilities(void) { return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0); }

#endif
