import SpanSightDetect
import SpanSightInventory

/// Connects the inventory and the detection engine when both run: the detector asks the
/// inventory what a target is (risk), the inventory tells the detector of identity changes,
/// and the inventory's reports carry each asset's alert risk.
enum Wiring {
    /// `store`: the inventory's `--db`, whose alert risk the detector starts from and which
    /// saves the detector's.
    static func connect(inventory: Inventory?, detector: Detector?, store: String? = nil) throws {
        guard let inventory, let detector else { return }
        // The inventory's load read the store's alert risk in the same transaction (none when
        // the store could not be read and the sensor went on without it).
        if store != nil, let stored = inventory.storedAlertRisk {
            for a in stored {
                detector.restoreRisk(AssetRisk(maxRisk: a.maxRisk, sumRisk: a.sumRisk, alerts: a.alerts), of: a.address)
            }
        }
        inventory.alertRiskAccounts = {
            detector.assetRisks.map { StoredAlertRisk(address: $0.address, maxRisk: $0.risk.maxRisk, sumRisk: $0.risk.sumRisk, alerts: $0.risk.alerts) }
        }
        detector.lookup = inventory
        inventory.changeListener = detector
        inventory.alertRisk = { address in
            detector.assetRisk(of: address).map { (maxRisk: $0.maxRisk, alerts: $0.alerts) }
        }
    }
}
