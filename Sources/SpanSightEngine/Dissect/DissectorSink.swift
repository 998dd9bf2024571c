/// Where a dissector session writes events and observations: the one interface between a
/// session and the rest of the pipeline. `DissectContext` is the engine's; tests drive a
/// session with a sink of their own (the engine's context cannot be built outside it), which
/// implements what it needs and takes the defaults below for the rest.
public protocol DissectorSink {
    /// Engine time of the packet being processed (ns since the epoch).
    var timestampNanos: Int64 { get }
    /// The packet being processed as an event names it (its own time and number).
    var stamp: PacketStamp { get }
    /// False when no events are being built (a session can skip work done only for output).
    var eventsEnabled: Bool { get }
    /// An observer listens (inventory, detection): observations are built only then.
    var observing: Bool { get }
    func emit(_ type: StaticString, _ body: (inout JSONWriter) -> Void)
    /// A transaction event: `tx_id` (the transaction's number in the flow) and the message's
    /// direction in the envelope.
    func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void)
    /// A transaction event about a message of an earlier packet, stamped with that packet.
    func emit(_ type: StaticString, txID: Int64, direction: Direction?, stamp: PacketStamp?,
              _ body: (inout JSONWriter) -> Void)
    /// An `anomaly` event (name from the protocol's catalogue).
    func anomaly(_ name: StaticString, _ details: (inout JSONWriter) -> Void)
    /// One PDU parsed (benchmark counter).
    func countPDU()
    func observe(_ observation: Observation)
    /// An observation about one transaction, with a writer of its app-layer object.
    func observe(_ observation: Observation, txID: Int64, direction: Direction?, appObject: (inout JSONWriter) -> Void)
    /// The flow carried a command of this class.
    func markOperation(_ operation: OperationClass)
}

extension DissectorSink {
    /// Test sinks without an envelope write the body alone.
    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, _ body: (inout JSONWriter) -> Void) { emit(type, body) }
    public func emit(_ type: StaticString, txID: Int64, direction: Direction?, stamp: PacketStamp?,
                     _ body: (inout JSONWriter) -> Void) { emit(type, txID: txID, direction: direction, body) }
    public var stamp: PacketStamp { PacketStamp(packetNanos: timestampNanos, pcapCount: 0) }
    public var eventsEnabled: Bool { true }
    public var observing: Bool { false }
    public func countPDU() {}
    public func observe(_ observation: Observation) {}
    public func observe(_ observation: Observation, txID: Int64, direction: Direction?,
                        appObject: (inout JSONWriter) -> Void) { observe(observation) }
    public func markOperation(_ operation: OperationClass) {}
    /// An anomaly without details.
    public func anomaly(_ name: StaticString) { anomaly(name) { _ in } }
}

extension DissectContext: DissectorSink {}
