#!/usr/bin/env python3
"""Hostile-traffic captures for the memory benchmark (issue 16 §1) and its tests.

Writes one classic pcap (Ethernet/IPv4/TCP, microsecond timestamps) per call. Each pattern
is traffic an attacker could send to make a passive analyser hold memory: flows that never
finish, holes the reassembler must wait behind, messages that never end, requests that are
never answered. Python standard library only; captures are streamed to a buffered file, so
the size options cost disk, not memory.

usage: mkhostile.py PATTERN OUT.pcap [--flows N] [--requests N] [--bytes N] [--seed S]

  syn-flood          --flows SYNs to port 502 from distinct addresses and ports, no replies
                     (1,000,000). Spread over less than 60 s of capture time, the idle timeout
                     of half-open flows, so every one of them is open at the end.
  reassembly-bomb    --flows connections to port 502 (64); after the handshake each sends its
                     share of --bytes (in total over all flows, 512 MiB) as 1,440-byte segments,
                     shuffled within groups of 8, behind a first segment that never arrives. The
                     server only repeats the ACK of the handshake, so nothing acknowledges the hole.
                     The bytes are Modbus read requests, so what a reassembler gives up on still
                     decodes.
  mllp-endless       --flows connections to port 2575 (300), each an MLLP start block, an HL7 MSH,
                     PID and OBR, then --bytes of OBX segments (4 MiB per flow); no end block.
  dicom-huge-pdu     --flows connections to port 104 (300), each an A-ASSOCIATE-RQ announcing
                     0xFFFFFFF0 bytes, then --bytes of its body (2 MiB per flow): the fixed
                     fields, the application context and presentation context items without end.
  dicom-huge-pdata   --flows connections to port 104 (300): a complete A-ASSOCIATE-RQ and -AC
                     (PS3.8 9.3.2, 9.3.3), then a P-DATA-TF announcing 0xFFFFFFF0 bytes with one
                     PDV, and --bytes of its data (2 MiB per flow).
  modbus-unanswered  --flows connections to port 502 (5,000), each --requests read holding
                     registers requests (1,100; transaction ids from 1, unit 1), 8 per segment;
                     the server only ACKs. Streams: --flows 1 --requests 2000000 is fine.
  dnp3-unfinished    --flows connections to port 20000 (1,000), each --requests link frames (200)
                     with correct CRCs, unconfirmed user data from masters 1 to 4 to outstation
                     10 in turn; per master the transport segments start with FIR, count up
                     and never set FIN, so no application fragment completes.

The packets of many flows are interleaved (a few segments of each in turn, every flow open at
once). Packets are 50 us apart, closer when a capture would otherwise span more than 540 s,
so no flow reaches SpanSight's 600 s idle timeout of established flows. Sizes accept K, M
and G suffixes (binary). The same arguments always write the same bytes.
"""
import argparse
import os
import random
import struct
import sys
import time
from collections import deque

START_SECONDS = 1_764_158_400          # 2025-11-26 12:00:00 UTC
STEP_US = 50                           # packet spacing unless the span would be too long
SPAN_US = 540_000_000                  # longest capture span: below the 600 s TCP idle timeout
SYN_SPAN_US = 50_000_000               # SYN floods: below the 60 s timeout of half-open flows

SYN, PSH, ACK = 0x02, 0x08, 0x10
MSS = 1460

SERVER_IP = bytes([192, 168, 10, 20])
SERVER_MAC = bytes([0x00, 0x1d, 0x9c, 0x10, 0x00, 0x14])
ATTACKER_MAC = bytes([0x02, 0x66, 0x66, 0x00, 0x00, 0x01])

_pcap_record = struct.Struct('<IIII').pack
_ip_middle = struct.Struct('!H6sH').pack
_tcp = struct.Struct('!HHIIBBHHH').pack


def fold(s):
    s = (s & 0xffff) + (s >> 16)
    return (s & 0xffff) + (s >> 16)


class PcapWriter:
    """Classic pcap, Ethernet link type; every packet `step_us` after the previous one."""

    def __init__(self, path, step_us):
        self.f = open(path, 'wb', buffering=1 << 20)
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        self.t = START_SECONDS * 1_000_000
        self.step = step_us
        self.packets = 0

    def write(self, frame):
        self.t += self.step
        s, u = divmod(self.t, 1_000_000)
        n = len(frame)
        self.f.write(_pcap_record(s, u, n, n) + frame)
        self.packets += 1

    def close(self):
        self.f.close()
        return self.t / 1e6 - START_SECONDS


class Conn:
    """One TCP connection; direction 0 is client to server, 1 server to client. `seq[d]` is
    the next sequence number of direction d, which the other direction acknowledges."""
    __slots__ = ('eth', 'ips', 'sums', 'ports', 'seq')

    def __init__(self, client_ip, client_port, server_port, rng, client_mac=ATTACKER_MAC):
        self.eth = (SERVER_MAC + client_mac + b'\x08\x00', client_mac + SERVER_MAC + b'\x08\x00')
        self.ips = (client_ip + SERVER_IP, SERVER_IP + client_ip)
        # The IPv4 header sum without the total length: version, flags (DF), TTL 64, TCP.
        fixed = 0x4500 + 0x4000 + 0x4006 + sum(struct.unpack('!4H', client_ip + SERVER_IP))
        self.sums = (fixed, fixed)
        self.ports = ((client_port, server_port), (server_port, client_port))
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]

    def frame(self, d, flags, payload=b'', seq=None):
        """A frame in direction d. Without `seq` it carries the direction's next sequence
        number and advances it; with one it is sent there and nothing advances."""
        tot = 40 + len(payload)
        sp, dp = self.ports[d]
        if seq is None:
            seq = self.seq[d]
            self.seq[d] = (seq + len(payload) + (1 if flags & SYN else 0)) & 0xffffffff
        ack = self.seq[1 - d] if flags & ACK else 0
        ip = b'\x45\x00' + _ip_middle(tot, b'\x00\x00\x40\x00\x40\x06',
                                      ~fold(self.sums[d] + tot) & 0xffff) + self.ips[d]
        return self.eth[d] + ip + _tcp(sp, dp, seq, ack, 0x50, flags, 64240, 0, 0) + payload

    def handshake(self):
        return [self.frame(0, SYN), self.frame(1, SYN | ACK), self.frame(0, ACK)]


def client_ip(i):
    """Attacker addresses for multi-flow patterns: 25,000 source ports per address."""
    return struct.pack('!I', 0x0a420000 + 0x100 + i // 25_000)


def client_port(i):
    return 40_000 + i % 25_000


def session(c, payloads, exchange=(), burst=4):
    """A flow as bursts of frames: the handshake, the `exchange` [(direction, payload)], then
    `payloads` client to server, `burst` segments a turn, the server ACKing every second."""
    yield c.handshake()
    if exchange:
        yield [c.frame(d, PSH | ACK, p) for d, p in exchange]
    out, k = [], 0
    for p in payloads:
        out.append(c.frame(0, PSH | ACK, p))
        k += 1
        if not k & 1:
            out.append(c.frame(1, ACK))
        if k % burst == 0:
            yield out
            out = []
    if out:
        yield out


def interleave(w, flows):
    """Round robin over the flows' bursts until every flow is done."""
    active = deque(flows)
    while active:
        g = active.popleft()
        burst = next(g, None)
        if burst is None:
            continue
        for f in burst:
            w.write(f)
        active.append(g)


def cyclic(block, total, size, first=b''):
    """`first`, then `total` bytes of `block` repeated, cut into segments of `size` bytes."""
    n = len(block)
    ring = block * (1 + size // n + 1)
    off, left = 0, total
    if first:
        k = min(size - len(first), left)
        yield first + ring[:k]
        off, left = k % n, left - k
    while left > 0:
        k = min(size, left)
        yield ring[off:off + k]
        off, left = (off + k) % n, left - k


def segments_for(total, size):
    return -(-total // size)


# ---- Modbus/TCP

ADU = 12
_read_holding = struct.Struct('!HHHBBHH').pack


def modbus_requests(extra):
    """Read holding registers requests for every transaction id 0...65535 and then `extra`
    more, back to back: slice it at id t for requests t, t+1, ..."""
    return b''.join(_read_holding(t & 0xffff, 0, 6, 1, 3, (t * 10) % 1000, 10)
                    for t in range(65_536 + extra))


def modbus_payloads(table, first_tid, n, per_segment):
    tid = first_tid
    while n > 0:
        k = min(per_segment, n)
        t = tid & 0xffff
        yield table[t * ADU:(t + k) * ADU]
        tid += k
        n -= k


# ---- DNP3

def _crc_table():
    table = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC_TABLE = _crc_table()


def dnp3_crc(data):
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ CRC_TABLE[(crc ^ b) & 0xff]
    return struct.pack('<H', ~crc & 0xffff)


def dnp3_frame(ctrl, dst, src, user_data):
    hdr = b'\x05\x64' + bytes([5 + len(user_data), ctrl]) + struct.pack('<HH', dst, src)
    out = [hdr, dnp3_crc(hdr)]
    for i in range(0, len(user_data), 16):
        block = user_data[i:i + 16]
        out += [block, dnp3_crc(block)]
    return b''.join(out)


# A READ of classes 1, 2, 3 and 0 (g60v2, v3, v4, v1, qualifier 0x06), repeated to fill a
# 249-byte transport segment: the fragment stays well formed however far it gets.
CLASS_READS = bytes.fromhex('3c0206 3c0306 3c0406 3c0106') * 21
OUTSTATION = 10
MASTERS = (1, 2, 3, 4)


def dnp3_payloads(n, cache):
    """`n` link frames, masters in turn; per master the transport sequence starts with FIR and
    never sets FIN. Frames are cached by (master, transport header): few are distinct."""
    seq = {}
    for j in range(n):
        src = MASTERS[j % len(MASTERS)]
        first = src not in seq
        s = seq.get(src, -1) + 1 & 0x3f
        seq[src] = s
        th = (0x40 if first else 0) | s
        key = (src, th)
        f = cache.get(key)
        if f is None:
            # The first segment opens the application fragment: FIR|FIN, sequence 0, READ.
            app = (b'\xc0\x01' + CLASS_READS[:246]) if first else CLASS_READS[:249]
            # Link control 0xC4: DIR, PRM, unconfirmed user data.
            f = cache[key] = dnp3_frame(0xC4, OUTSTATION, src, bytes([th]) + app)
        yield f


# ---- HL7 over MLLP

def hl7_header(i):
    return (b'\x0bMSH|^~\\&|MONITOR|ICU|EMR|HOSP|20251126120000||ORU^R01^ORU_R01|MSG%06d|P|2.5\r'
            b'PID|1||%06d^^^HOSP^MR||DOE^JOHN||19600101|M\r'
            b'OBR|1||%06d|8867-4^Heart rate^LN|||20251126120000\r' % (i, 100_000 + i, i))


OBX_BLOCK = b''.join(b'OBX|%d|NM|8867-4^Heart rate^LN||%d|/min^beats per minute^UCUM|60-100|N|||F'
                     b'|||20251126120000\r' % (k, 60 + k % 40) for k in range(1, 801))


# ---- DICOM upper layer (PS3.8 9.3)

def item(kind, value):
    return bytes([kind, 0]) + struct.pack('!H', len(value)) + value


def ae(title):
    return title.ljust(16).encode()


APP_CONTEXT = item(0x10, b'1.2.840.10008.3.1.1.1')
IMPLICIT_LE = b'1.2.840.10008.1.2'
EXPLICIT_LE = b'1.2.840.10008.1.2.1'
STORAGE = [b'1.2.840.10008.5.1.4.1.1.2', b'1.2.840.10008.5.1.4.1.1.4', b'1.2.840.10008.5.1.4.1.1.1',
           b'1.2.840.10008.5.1.4.1.1.7', b'1.2.840.10008.5.1.4.1.1.128', b'1.2.840.10008.5.1.4.1.1.6.1']
USER_INFO = item(0x50, item(0x51, struct.pack('!I', 16_384))
                 + item(0x52, b'1.2.826.0.1.3680043.10.543.16')
                 + item(0x55, b'SPANSIGHT_HOSTILE'))


def fixed_fields(called, calling):
    # Protocol version 1, reserved, called and calling AE titles, 32 reserved bytes.
    return b'\x00\x01\x00\x00' + ae(called) + ae(calling) + bytes(32)


def rq_context(pc_id, abstract):
    return item(0x20, bytes([pc_id, 0, 0, 0]) + item(0x30, abstract)
                + item(0x40, EXPLICIT_LE) + item(0x40, IMPLICIT_LE))


def pdu(kind, body, length=None):
    return bytes([kind, 0]) + struct.pack('!I', len(body) if length is None else length) + body


# Presentation context items with every odd id, for the RQ that never ends.
CONTEXT_BLOCK = b''.join(rq_context(pc, STORAGE[(pc // 2) % len(STORAGE)]) for pc in range(1, 256, 2))


def association(i):
    calling = 'MODALITY%d' % (i % 1000)
    rq = pdu(0x01, fixed_fields('PACS', calling) + APP_CONTEXT
             + rq_context(1, STORAGE[0]) + rq_context(3, b'1.2.840.10008.1.1') + USER_INFO)
    ac_context = item(0x21, bytes([1, 0, 0, 0]) + item(0x40, EXPLICIT_LE))
    ac_verify = item(0x21, bytes([3, 0, 0, 0]) + item(0x40, IMPLICIT_LE))
    ac = pdu(0x02, fixed_fields('PACS', calling) + APP_CONTEXT + ac_context + ac_verify + USER_INFO)
    return rq, ac


# Pixel data, explicit VR little endian: (7FE0,0010) OB, undefined length, then counting bytes.
PIXELS = bytes(range(256)) * 64


# ---- patterns

def syn_flood(w, a, rng):
    ip = struct.Struct('!I').pack
    syn_tail = b'\x50\x02\xfa\xf0\x00\x00\x00\x00'
    head = SERVER_MAC + ATTACKER_MAC + b'\x08\x00'
    fixed = 0x4500 + 0x4000 + 0x4006 + 40 + sum(struct.unpack('!2H', SERVER_IP))
    dst = SERVER_IP
    for i in range(a.flows):
        src = 0x0a000000 + 0x100 + i                     # 10.0.1.0 onwards, one per SYN
        s = fold(fixed + (src >> 16) + (src & 0xffff))
        sport = 1024 + rng.getrandbits(16) % 64_000
        w.write(head + b'\x45\x00\x00\x28\x00\x00\x40\x00\x40\x06' + struct.pack('!H', ~s & 0xffff)
                + ip(src) + dst + struct.pack('!HHII', sport, 502, rng.getrandbits(32), 0) + syn_tail)


def reassembly_bomb(w, a, rng):
    size = 1440                                          # 120 Modbus requests
    per_flow = a.bytes // a.flows
    n = segments_for(per_flow, size) + 1                 # segment 0 is the hole
    table = modbus_requests(120)

    def flow(i):
        c = Conn(client_ip(i), client_port(i), 502, rng)
        yield c.handshake()
        base = c.seq[0]                                  # stays: the hole is never filled
        for g in range(1, n, 8):
            group = list(range(g, min(g + 8, n)))
            rng.shuffle(group)
            out = []
            for k in group:
                t = (k * 120) & 0xffff
                out.append(c.frame(0, PSH | ACK, table[t * ADU:t * ADU + size],
                                   seq=(base + k * size) & 0xffffffff))
            out.append(c.frame(1, ACK))                  # a duplicate ACK of the handshake
            yield out
    interleave(w, [flow(i) for i in range(a.flows)])


def mllp_endless(w, a, rng):
    def flow(i):
        c = Conn(client_ip(i), client_port(i), 2575, rng)
        return session(c, cyclic(OBX_BLOCK, a.bytes, MSS, first=hl7_header(i)))
    interleave(w, [flow(i) for i in range(a.flows)])


def dicom_huge_pdu(w, a, rng):
    def flow(i):
        c = Conn(client_ip(i), client_port(i), 104, rng)
        start = pdu(0x01, fixed_fields('PACS', 'MODALITY%d' % (i % 1000)) + APP_CONTEXT,
                    length=0xFFFFFFF0)
        body = a.bytes - (len(start) - 6)
        return session(c, cyclic(CONTEXT_BLOCK, body, MSS, first=start))
    interleave(w, [flow(i) for i in range(a.flows)])


def dicom_huge_pdata(w, a, rng):
    def flow(i):
        c = Conn(client_ip(i), client_port(i), 104, rng)
        rq, ac = association(i)
        # PDU and PDV lengths past anything sent; PDV: context 1, data set, not the last.
        start = (b'\x04\x00' + struct.pack('!IIBB', 0xFFFFFFF0, 0xFFFFFFEC, 1, 0x00)
                 + b'\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff')
        return session(c, cyclic(PIXELS, a.bytes - 12, MSS, first=start),
                       exchange=[(0, rq), (1, ac)])
    interleave(w, [flow(i) for i in range(a.flows)])


def modbus_unanswered(w, a, rng):
    per_segment = 8
    table = modbus_requests(per_segment)

    def flow(i):
        c = Conn(client_ip(i), client_port(i), 502, rng)
        return session(c, modbus_payloads(table, 1, a.requests, per_segment))
    interleave(w, [flow(i) for i in range(a.flows)])


def dnp3_unfinished(w, a, rng):
    cache = {}

    def flow(i):
        c = Conn(client_ip(i), client_port(i), 20000, rng)
        return session(c, dnp3_payloads(a.requests, cache))
    interleave(w, [flow(i) for i in range(a.flows)])


def session_packets(flows, segments, exchange=0):
    return flows * (3 + exchange + segments + segments // 2)


M = 1 << 20
# name: (writer, options that apply with defaults, expected packets for the spacing)
PATTERNS = {
    'syn-flood': (syn_flood, {'flows': 1_000_000}, lambda a: a.flows),
    'reassembly-bomb': (reassembly_bomb, {'flows': 64, 'bytes': 64 * 8 * M},
                        lambda a: a.flows * (3 + segments_for(a.bytes // a.flows, 1440) * 9 // 8)),
    'mllp-endless': (mllp_endless, {'flows': 300, 'bytes': 4 * M},
                     lambda a: session_packets(a.flows, segments_for(a.bytes, MSS))),
    'dicom-huge-pdu': (dicom_huge_pdu, {'flows': 300, 'bytes': 2 * M},
                       lambda a: session_packets(a.flows, segments_for(a.bytes, MSS))),
    'dicom-huge-pdata': (dicom_huge_pdata, {'flows': 300, 'bytes': 2 * M},
                         lambda a: session_packets(a.flows, segments_for(a.bytes, MSS), 2)),
    'modbus-unanswered': (modbus_unanswered, {'flows': 5_000, 'requests': 1_100},
                          lambda a: session_packets(a.flows, segments_for(a.requests, 8))),
    'dnp3-unfinished': (dnp3_unfinished, {'flows': 1_000, 'requests': 200},
                        lambda a: session_packets(a.flows, a.requests)),
}


def size(text):
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    t = text.strip().upper().removesuffix('B').removesuffix('I')
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError('not a size: %r' % text)


def count(text):
    try:
        return int(text.replace('_', '').replace(',', ''))
    except ValueError:
        raise argparse.ArgumentTypeError('not a count: %r' % text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('pattern', choices=list(PATTERNS), metavar='PATTERN')
    p.add_argument('out', metavar='OUT.pcap')
    p.add_argument('--flows', type=count)
    p.add_argument('--requests', type=count, help='requests (modbus) or link frames (dnp3) per flow')
    p.add_argument('--bytes', type=size, help='payload per flow (reassembly-bomb: over all flows)')
    p.add_argument('--seed', type=int, default=1)
    a = p.parse_args()
    write, defaults, estimate = PATTERNS[a.pattern]
    for opt in ('flows', 'requests', 'bytes'):
        if getattr(a, opt) is None:
            setattr(a, opt, defaults.get(opt))
        elif opt not in defaults:
            p.error('--%s does not apply to %s' % (opt, a.pattern))
        if opt in defaults and getattr(a, opt) < 1:
            p.error('--%s must be at least 1' % opt)
    if a.pattern == 'reassembly-bomb' and a.bytes // a.flows < 1440:
        p.error('reassembly-bomb: --bytes must give each flow at least 1440 bytes')
    if a.pattern == 'dicom-huge-pdu' and a.bytes < 128:
        p.error('dicom-huge-pdu: --bytes must be at least 128')
    if a.pattern == 'dicom-huge-pdata' and a.bytes < 12:
        p.error('dicom-huge-pdata: --bytes must be at least 12')

    span = SYN_SPAN_US if a.pattern == 'syn-flood' else SPAN_US
    step = max(1, min(STEP_US, span // max(1, estimate(a))))
    began = time.monotonic()
    w = PcapWriter(a.out, step)
    write(w, a, random.Random(a.seed))
    seconds = w.close()
    took = time.monotonic() - began
    opts = ' '.join('%s %d' % (k, getattr(a, k)) for k in ('flows', 'requests', 'bytes') if k in defaults)
    print('mkhostile: %s: wrote %s: %d packets, %.1f MB, %s, %.1f s of capture time, %d us apart, '
          'in %.1f s' % (a.pattern, a.out, w.packets, os.path.getsize(a.out) / 1e6, opts, seconds,
                         step, took), file=sys.stderr)


if __name__ == '__main__':
    main()
