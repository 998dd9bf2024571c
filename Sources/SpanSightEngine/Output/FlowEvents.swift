import SpanSightWire

extension Engine {
    /// The `flow` event of a flow that ended (Suricata's fields, plus reassembly counters).
    func emitFlowEvent(_ slot: Int32, reason: FlowEndReason) {
        let r = table[slot]
        var env = envelope(slot)
        let end = r.lastNanos
        env.timestampNanos = end
        env.pcapCount = 0
        // Suricata's app_proto "failed": every probe declined a flow that carried data.
        if r.app == .failed { env.appProto = "failed" }
        let alerted = output.alertedFlows.contains(r.id)
        output.begin("flow", env)
        let body = { (j: inout JSONWriter) in
            if r.hasMAC {
                j.beginObject("ether")
                j.key("src_mac"); j.macValue(r.clientMAC)
                j.key("dest_mac"); j.macValue(r.serverMAC)
                j.endObject()
            }
            j.beginObject("flow")
            j.field("pkts_toserver", r.packetsToServer)
            j.field("pkts_toclient", r.packetsToClient)
            j.field("bytes_toserver", r.bytesToServer)
            j.field("bytes_toclient", r.bytesToClient)
            j.timestampField("start", nanos: r.firstNanos)
            j.timestampField("end", nanos: end)
            j.field("age", Int(max(0, end &- r.firstNanos) / 1_000_000_000))
            j.field("duration", Double(max(0, end &- r.firstNanos)) / 1e9)
            j.field("alerted", alerted)
            j.field("tx_cnt", Int(r.txCount))
            if r.packetsToServer > 0 {
                j.timestampField("start_toserver", nanos: r.firstToServer)
                j.timestampField("end_toserver", nanos: r.lastToServer)
            }
            if r.packetsToClient > 0 {
                j.timestampField("start_toclient", nanos: r.firstToClient)
                j.timestampField("end_toclient", nanos: r.lastToClient)
            }
            if r.key.proto == 6 {
                j.field("state", r.tcpState == .reset || r.tcpState == .closed ? "closed" : (r.tcpState == .established || r.tcpState == .closing ? "established" : "new"))
            } else {
                j.field("state", r.packetsToClient > 0 ? "established" : "new")
            }
            j.field("reason", reason.name)
            j.field("client_by", r.directionBySYN ? "syn" : "port")
            if r.operations != 0 {
                j.beginArray("operations")
                for op in OperationClass.allCases where r.operations & op.bit != 0 { j.value(op.name) }
                j.endArray()
            }
            j.endObject()
            if r.key.proto == 6 {
                let all = r.flagsToServer | r.flagsToClient
                j.beginObject("tcp")
                j.key("tcp_flags"); j.hexValue(UInt64(all))
                j.key("tcp_flags_ts"); j.hexValue(UInt64(r.flagsToServer))
                j.key("tcp_flags_tc"); j.hexValue(UInt64(r.flagsToClient))
                if all & TCPFlags.syn.rawValue != 0 { j.field("syn", true) }
                if all & TCPFlags.fin.rawValue != 0 { j.field("fin", true) }
                if all & TCPFlags.rst.rawValue != 0 { j.field("rst", true) }
                if all & TCPFlags.psh.rawValue != 0 { j.field("psh", true) }
                if all & TCPFlags.ack.rawValue != 0 { j.field("ack", true) }
                if all & TCPFlags.urg.rawValue != 0 { j.field("urg", true) }
                if all & TCPFlags.ece.rawValue != 0 { j.field("ecn", true) }
                if all & TCPFlags.cwr.rawValue != 0 { j.field("cwr", true) }
                j.field("state", r.tcpState.name)
                j.field("payload_bytes_toserver", r.toServer.deliveredBytes)
                j.field("payload_bytes_toclient", r.toClient.deliveredBytes)
                j.field("gap_bytes_toserver", r.toServer.gapBytes)
                j.field("gap_bytes_toclient", r.toClient.gapBytes)
                j.endObject()
            }
        }
        body(&output.writer)
        output.end()
    }

    /// A `stats` event: what the run saw so far (also the final summary).
    public func emitStats() {
        guard output.isEnabled else { return }
        var env = EventEnvelope()
        env.timestampNanos = nowNanos
        output.begin("stats", env)
        let c = counters
        let activeFlows = table.count
        let memory = pool.bytesInUse
        let peak = pool.peakPagesInUse * pool.pageSize
        syncMemory()
        func sortedObject(_ j: inout JSONWriter, _ d: [String: UInt64]) {
            j.beginObject()
            for k in d.keys.sorted() { j.key(k); j.value(d[k] ?? 0) }
            j.endObject()
        }
        let body = { (j: inout JSONWriter) in
            j.beginObject("stats")
            // Live: wall time since start, as Suricata's. Replay: packet time since the first
            // packet, so that the same capture gives the same events however fast it is read.
            let age = c.captureLive ? UptimeClock.nanos() - self.startedMonotonic : self.nowNanos - self.firstNanos
            j.field("uptime", Int(max(0, age) / 1_000_000_000))
            if c.captureLive {
                j.beginObject("capture")
                j.field("kernel_packets", c.captureReceived)
                j.field("kernel_drops", c.captureDropped)
                j.field("kernel_ifdrops", c.captureInterfaceDropped)
                j.endObject()
            }
            j.beginObject("decoder")
            j.field("pkts", c.packets)
            j.field("bytes", c.bytes)
            j.field("invalid", c.decodeErrors)
            j.field("ipv4", c.ipv4)
            j.field("ipv6", c.ipv6)
            j.field("tcp", c.tcp)
            j.field("udp", c.udp)
            j.field("icmp", c.icmp)
            j.field("other_ip", c.otherIP)
            j.field("non_ip", c.nonIP)
            j.field("fragments", c.fragments)
            j.field("snaplen_cut", c.snaplenCut)
            j.field("errors", c.decodeErrors)
            j.key("errors_by_type"); sortedObject(&j, c.decodeErrorsByName)
            j.endObject()
            j.beginObject("flow")
            j.field("total", c.flowsCreated)
            j.field("tcp", c.tcpFlows)
            j.field("udp", c.udpFlows)
            j.field("active", UInt64(activeFlows))
            j.field("tcp_reuse", c.flowsReused)
            j.field("timeout", c.flowsTimedOut)
            j.field("evicted", c.flowsEvicted)
            j.field("shutdown", c.flowsEnded)
            j.field("memuse", UInt64(self.budget.used[MemoryKind.flows.rawValue]))
            j.key("by_app_proto"); sortedObject(&j, c.flowsByApp)
            j.endObject()
            j.beginObject("tcp")
            j.field("sessions", c.tcpFlows)
            j.field("reassembly_gap", c.reassemblyGaps)
            j.field("overlap", c.tcpOverlaps)
            j.field("reassembly_memuse", UInt64(memory))
            j.field("segments_in_order", c.tcpSegmentsInOrder)
            j.field("segments_out_of_order", c.tcpSegmentsOutOfOrder)
            j.field("retransmissions", c.tcpRetransmissions)
            j.field("segments_late", c.tcpSegmentsLate)
            j.field("reassembly_gap_bytes", c.reassemblyGapBytes)
            j.field("reassembly_cap_hits", c.reassemblyCapHits)
            j.field("reassembly_memuse_peak", UInt64(peak))
            j.endObject()
            j.beginObject("app_layer")
            var flows = c.flowsByApp
            flows.removeValue(forKey: "none")
            flows["failed_tcp"] = c.flowsFailedTCP
            flows["failed_udp"] = c.flowsFailedUDP
            j.key("flow"); sortedObject(&j, flows)
            var tx: [String: UInt64] = [:]
            let txCounts = c.transactionsByDissector
            for (i, d) in self.config.dissectors.enumerated() where i < txCounts.count { tx[d.name.description, default: 0] += txCounts[i] }
            j.key("tx"); sortedObject(&j, tx)
            j.field("anomalies", c.anomalies)
            j.key("anomalies_by_event"); sortedObject(&j, c.anomaliesByName)
            j.endObject()
            j.beginObject("detect")
            j.field("alert", self.output.alertsWritten)
            j.endObject()
            self.writeForwarders(&j)
            self.writeMemory(&j)
            j.endObject()
        }
        body(&output.writer)
        output.end()
    }
}

extension Engine {
    /// The `stats.output` object: per kind of forwarder (`redis`), per target, what it sent,
    /// dropped and holds so far (docs/events.md#stats); absent without forwarders.
    func writeForwarders(_ j: inout JSONWriter) {
        let all = output.forwarders
        guard !all.isEmpty else { return }
        j.beginObject("output")
        var kinds: [String] = []
        for f in all where !kinds.contains(f.kind) { kinds.append(f.kind) }
        for kind in kinds {
            j.key(kind); j.beginObject()
            for f in all where f.kind == kind {
                let c = f.counters
                j.key(f.label); j.beginObject()
                j.field("sent", c.sent)
                j.field("dropped", c.dropped)
                j.field("rejected", c.rejected)
                j.field("pending", c.pending)
                j.field("pending_bytes", c.pendingBytes)
                j.field("reconnects", c.reconnects)
                j.field("connected", c.connected)
                j.endObject()
            }
            j.endObject()
        }
        j.endObject()
    }

    /// The `stats.memory` object: the budget, its shares and, per kind, what is held, the peak,
    /// what was shed to stay within it and the charges refused (docs/events.md#stats).
    func writeMemory(_ j: inout JSONWriter) {
        let b = budget
        j.beginObject("memory")
        j.field("budget", b.total)
        j.field("used", b.totalUsed)
        j.field("peak", b.totalPeak)
        j.field("app_layer_limit", b.shares.appLayer)
        j.field("app_layer_used", b.appLayerUsed)
        j.field("app_layer_peak", b.appLayerPeak)
        j.field("flow_cap", b.shares.perFlow)
        j.field("flow_cap_hits", b.perFlowCapHits)
        for kind in MemoryKind.allCases {
            let k = kind.rawValue
            j.beginObject(kind.name)
            if !kind.isAppLayer { j.field("limit", b.limit(kind)) }
            j.field("used", b.used[k])
            j.field("peak", b.peak[k])
            j.field("shed", b.shedItems[k])
            j.field("shed_bytes", b.shedBytes[k])
            j.field("refused", b.refused[k])
            j.endObject()
        }
        j.endObject()
    }
}
