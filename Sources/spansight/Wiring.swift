import SpanSightDetect
import SpanSightInventory

/// Connects the inventory and the detection engine when both run: the detector asks the
/// inventory what a target is (risk), the inventory tells the detector of identity changes,
/// and the inventory's reports carry each asset's alert risk.
enum Wiring {
    static func connect(inventory: Inventory?, detector: Detector?) {
        guard let inventory, let detector else { return }
        detector.lookup = inventory
        inventory.changeListener = detector
        inventory.alertRisk = { address in
            detector.assetRisk(of: address).map { (maxRisk: $0.maxRisk, alerts: $0.alerts) }
        }
    }
}
