//! A small SVG writer for the console's charts, rendered on the server so they read without
//! JavaScript. Geometry is integer pixels computed with `Decimal` (no floats near money): a
//! value's bar height is `value × plot height ÷ largest value`, rounded half-up.

use rust_decimal::Decimal;
use std::fmt::Write;

/// Tier colours (tier 1, 2, 3, then repeating).
pub const TIER_COLOURS: [&str; 3] = ["#4e9a06", "#e9b000", "#cc3d3d"];
const WIDTH: i64 = 640;
const HEIGHT: i64 = 260;
const MARGIN_LEFT: i64 = 56;
const MARGIN_BOTTOM: i64 = 40;
const MARGIN_TOP: i64 = 28;
const PLOT_HEIGHT: i64 = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP;

/// Escapes text for SVG/XML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn pixels(value: Decimal, max: Decimal, span: i64) -> i64 {
    if max <= Decimal::ZERO || value <= Decimal::ZERO {
        return 0;
    }
    let scaled = (value * Decimal::from(span) / max)
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(scaled.mantissa() / 10i128.pow(scaled.scale())).unwrap_or(span).clamp(0, span)
}

/// One series of a stacked bar chart: a label for the legend, a colour and one value per column.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub colour: &'static str,
    pub values: Vec<Decimal>,
}

/// A stacked bar chart: one column per category, the series stacked bottom-up. `unit` labels the
/// axis. Each bar carries a `<title>` with its value (a tooltip, and text for screen readers).
pub fn stacked_bars(title: &str, unit: &str, categories: &[String], series: &[Series]) -> String {
    let totals: Vec<Decimal> = (0..categories.len())
        .map(|column| series.iter().filter_map(|one| one.values.get(column)).copied().sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(Decimal::ZERO);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"><title>{}</title>"#,
        escape(title)
    );
    let base = HEIGHT - MARGIN_BOTTOM;
    let _ = write!(
        svg,
        r##"<line x1="{MARGIN_LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#888"/><text x="4" y="{MARGIN_TOP}" font-size="11" fill="#444">{} {}</text><text x="4" y="{base}" font-size="11" fill="#444">0</text>"##,
        escape(&max.normalize().to_string()),
        escape(unit)
    );
    let columns = i64::try_from(categories.len()).unwrap_or(1).max(1);
    let slot = (WIDTH - MARGIN_LEFT) / columns;
    let bar = (slot * 3 / 5).max(4);
    for (column, category) in categories.iter().enumerate() {
        let x = MARGIN_LEFT + i64::try_from(column).unwrap_or(0) * slot + (slot - bar) / 2;
        let mut y = base;
        for one in series {
            let value = one.values.get(column).copied().unwrap_or(Decimal::ZERO);
            let height = pixels(value, max, PLOT_HEIGHT);
            if height == 0 {
                continue;
            }
            y -= height;
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x}" y="{y}" width="{bar}" height="{height}" fill="{}"><title>{} {}: {} {}</title></rect>"#,
                one.colour,
                escape(category),
                escape(&one.label),
                escape(&value.normalize().to_string()),
                escape(unit)
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            x + bar / 2,
            base + 16,
            escape(category)
        );
    }
    // The legend, top right.
    for (position, one) in series.iter().enumerate() {
        let x = WIDTH - 110 * (i64::try_from(series.len() - position).unwrap_or(1));
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="6" width="12" height="12" fill="{}"/><text x="{}" y="16" font-size="11" fill="#333">{}</text>"##,
            one.colour,
            x + 16,
            escape(&one.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal progress bar of `value` along tier boundaries (`boundaries` are the upper ends of
/// each tier but the last; the bar's end is the last boundary plus a quarter).
pub fn tier_progress(title: &str, value: Decimal, boundaries: &[Decimal]) -> String {
    let last = boundaries.last().copied().unwrap_or(value);
    let end = (last + last / Decimal::from(4)).max(value).max(Decimal::ONE);
    let width = WIDTH - 20;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart progress" role="img" viewBox="0 0 {WIDTH} 70" width="{WIDTH}" height="70"><title>{}</title>"#,
        escape(title)
    );
    let mut start = Decimal::ZERO;
    let mut edges: Vec<Decimal> = boundaries.to_vec();
    edges.push(end);
    for (tier, upper) in edges.iter().enumerate() {
        let x = 10 + pixels(start, end, width);
        let to = 10 + pixels(*upper, end, width);
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="20" width="{}" height="22" fill="{}" opacity="0.3"/>"#,
            (to - x).max(0),
            TIER_COLOURS[tier % TIER_COLOURS.len()]
        );
        if tier < boundaries.len() {
            let _ = write!(
                svg,
                r##"<text x="{to}" y="60" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
                escape(&upper.normalize().to_string())
            );
        }
        start = *upper;
    }
    let filled = pixels(value, end, width);
    let tier_now = boundaries.iter().filter(|upper| value >= **upper).count();
    let _ = write!(
        svg,
        r##"<rect class="progress-value" x="10" y="24" width="{filled}" height="14" fill="{}"/><text x="10" y="14" font-size="12" fill="#222">{} m³</text></svg>"##,
        TIER_COLOURS[tier_now % TIER_COLOURS.len()],
        escape(&value.normalize().to_string())
    );
    svg
}

/// A histogram: one bar per labelled bin with its count.
pub fn histogram(title: &str, bins: &[(String, u64)]) -> String {
    let categories: Vec<String> = bins.iter().map(|(label, _)| label.clone()).collect();
    let series = [Series {
        label: title.to_owned(),
        colour: "#3465a4",
        values: bins.iter().map(|(_, n)| Decimal::from(*n)).collect(),
    }];
    stacked_bars(title, "", &categories, &series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn bars_scale_to_the_largest_column_and_escape_text() {
        let svg = stacked_bars(
            "<chart>",
            "m³",
            &["2026-01".into(), "2026-02".into()],
            &[
                Series { label: "1".into(), colour: TIER_COLOURS[0], values: vec![dec!(10), dec!(20)] },
                Series { label: "2".into(), colour: TIER_COLOURS[1], values: vec![dec!(0), dec!(20)] },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;chart&gt;") && !svg.contains("<chart>"));
        // The largest column (40) fills the plot; 10 of it is a quarter.
        assert!(svg.contains(&format!(r#"height="{}""#, PLOT_HEIGHT / 2)));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3);
        assert_eq!(pixels(dec!(10), dec!(40), PLOT_HEIGHT), 48);
    }

    #[test]
    fn progress_marks_each_boundary() {
        let svg = tier_progress("t", dec!(370), &[dec!(350), dec!(500)]);
        assert!(svg.contains(">350<") && svg.contains(">500<") && svg.contains("370 m³"));
    }
}
