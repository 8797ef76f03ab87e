//! Metering and automatic payment: tariffs and pricing first (pure), then readings and charging.

pub mod tariff;
pub mod valve;
