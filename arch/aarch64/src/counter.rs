//! Conversions between generic-timer ticks and nanoseconds (pure, host-tested).

const NS_PER_S: u128 = 1_000_000_000;

/// Nanoseconds in `ticks` of a counter running at `freq` Hz (saturating).
pub fn ticks_to_ns(ticks: u64, freq: u64) -> u64 {
    u64::try_from(ticks as u128 * NS_PER_S / freq.max(1) as u128).unwrap_or(u64::MAX)
}

/// Ticks covering at least `ns` nanoseconds (rounded up, saturating), never 0.
pub fn ns_to_ticks(ns: u64, freq: u64) -> u64 {
    u64::try_from((ns as u128 * freq.max(1) as u128).div_ceil(NS_PER_S))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Nanoseconds per tick, rounded up.
pub fn resolution_ns(freq: u64) -> u64 {
    (NS_PER_S as u64).div_ceil(freq.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_at_qemu_frequencies() {
        // QEMU >= 9 with -cpu max: 1 GHz; older machines and models: 62.5 MHz.
        assert_eq!(ticks_to_ns(1_000, 1_000_000_000), 1_000);
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), 1_000_000_000);
        assert_eq!(ns_to_ticks(10_000_000, 62_500_000), 625_000);
        assert_eq!(ns_to_ticks(1, 62_500_000), 1, "rounds up, never zero");
        assert_eq!(ns_to_ticks(0, 62_500_000), 1);
        assert_eq!(resolution_ns(62_500_000), 16);
        assert_eq!(resolution_ns(1_000_000_000), 1);
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        assert_eq!(ns_to_ticks(u64::MAX, 1_000_000_000_000), u64::MAX);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(
            ticks_to_ns(5, 0),
            5_000_000_000,
            "a zero frequency reads as 1 Hz"
        );
    }
}
