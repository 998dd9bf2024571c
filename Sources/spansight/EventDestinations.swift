import ArgumentParser
import SpanSightEngine
import SpanSightRedis

/// Where `--output` sends events: one file or standard output, and any number of Redis targets.
struct EventDestinations {
    /// The events file (nil: none).
    var file: String?
    /// Events go to standard output: no `--output`, or `-` among them.
    var standardOutput = false
    var redis: [RedisTarget] = []
}

extension AnalysisOptions {
    /// The `--output` values sorted out, or a usage error naming the one that is wrong.
    func eventDestinations() throws -> EventDestinations {
        var d = EventDestinations()
        if output.isEmpty { d.standardOutput = true }
        for value in output {
            if RedisTarget.isRedisURL(value) {
                do { d.redis.append(try RedisTarget(url: value)) } catch { throw ValidationError("--output: \(error)") }
            } else if value == "-" {
                d.standardOutput = true
            } else if let first = d.file {
                throw ValidationError("--output: events go to one file at most (\(first) and \(value)); add Redis targets beside it with more --output redis://...")
            } else {
                d.file = value
            }
        }
        if d.standardOutput, let f = d.file {
            throw ValidationError("--output: events go to one file or to standard output ('-'), not both (\(f))")
        }
        return d
    }

    /// The run's events output: the file (`live`: appended to) or standard output, with each
    /// Redis target as a forwarder; only Redis: events are built and handed to it alone.
    func makeEventOutput(appending: Bool) throws -> EventOutput {
        let d = try eventDestinations()
        let out: EventOutput
        do {
            if let f = d.file { out = try EventOutput(appending ? .appendingFile(f) : .file(f)) }
            else if d.standardOutput { out = try EventOutput(.standardOutput) }
            else { out = .discarding() }
        } catch { throw fail(error.description) }
        for target in d.redis {
            out.add(RedisEventSink(target) { Stderr.line("spansight: warning: \($0)") })
        }
        return out
    }

    /// Starts the Redis senders (`live`: once privileges are given up).
    func startForwarders(_ out: EventOutput) {
        for case let sink as RedisEventSink in out.forwarders { sink.start() }
    }
}
