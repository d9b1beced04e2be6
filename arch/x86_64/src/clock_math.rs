//! Fixed-point conversions between counter ticks and nanoseconds. Pure, host-tested.

pub const NS_PER_SEC: u64 = 1_000_000_000;
/// The 8254 PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;

/// Frequency of a counter that advanced `ticks` while the PIT counted `pit_ticks`.
pub fn frequency_hz(ticks: u64, pit_ticks: u64) -> u64 {
    ((ticks as u128 * PIT_HZ as u128) / pit_ticks.max(1) as u128) as u64
}

/// Nanoseconds in `ticks` of a `hz` counter, exact to the nanosecond (no accumulated drift).
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    let hz = hz.max(1);
    (ticks / hz) * NS_PER_SEC + ((ticks % hz) as u128 * NS_PER_SEC as u128 / hz as u128) as u64
}

/// Nanoseconds one tick of a `hz` counter lasts, rounded up (at least 1).
pub fn resolution_ns(hz: u64) -> u64 {
    NS_PER_SEC.div_ceil(hz.max(1)).max(1)
}

/// Ticks of a `hz` counter in `ns` nanoseconds, rounded up so a timer never fires early.
pub fn ns_to_ticks(ns: u64, hz: u64) -> u64 {
    (ns as u128 * hz as u128).div_ceil(NS_PER_SEC as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_against_the_pit() {
        // 10 ms of PIT ticks (11932) while a 2.5 GHz counter ran 10 ms worth.
        let hz = frequency_hz(25_000_000, 11_932);
        assert!((hz as i64 - 2_500_000_000i64).abs() < 500_000, "{hz}");
        assert_eq!(frequency_hz(5, 0), 5 * PIT_HZ);
    }

    #[test]
    fn ticks_to_ns_is_exact() {
        let hz = 2_500_000_000;
        assert_eq!(ticks_to_ns(hz, hz), NS_PER_SEC);
        assert_eq!(ticks_to_ns(0, hz), 0);
        assert_eq!(ticks_to_ns(hz * 3600 + 5, hz), 3600 * NS_PER_SEC + 2);
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), u64::MAX);
        assert_eq!(resolution_ns(hz), 1);
        assert_eq!(resolution_ns(62_500_000), 16);
    }

    #[test]
    fn ns_to_ticks_rounds_up() {
        assert_eq!(ns_to_ticks(1, 62_500_000), 1);
        assert_eq!(ns_to_ticks(16, 62_500_000), 1);
        assert_eq!(ns_to_ticks(17, 62_500_000), 2);
        assert_eq!(ns_to_ticks(10_000_000, 62_500_000), 625_000);
        assert_eq!(ns_to_ticks(0, 62_500_000), 0);
    }
}
