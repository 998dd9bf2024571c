// UNSAFE: borrows the capture's packet bytes (a scoped buffer pointer) during `packet` only.
import Foundation
import SpanSightCapture
import SpanSightEngine

/// `live --write-pcap DIR`: every captured packet written to `DIR/capture-N.pcap`, a new file
/// each `--rotate-megabytes`, the oldest overwritten after `--rotate-files` (tcpdump's -C and
/// -W). A restart goes on after the newest file. A failed write stops the recording (a
/// warning), never the analysis.
final class RollingCapture {
    let directory: String
    let bytesPerFile: Int
    /// Files kept (0: no limit).
    let files: Int
    let linkType: UInt32
    let snaplen: UInt32
    private var file: CheckedFile?
    private var writer: PcapWriter?
    private var index = -1
    private var written = 0
    private(set) var packets: UInt64 = 0
    private(set) var opened = 0
    private(set) var failure: String?

    init(directory: String, megabytesPerFile: Int, files: Int, linkType: Int32, snaplen: Int32) {
        self.directory = directory
        bytesPerFile = megabytesPerFile << 20
        self.files = files
        self.linkType = UInt32(bitPattern: linkType)
        self.snaplen = UInt32(clamping: snaplen)
        index = Self.newest(in: directory, below: files) ?? -1
    }

    /// A restarted sensor goes on after the newest file of the folder (by modification time),
    /// so that it overwrites the oldest, not the newest.
    static func newest(in directory: String, below limit: Int) -> Int? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        var best: (Int, Date)? = nil
        for name in names where name.hasPrefix("capture-") && name.hasSuffix(".pcap") {
            guard let n = Int(name.dropFirst("capture-".count).dropLast(".pcap".count)), n >= 0, limit == 0 || n < limit,
                  let date = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(name)"))?[.modificationDate] as? Date else { continue }
            if best == nil || date > best!.1 || date == best!.1 && n > best!.0 { best = (n, date) }
        }
        return best?.0
    }

    func path(_ i: Int) -> String { "\(directory)/capture-\(i).pcap" }

    /// One packet (the capture's bytes, valid during the call).
    func packet(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64) {
        guard failure == nil else { return }
        if writer == nil || written + 16 + bytes.count > bytesPerFile && written > 24 { rotate() }
        guard let writer else { return }
        writer.packet(bytes, wireLength: wireLength, nanos: nanos)
        written += 16 + bytes.count
        packets &+= 1
    }

    private func rotate() {
        close()
        guard failure == nil else { return }
        index += 1
        if files > 0 { index %= files }
        let p = path(index)
        do {
            let f = try CheckedFile(path: p, label: "--write-pcap \(p)", mode: .stream)
            file = f
            writer = PcapWriter(linkType: linkType, snaplen: snaplen, precision: .nano) { f.write($0) }
            written = 24
            opened += 1
        } catch {
            failure = error.description
        }
    }

    /// Hands what is buffered to the file (the flush interval, the end).
    func flush() {
        writer?.flush()
        file?.flush()
        if let f = file?.failure, failure == nil { failure = f.description }
    }

    func close() {
        flush()
        writer = nil
        if let f = file {
            do { try f.close() } catch { if failure == nil { failure = error.description } }
        }
        file = nil
    }
}
