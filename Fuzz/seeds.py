#!/usr/bin/env python3
"""Seeds for the fuzz targets, made from captures at run time (none are committed).

    python3 Fuzz/seeds.py OUT CAPTURE_DIR...

writes OUT/<target>/<sha1> for the targets modbus, dnp3, hl7, dicom, s7comm (one file per TCP or UDP
conversation of the protocol, in StreamFuzz's format: Fuzz/Sources/FuzzSupport/StreamFuzz.swift)
and pipeline (up to four chunks per capture, in PipelineFuzz's format). The protocol of a
capture is its folder in ../shared/corpus (modbus/, dnp3/, hl7/; mixed/ is Modbus on port 502)
or its fixture name (modbus-*, detect-dnp3-*, ...). Reads classic pcap and pcapng; no
dependencies beyond the standard library. Prints one line of counts per target.
"""
import hashlib
import os
import struct
import sys

STREAM_MAX = 4 * 1024     # the dissector targets' -max_len (scripts/fuzz.sh)
PIPELINE_MAX = 16 * 1024  # the pipeline target's -max_len
PIPELINE_CHUNKS = 4
PROTOCOLS = ("modbus", "dnp3", "hl7", "dicom", "s7comm")
# PipelineFuzz.dlt, by position: the flags' 3-bit link code.
LINK_CODES = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 101: 5, 12: 5, 14: 5, 228: 6, 229: 7}
# ClockStep.nanos, by code (the last one is a step back).
STEPS = [1e6, 1e7, 1e8, 1e9, 1e10, 7e10, 7e11]


def read_capture(path):
    """(linktype, [(ts_nanos, frame, wire_length)]) of a pcap or pcapng file."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return read_pcapng(data)
    formats = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
               b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
    if magic not in formats:
        return None, []
    e, scale = formats[magic]
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    packets, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        packets.append((sec * 10**9 + frac * scale, frame, orig))
        off += 16 + incl
    return link, packets


def read_pcapng(data):
    links, packets, off, e = [], [], 0, "<"
    while off + 12 <= len(data):
        btype = struct.unpack(e + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
        if blen < 12:
            break
        body = data[off + 8:off + blen - 4]
        if btype == 1:
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            _, hi, lo, incl, orig = struct.unpack(e + "IIIII", body[:20])
            packets.append((((hi << 32) | lo) * 1000, body[20:20 + incl], orig))
        elif btype == 3 and len(body) >= 4:
            orig = struct.unpack(e + "I", body[:4])[0]
            packets.append((0, body[4:], orig))
        off += blen
    return (links[0] if links else None), packets


def ip_of(link, frame):
    """The IP packet inside a frame, or None."""
    if link == 1:
        off, etype = 14, frame[12:14]
        while etype in (b"\x81\x00", b"\x88\xa8") and len(frame) >= off + 4:
            etype, off = frame[off + 2:off + 4], off + 4
        return frame[off:] if etype in (b"\x08\x00", b"\x86\xdd") else None
    if link == 113:
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == 276:
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if link in (0, 108):
        return frame[4:]
    if link in (12, 14, 101, 228, 229):
        return frame
    return None


def transport_of(ip):
    """(proto, src, dst, sport, dport, seq, flags, payload) of a TCP or UDP packet, or None."""
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        ihl, total = (ip[0] & 15) * 4, struct.unpack(">H", ip[2:4])[0]
        if struct.unpack(">H", ip[6:8])[0] & 0x1FFF:
            return None
        proto, src, dst, body = ip[9], ip[12:16], ip[16:20], ip[ihl:max(ihl, min(total, len(ip)))]
    elif ip[0] >> 4 == 6 and len(ip) >= 40:
        proto, src, dst, body = ip[6], ip[8:24], ip[24:40], ip[40:]
        while proto in (0, 43, 60) and len(body) >= 8:
            proto, body = body[0], body[(body[1] + 1) * 8:]
    else:
        return None
    if proto == 6 and len(body) >= 20:
        sport, dport, seq = struct.unpack(">HHI", body[:8])
        return (6, src, dst, sport, dport, seq, body[13], body[(body[12] >> 4) * 4:])
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack(">HH", body[:4])
        return (17, src, dst, sport, dport, 0, 0, body[8:])
    return None


def step_code(delta):
    if delta < 0:
        return 7
    for code, nanos in enumerate(STEPS):
        if delta <= nanos * 3:
            return code
    return 6


def stream_seeds(link, packets, protocol):
    """One StreamFuzz input per conversation with payload."""
    flows = {}
    for ts, frame, _ in packets:
        ip = ip_of(link, frame)
        t = ip and transport_of(ip)
        if not t:
            continue
        proto, src, dst, sport, dport, seq, flags, payload = t
        a, b = (src, sport), (dst, dport)
        key = (proto,) + tuple(sorted((a, b)))
        f = flows.setdefault(key, {"client": None, "first": a, "syn": False, "next": {}, "records": [],
                                   "size": 0, "ts": ts, "udp": proto == 17})
        if proto == 6 and flags & 0x12 == 0x02:
            if f["client"] is None:
                f["client"], f["syn"] = a, not f["records"]
            f["next"][a] = (seq + 1) & 0xFFFFFFFF
            continue
        if not payload:
            continue
        f["records"].append((a, seq, payload, ts))
    seeds = []
    for f in flows.values():
        client = f["client"] or f["first"]
        out = bytearray([(1 if f["udp"] else 0) | (0 if f["syn"] else 2), 0])
        nxt, last_ts, kept = dict(f["next"]), f["ts"], 0
        for a, seq, payload, ts in f["records"]:
            side = 0 if a == client else 1
            if not f["udp"]:
                want = nxt.get(a)
                if want is not None:
                    ahead = (seq - want) & 0xFFFFFFFF
                    if ahead >= 0x80000000:  # retransmitted or overlapping: keep the new part
                        payload = payload[(want - seq) & 0xFFFFFFFF:]
                        seq = want
                    elif 0 < ahead < 0x10000:  # a hole: a lost record
                        out += bytes([side | 2]) + struct.pack(">H", ahead)
                    elif ahead:
                        continue
                if not payload:
                    continue
                nxt[a] = (seq + len(payload)) & 0xFFFFFFFF
            record = bytes([side | step_code(ts - last_ts) << 2]) + struct.pack(">H", len(payload)) + payload
            if len(out) + len(record) > STREAM_MAX:
                break
            out += record
            last_ts, kept = ts, kept + 1
        if kept:
            seeds.append(bytes(out))
            if protocol == "dnp3":  # the same with checksums rewritten (StreamFuzz's variant bit 5)
                seeds.append(bytes(out[:1]) + b"\x20" + bytes(out[2:]))
    return seeds


def pipeline_seeds(link, packets):
    """PipelineFuzz inputs: the capture's frames, in chunks of at most PIPELINE_MAX bytes."""
    if link not in LINK_CODES:
        return []
    seeds, out, last = [], bytearray([LINK_CODES[link]]), None
    for ts, frame, wire in packets:
        frame = frame[:0xFFFF]
        step = step_code(0 if last is None else ts - last) | (8 if wire > len(frame) else 0)
        record = struct.pack(">HB", len(frame), step) + frame
        if len(out) + len(record) > PIPELINE_MAX:
            seeds.append(bytes(out))
            if len(seeds) == PIPELINE_CHUNKS:
                return seeds
            out = bytearray([LINK_CODES[link]])
        out += record
        last = ts
    if len(out) > 1:
        seeds.append(bytes(out))
    return seeds


def protocol_of(path):
    folder, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
    if folder in PROTOCOLS:
        return folder
    if folder == "mixed":
        return "modbus"
    name = name[len("detect-"):] if name.startswith("detect-") else name
    return next((p for p in PROTOCOLS if name.startswith(p + "-")), None)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, dirs = sys.argv[1], sys.argv[2:]
    captures = []
    for d in dirs:
        for root, _, files in os.walk(d):
            captures += [os.path.join(root, f) for f in files if f.endswith((".pcap", ".pcapng"))]
    counts = {t: [0, 0] for t in PROTOCOLS + ("pipeline",)}
    for path in sorted(captures):
        link, packets = read_capture(path)
        if link is None:
            continue
        protocol = protocol_of(path)
        batches = [("pipeline", pipeline_seeds(link, packets))]
        if protocol:
            batches.append((protocol, stream_seeds(link, packets, protocol)))
        for target, seeds in batches:
            os.makedirs(os.path.join(out, target), exist_ok=True)
            for s in seeds:
                with open(os.path.join(out, target, hashlib.sha1(s).hexdigest()), "wb") as fh:
                    fh.write(s)
                counts[target][0] += 1
                counts[target][1] += len(s)
    for target, (n, size) in counts.items():
        print(f"seeds {target}: {n} inputs, {size} bytes")


if __name__ == "__main__":
    main()
