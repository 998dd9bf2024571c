import Foundation
import Yams

/// `--config FILE`: options from a YAML mapping, each key an option's long name (the same
/// name as on the command line, without the dashes). The file's options are put before the
/// command line's, so that for a single value the command line wins (the parser keeps the
/// last one); an option the command line gives is not taken from the file at all, so that a
/// list (`interface`) is the command line's, not both.
///
///     interface: [eth1, eth2]
///     filter: "not port 22"
///     flush-interval: 1
///     immediate: true        # a flag: true sets it, false leaves it out
///     output: /var/log/spansight/eve.json
enum ConfigFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The short names the tool's options have, and their long names.
    static let shortNames: [Character: String] = ["o": "output", "q": "quiet", "i": "interface"]

    /// `arguments` (without the program name) with the options of the `--config` file it
    /// names inserted after the subcommand; unchanged when there is none.
    static func expand(_ arguments: [String]) throws(Failure) -> [String] {
        guard let at = arguments.firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else { return arguments }
        let path: String
        if arguments[at] == "--config" {
            guard at + 1 < arguments.count else { return arguments }    // the parser says it is missing
            path = arguments[at + 1]
        } else {
            path = String(arguments[at].dropFirst("--config=".count))
        }
        let given = givenOptions(arguments)
        let options = try load(path)
        var inserted: [String] = []
        for (key, values) in options where !given.contains(key) {
            for v in values {
                switch v {
                case .flag: inserted.append("--\(key)")
                // One argument, so that a value starting with '-' (`eve-types: -modbus`) stays a value.
                case .value(let s): inserted.append("--\(key)=\(s)")
                }
            }
        }
        // After the subcommand (the first argument that is neither an option nor the file
        // name after `--config`), else at the end.
        var sub: Int? = nil
        var k = 0
        while k < arguments.count {
            if arguments[k] == "--config" { k += 2; continue }
            if !arguments[k].hasPrefix("-") { sub = k + 1; break }
            k += 1
        }
        let cut = sub ?? arguments.count
        return Array(arguments[..<cut]) + inserted + Array(arguments[cut...])
    }

    enum Value: Equatable { case flag, value(String) }

    /// The long names of the options on the command line.
    static func givenOptions(_ arguments: [String]) -> Set<String> {
        var names: Set<String> = []
        for a in arguments {
            if a == "--" { break }
            if a.hasPrefix("--") {
                names.insert(String(a.dropFirst(2).prefix(while: { $0 != "=" })))
            } else if a.hasPrefix("-"), a.count >= 2 {
                // Short options, alone or combined (`-qi eth3`).
                for ch in a.dropFirst() { if let long = shortNames[ch] { names.insert(long) } }
            }
        }
        return names
    }

    /// The file's options in its order: each key with its values (a list: the option repeated).
    static func load(_ path: String) throws(Failure) -> [(String, [Value])] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read it as UTF-8 text" : "no such file"
            throw Failure(description: "--config \(path): \(reason)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw Failure(description: "--config \(path): not YAML: \(oneLine(error))")
        }
        guard let node else { return [] }    // an empty file
        guard let mapping = node.mapping else {
            throw Failure(description: "--config \(path): the file must be a mapping of option names to values")
        }
        var out: [(String, [Value])] = []
        var seen: Set<String> = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string, !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), !key.hasPrefix("-") else {
                throw Failure(description: "--config \(path): line \(k.mark?.line ?? 0): a key must be an option's long name (letters, digits, dashes)")
            }
            if key == "config" { throw Failure(description: "--config \(path): a configuration file cannot name another (`config`)") }
            guard seen.insert(key).inserted else { throw Failure(description: "--config \(path): key '\(key)' is given twice") }
            let line = v.mark?.line ?? 0
            func value(_ n: Node) throws(Failure) -> Value? {
                guard let scalar = n.scalar else {
                    throw Failure(description: "--config \(path): line \(line): '\(key)' takes a value or a list of values")
                }
                // Only true and false are booleans (YAML 1.1's yes, no, on, off are values: a
                // sensor may well be named "on").
                if scalar.style == .plain, ["true", "True", "TRUE"].contains(scalar.string) { return .flag }
                if scalar.style == .plain, ["false", "False", "FALSE"].contains(scalar.string) { return nil }
                return .value(scalar.string)
            }
            if let list = v.sequence {
                var values: [Value] = []
                for item in list { if let x = try value(item) { values.append(x) } }
                out.append((key, values))
            } else if let x = try value(v) {
                out.append((key, [x]))
            }
        }
        return out
    }

    private static func oneLine(_ error: Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
    }
}
