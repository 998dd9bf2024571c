// CPcap: the one C header SpanSight includes for libpcap. Only SpanSightCapture imports it.
// Helpers are prefixed CPcap_ and are static inline, so the system library target needs no
// compiled C of its own.
#ifndef SPANSIGHT_CPCAP_SHIM_H
#define SPANSIGHT_CPCAP_SHIM_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>

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

#endif
