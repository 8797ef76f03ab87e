//! Consumption anomalies: the `risk` crate's detectors run over each meter's accepted readings,
//! each finding recorded once as a note (an `anomaly_detected` event with its evidence); frozen
//! registers also count as tamper flags in the customer's credit features.
//!
//! Run as a job (`POST /v1/jobs/anomalies`, and by the scheduler): it reads the last
//! [`ANOMALY_LOOKBACK_DAYS`] of readings per meter. A finding's id derives from (meter, kind,
//! start of its period), so running the job again records nothing twice.

use super::error::{from_rejection, ServiceError};
use super::{ids, notes, Service};
use ::risk::anomaly::{
    detect_consumption_spikes, detect_continuous_night_flow, detect_frozen_register, AnomalyConfig, AnomalyKind,
    DailyVolume, IntervalVolume, RegisterReading,
};
use ledger::{Command, RejectionCode};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// How far back the detectors look.
pub const ANOMALY_LOOKBACK_DAYS: i64 = 90;

const DAY_MS: i64 = 86_400_000;
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

/// One meter's readings as the detectors need them.
#[derive(Debug, Default)]
struct MeterSeries {
    customer_id: Uuid,
    intervals: Vec<IntervalVolume>,
    registers: Vec<RegisterReading>,
}

impl Service {
    /// Runs every detector over every meter's recent readings; returns the findings recorded now.
    pub async fn detect_anomalies(&self) -> Result<usize, ServiceError> {
        let now_ms = self.now().0.div_euclid(1_000);
        let since_ms = now_ms - ANOMALY_LOOKBACK_DAYS * DAY_MS;
        let series: HashMap<Uuid, MeterSeries> = {
            let projection = self.projection.read();
            let mut series: HashMap<Uuid, MeterSeries> = HashMap::new();
            for bills in projection.bills.values() {
                for bill in bills {
                    let reading = &bill.reading;
                    let (from_ms, to_ms) =
                        (reading.previous_read_at.div_euclid(1_000), reading.read_at.div_euclid(1_000));
                    if to_ms < since_ms || to_ms <= from_ms {
                        continue;
                    }
                    let meter = series.entry(reading.meter_id).or_default();
                    meter.customer_id = reading.customer_id;
                    meter.intervals.push(IntervalVolume {
                        from_unix_ms: from_ms,
                        to_unix_ms: to_ms,
                        volume_m3: reading.volume,
                    });
                    meter.registers.push(RegisterReading { at_unix_ms: to_ms, register_m3: reading.register });
                }
            }
            series
        };
        let known: std::collections::HashSet<ledger::EntryId> =
            self.projection.read().anomalies.keys().copied().collect();
        let config = AnomalyConfig::default();
        let mut commands = Vec::new();
        for (meter_id, mut meter) in series {
            meter.intervals.sort_by_key(|interval| interval.from_unix_ms);
            meter.registers.sort_by_key(|reading| reading.at_unix_ms);
            // Daily volumes by Beijing day (each interval counted on the day it ends: hourly
            // readings make that exact enough for a day's total).
            let mut days: BTreeMap<i64, Decimal> = BTreeMap::new();
            for interval in &meter.intervals {
                let day = (interval.to_unix_ms - 1 + BEIJING_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - BEIJING_OFFSET_MS;
                *days.entry(day).or_default() += interval.volume_m3;
            }
            let daily: Vec<DailyVolume> =
                days.into_iter().map(|(day_unix_ms, volume_m3)| DailyVolume { day_unix_ms, volume_m3 }).collect();
            let mut found = Vec::new();
            // A detector refusing its input (e.g. an overlap left by a meter replacement) is
            // logged and the others still run.
            match detect_continuous_night_flow(&meter_id, &meter.intervals, &config) {
                Ok(anomalies) => found.extend(anomalies),
                Err(error) => tracing::debug!(%meter_id, %error, "night-flow detection skipped"),
            }
            match detect_consumption_spikes(&meter_id, &daily, &config) {
                Ok(anomalies) => found.extend(anomalies),
                Err(error) => tracing::debug!(%meter_id, %error, "spike detection skipped"),
            }
            match detect_frozen_register(&meter_id, &meter.registers, &[], &config) {
                Ok(anomalies) => found.extend(anomalies),
                Err(error) => tracing::debug!(%meter_id, %error, "frozen-register detection skipped"),
            }
            for anomaly in found {
                let note = notes::AnomalyDetected {
                    meter_id,
                    customer_id: meter.customer_id,
                    kind: anomaly.kind.code().to_owned(),
                    tamper: matches!(anomaly.kind, AnomalyKind::FrozenRegister | AnomalyKind::ReversedRegister),
                    from_unix_ms: anomaly.from_unix_ms,
                    to_unix_ms: anomaly.to_unix_ms,
                    evidence: serde_json::to_value(&anomaly.evidence).unwrap_or_default(),
                };
                let finding = ids::anomaly(meter_id, anomaly.kind.code(), anomaly.from_unix_ms);
                if known.contains(&finding) {
                    continue;
                }
                commands.push(Command::Note {
                    id: finding,
                    kind: notes::ANOMALY_DETECTED.into(),
                    payload: notes::encode(&note),
                });
            }
        }
        let mut recorded = 0;
        for result in self.submit_in_batches(commands).await? {
            match result {
                Ok(_) => recorded += 1,
                // Found and recorded by an earlier run (the same period, perhaps grown since).
                Err(rejection) if rejection.code == RejectionCode::IdConflict => {}
                Err(rejection) => return Err(from_rejection(&rejection)),
            }
        }
        Ok(recorded)
    }
}
