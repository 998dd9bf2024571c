import SpanSightEngine
import SpanSightWire

/// Who talks to whom, with which protocol and which classes of operation: as Graphviz DOT
/// and as a self-contained HTML report (asset table and the map drawn as inline SVG; no
/// script, font or image is fetched, so it opens offline).
public enum CommunicationMap {
    struct Node {
        var id: String
        var label: String
        var sublabel: String
        var asset: Asset
        var x = 0.0
        var y = 0.0
    }

    struct Edge {
        var from: String
        var to: String
        var service: String
        var operations: UInt16
        var flows: UInt64
        var bytes: UInt64
    }

    /// Edges between assets (several addresses of one asset fold into it), merged per service.
    static func graph(_ inv: Inventory, _ assets: [Asset]) -> ([Node], [Edge]) {
        var owner: [IPAddress: String] = [:]
        var nodes: [Node] = []
        for a in assets {
            for ip in a.addresses { owner[ip] = a.id }
            let c = a.classification
            nodes.append(Node(id: a.id, label: a.addresses.map { $0.text }.joined(separator: ", "),
                              sublabel: c.deviceClass.name.description + (c.purdueLevel.map { " (L\($0))" } ?? ""), asset: a))
        }
        var merged: [String: Edge] = [:]
        for (k, e) in InventoryReport.sortedEdges(inv) {
            guard let f = owner[k.client], let t = owner[k.server] else { continue }
            let key = f + "|" + t + "|" + k.service
            if var m = merged[key] {
                m.operations |= e.operations; m.flows += e.flows; m.bytes += e.bytes
                merged[key] = m
            } else {
                merged[key] = Edge(from: f, to: t, service: k.service, operations: e.operations, flows: e.flows, bytes: e.bytes)
            }
        }
        let edges = merged.keys.sorted().map { merged[$0]! }
        return (nodes, edges)
    }

    static func operationsText(_ bits: UInt16) -> String {
        OperationClass.allCases.filter { bits & $0.bit != 0 }.map { $0.name.description }.joined(separator: ",")
    }

    /// An edge's colour: its protocol module's, grey for unrecognised services.
    static func color(_ service: String, _ inv: Inventory) -> String {
        inv.config.protocols.first { "\($0.name)" == service }.map { "\($0.color)" } ?? "#7f7f7f"
    }

    // MARK: DOT

    public static func dot(_ inv: Inventory, assets: [Asset]) -> String {
        let (nodes, edges) = graph(inv, assets)
        var s = "digraph spansight {\n  graph [rankdir=LR, fontname=\"Helvetica\", label=\"SpanSight communication map\"];\n"
        s += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n"
        s += "  edge [fontname=\"Helvetica\", fontsize=9];\n"
        for domain in [AssetDomain.ot, .iomt, .it, .unknown] {
            let members = nodes.filter { $0.asset.classification.domain == domain }
            guard !members.isEmpty else { continue }
            s += "  subgraph \"cluster_\(domain.name)\" {\n    label=\"\(domain.name.description.uppercased())\";\n"
            for n in members {
                s += "    \(quote(n.id)) [label=\(quote(lines: [n.label, n.sublabel])), fillcolor=\"\(fill(domain))\"];\n"
            }
            s += "  }\n"
        }
        for e in edges {
            let ops = operationsText(e.operations)
            let label = quote(lines: ops.isEmpty ? [e.service] : [e.service, ops])
            let danger = e.operations & (OperationClass.write.bit | OperationClass.control.bit) != 0
            s += "  \(quote(e.from)) -> \(quote(e.to)) [label=\(label), color=\"\(color(e.service, inv))\"\(danger ? ", penwidth=2, style=bold" : "")];\n"
        }
        s += "}\n"
        return s
    }

    static func quote(_ s: String) -> String { quote(lines: [s]) }

    /// A DOT string of several lines (each escaped, joined by DOT's `\n`).
    static func quote(lines: [String]) -> String {
        "\"" + lines.map { $0.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") }.joined(separator: "\\n") + "\""
    }

    static func fill(_ d: AssetDomain) -> String {
        switch d {
        case .ot: "#fde0c5"
        case .iomt: "#d5f0d5"
        case .it: "#dbe8f7"
        case .unknown: "#eeeeee"
        }
    }

    // MARK: HTML

    /// Band of a device class: clients and supervisory devices above, the devices they
    /// command below (Purdue order in OT: level 3, then 2, then 1).
    static func band(_ c: DeviceClass) -> Int {
        switch c {
        case .historian: 0
        case .hmi, .workstation, .modality: 1
        case .interfaceEngine, .itServer: 2
        case .plc, .rtu, .pacs: 3
        case .unknown: 4
        }
    }

    /// Lays nodes out in sections by domain (OT, IoMT, IT, unknown) side by side; within a
    /// section, in bands by role (supervisory devices above the field devices they command),
    /// at most `perRow` nodes a row.
    static func layout(_ nodes: inout [Node]) -> (width: Double, height: Double) {
        let boxW = 190.0, gapX = 30.0, rowHeight = 110.0, perRow = 4
        var x0 = 40.0
        var maxY = 100.0
        for d in [AssetDomain.ot, .iomt, .it, .unknown] {
            let idx = nodes.indices.filter { nodes[$0].asset.classification.domain == d }
            guard !idx.isEmpty else { continue }
            var y = 80.0
            var widest = 1
            for b in 0...4 {
                let members = idx.filter { band(nodes[$0].asset.classification.deviceClass) == b }
                    .sorted { nodes[$0].asset.addresses[0] < nodes[$1].asset.addresses[0] }
                guard !members.isEmpty else { continue }
                for (k, i) in members.enumerated() {
                    nodes[i].x = x0 + Double(k % perRow) * (boxW + gapX)
                    nodes[i].y = y + Double(k / perRow) * rowHeight
                }
                widest = max(widest, min(members.count, perRow))
                y += Double((members.count + perRow - 1) / perRow) * rowHeight
            }
            maxY = max(maxY, y)
            x0 += Double(widest) * (boxW + gapX) + 50
        }
        return (x0, maxY + 20)
    }

    public static func html(_ inv: Inventory, assets: [Asset], title: String) -> String {
        var (nodes, edges) = graph(inv, assets)
        let size = layout(&nodes)
        var pos: [String: (Double, Double)] = [:]
        for n in nodes { pos[n.id] = (n.x, n.y) }
        let boxW = 190.0, boxH = 44.0
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(size.width))\" height=\"\(Int(size.height))\" viewBox=\"0 0 \(Int(size.width)) \(Int(size.height))\" font-family=\"Helvetica,Arial,sans-serif\">\n"
        svg += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
        var headerX: [String: Double] = [:]
        for n in nodes {
            let d = n.asset.classification.domain.name.description.uppercased()
            headerX[d] = min(headerX[d] ?? n.x, n.x)
        }
        for (d, x) in headerX.sorted(by: { $0.value < $1.value }) {
            svg += "<text x=\"\(Int(x))\" y=\"50\" font-size=\"15\" font-weight=\"bold\" fill=\"#333\">\(escape(d))</text>\n"
        }
        var perPair: [String: Int] = [:]
        for (k, e) in edges.enumerated() {
            guard let a = pos[e.from], let b = pos[e.to] else { continue }
            // Several protocols between one pair: fan their curves and stack their labels.
            let pairKey = min(e.from, e.to) + "|" + max(e.from, e.to)
            let nth = perPair[pairKey, default: 0]
            perPair[pairKey] = nth + 1
            let (x1, y1) = (a.0 + boxW / 2, a.1 + boxH / 2)
            let (x2, y2) = (b.0 + boxW / 2, b.1 + boxH / 2)
            // Curve sideways so edges between the same column stay visible.
            let sameRow = a.1 == b.1
            let bend = sameRow ? -(40.0 + Double(nth) * 15) : Double(nth) * 28 - Double(k % 2) * 6
            let (cx, cy) = ((x1 + x2) / 2 + (sameRow ? 0 : bend), (y1 + y2) / 2 + (sameRow ? bend : 0))
            let danger = e.operations & (OperationClass.write.bit | OperationClass.control.bit) != 0
            let ops = operationsText(e.operations)
            // End the arrow at the target box's edge.
            let (ex, ey) = clipToBox(fromX: cx, fromY: cy, box: (b.0, b.1, boxW, boxH))
            svg += "<path d=\"M \(f(x1)) \(f(y1)) Q \(f(cx)) \(f(cy)) \(f(ex)) \(f(ey))\" fill=\"none\" stroke=\"\(color(e.service, inv))\" stroke-width=\"\(danger ? 3 : 1.5)\"\(danger ? "" : " stroke-opacity=\"0.8\"") marker-end=\"url(#arrow)\"><title>\(escape("\(e.service) \(ops) — \(e.flows) flows, \(e.bytes) bytes"))</title></path>\n"
            let (lx, ly) = (0.25 * x1 + 0.5 * cx + 0.25 * ex, 0.25 * y1 + 0.5 * cy + 0.25 * ey)
            svg += "<text x=\"\(f(lx))\" y=\"\(f(ly - 3 + Double(nth) * 12))\" font-size=\"10\" text-anchor=\"middle\" fill=\"\(danger ? "#c00" : "#333")\">\(escape(e.service + (ops.isEmpty ? "" : ": " + ops)))</text>\n"
        }
        for n in nodes {
            let d = n.asset.classification.domain
            svg += "<g><rect x=\"\(f(n.x))\" y=\"\(f(n.y))\" width=\"\(f(boxW))\" height=\"\(f(boxH))\" rx=\"8\" fill=\"\(fill(d))\" stroke=\"#666\"/>"
            svg += "<text x=\"\(f(n.x + 8))\" y=\"\(f(n.y + 18))\" font-size=\"12\" font-weight=\"bold\">\(escape(InventoryReport.clip(n.label, 28)))</text>"
            svg += "<text x=\"\(f(n.x + 8))\" y=\"\(f(n.y + 34))\" font-size=\"10\" fill=\"#444\">\(escape(InventoryReport.clip(n.sublabel + (n.asset.vendor.map { " · " + $0 } ?? ""), 34)))</text>"
            svg += "<title>\(escape(n.id))</title></g>\n"
        }
        svg += "</svg>"

        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(escape(title))</title>\n<style>\n"
        h += "body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
        h += "table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}"
        h += "th{background:#f3f3f3}.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:18px;height:4px;vertical-align:middle;margin-right:4px}"
        h += "</style></head><body>\n<h1>\(escape(title))</h1>\n"
        h += "<p>\(assets.count) assets, \(edges.count) conversations. MAC vendors: \(escape(inv.oui.sources.isEmpty ? "no IEEE registry" : inv.oui.sources.joined(separator: ", "))). Generated by SpanSight from passive observation only.</p>\n"
        h += "<h2>Communication map</h2>\n<div class=\"legend\">"
        for m in inv.config.protocols.sorted(by: { "\($0.name)" < "\($1.name)" }) {
            h += "<span><i class=\"sw\" style=\"background:\(m.color)\"></i>\(m.name)</span>"
        }
        h += "<span><i class=\"sw\" style=\"background:#7f7f7f\"></i>other</span><span>thick line, red label: write or control</span></div>\n"
        h += svg + "\n<h2>Assets</h2>\n<table><tr>"
        for col in ["Addresses", "MAC", "Vendor", "Class", "Domain", "Level", "Conf.", "Risk", "Roles", "Services", "Software / identity", "OS", "Children", "Reasons"] {
            h += "<th>\(col)</th>"
        }
        h += "</tr>\n"
        for a in assets {
            let c = a.classification
            var ident: [String] = a.software
            for id in a.identities where id.key.hasSuffix("ae_title") || id.key.hasSuffix("application") || id.key.hasSuffix("facility") {
                ident.append(id.key + "=" + id.value)
            }
            let services: [String] = a.services.map { (k: ServiceKey, st: ServiceStats) -> String in
                (k.proto == 17 ? "udp/" : "tcp/") + String(k.port) + " " + st.app
            }
            let addresses: String = a.addresses.map { $0.text }.joined(separator: " ")
            let mac: String = a.mac.map { MAC.text($0) } ?? ""
            let level: String = c.purdueLevel.map { String($0) } ?? ""
            let os: String = a.stack.map { $0.label + " (" + $0.quality + ")" } ?? ""
            let children: String = a.children.map { $0.kind + "=" + String($0.id) }.joined(separator: " ")
            var cells: [String] = [addresses, mac, a.vendor ?? "", c.deviceClass.name.description, c.domain.name.description]
            cells += [level, String(c.confidence), String(a.risk), a.roles.joined(separator: " "), services.joined(separator: ", ")]
            cells += [ident.joined(separator: "; "), os, children, c.reasons.joined(separator: "; ")]
            h += "<tr>" + cells.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        h += "</table>\n</body></html>\n"
        return h
    }

    static func clipToBox(fromX: Double, fromY: Double, box: (Double, Double, Double, Double)) -> (Double, Double) {
        let (bx, by, bw, bh) = box
        let (cx, cy) = (bx + bw / 2, by + bh / 2)
        let dx = fromX - cx, dy = fromY - cy
        if dx == 0 && dy == 0 { return (cx, by) }
        let sx = dx == 0 ? Double.infinity : (bw / 2) / abs(dx)
        let sy = dy == 0 ? Double.infinity : (bh / 2) / abs(dy)
        let s = min(sx, sy, 1)
        return (cx + dx * s, cy + dy * s)
    }

    static func f(_ v: Double) -> String { String(Int(v.rounded())) }

    static func escape(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(ch)
            }
        }
        return o
    }
}
