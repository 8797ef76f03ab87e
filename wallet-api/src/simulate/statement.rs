//! The channel's side of the story: a WeChat Pay `ALL` trade bill for one business day, built
//! from the top-ups the simulator itself made through WeChat that day (layout in
//! `CHANNEL-BILLS.md`: 27 columns, every value behind a backtick, a summary header and row), with
//! a few breaks injected the way real bills go wrong: a line missing (短款 in the ledger's eyes),
//! a line the ledger never saw (长款), an amount off by one fen (金额不一致).

use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;
use settlement::reconciliation::wechat::{render_payment_bill, WechatPaymentRow};

/// One WeChat payment as the channel records it.
#[derive(Debug, Clone)]
pub struct ChannelLine {
    /// Beijing wall-clock time, `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    pub channel_txn_id: String,
    pub amount: Decimal,
}

/// What was injected into a day's bill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    pub missing: u64,
    pub extra: u64,
    pub amount_off: u64,
}

impl Injected {
    pub fn total(self) -> u64 {
        self.missing + self.extra + self.amount_off
    }
}

/// Draws the breaks for a day and applies them to its lines: about half the days get one break,
/// a fifth two, each of a different kind and on a different line. `extra_id` names the line
/// the ledger never saw.
pub fn inject_breaks(rng: &mut StdRng, lines: &mut Vec<ChannelLine>, extra_id: String, day_time: String) -> Injected {
    let mut injected = Injected::default();
    let breaks = match rng.gen_range(0..10) {
        0..=4 => 1,
        5..=6 => 2,
        _ => 0,
    };
    let mut kinds = [0u8, 1, 2];
    for position in 0..kinds.len() {
        let other = rng.gen_range(position..kinds.len());
        kinds.swap(position, other);
    }
    // Lines a break already changed: a second break never lands on the same line.
    let mut touched: Vec<String> = vec![extra_id.clone()];
    for kind in kinds.iter().take(breaks) {
        match kind {
            // A missing line is one of the simulator's own (never the extra one), and one is left
            // for an amount change.
            0 => {
                let own: Vec<usize> =
                    (0..lines.len()).filter(|index| !touched.contains(&lines[*index].channel_txn_id)).collect();
                if own.len() >= 2 {
                    lines.remove(own[rng.gen_range(0..own.len())]);
                    injected.missing += 1;
                }
            }
            1 => {
                let amount = Decimal::new(rng.gen_range(1_000..50_000), 2);
                lines.push(ChannelLine { time: day_time.clone(), channel_txn_id: extra_id.clone(), amount });
                injected.extra += 1;
            }
            2 if !lines.is_empty() => {
                // Only lines that are the simulator's own (never the extra one) change amount.
                let own: Vec<usize> =
                    (0..lines.len()).filter(|index| !touched.contains(&lines[*index].channel_txn_id)).collect();
                if let Some(&index) = own.get(rng.gen_range(0..own.len().max(1))) {
                    touched.push(lines[index].channel_txn_id.clone());
                    lines[index].amount += Decimal::new(1, 2);
                    injected.amount_off += 1;
                }
            }
            _ => {}
        }
    }
    injected
}

/// The bill's text (`settlement`'s writer of the WeChat layout).
pub fn wechat_bill(lines: &[ChannelLine]) -> String {
    let rows: Vec<WechatPaymentRow> = lines
        .iter()
        .map(|line| WechatPaymentRow {
            time: line.time.clone(),
            wechat_order_no: line.channel_txn_id.clone(),
            amount: line.amount,
        })
        .collect();
    render_payment_bill(&rows)
}
