//! Decoding the MC146818 CMOS RTC registers into Unix time. Pure, host-tested; the port I/O
//! that fills [`RtcRegisters`] lives in `rtc.rs`.

/// Raw register values as read from the RTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// Register 0x32 (the ACPI FADT's usual century register), if the machine has one.
    pub century: u8,
    /// Status register B: bit 1 = 24-hour mode, bit 2 = binary (not BCD) values.
    pub status_b: u8,
}

const STATUS_B_24H: u8 = 1 << 1;
const STATUS_B_BINARY: u8 = 1 << 2;
const HOUR_PM: u8 = 0x80;

/// A calendar date and time (UTC, as QEMU keeps the RTC by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

fn from_bcd(v: u8) -> Option<u8> {
    let (hi, lo) = (v >> 4, v & 0xf);
    (hi < 10 && lo < 10).then_some(hi * 10 + lo)
}

/// Decodes the registers (BCD or binary, 12- or 24-hour). `None` for impossible values.
pub fn decode(r: &RtcRegisters) -> Option<DateTime> {
    let binary = r.status_b & STATUS_B_BINARY != 0;
    let value = |v: u8| if binary { Some(v) } else { from_bcd(v) };
    let pm = r.status_b & STATUS_B_24H == 0 && r.hours & HOUR_PM != 0;
    let mut hour = value(r.hours & !HOUR_PM)?;
    if r.status_b & STATUS_B_24H == 0 {
        // 12-hour clock: 12 AM is midnight, 12 PM is noon.
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let year_in_century = value(r.year)? as u32;
    let century = match value(r.century) {
        Some(c @ 19..=29) => c as u32,
        // No century register: the 21st century is the only plausible one.
        _ => 20,
    };
    let dt = DateTime {
        year: century * 100 + year_in_century,
        month: value(r.month)? as u32,
        day: value(r.day)? as u32,
        hour: hour as u32,
        minute: value(r.minutes)? as u32,
        second: value(r.seconds)? as u32,
    };
    let valid = (1..=12).contains(&dt.month)
        && (1..=31).contains(&dt.day)
        && dt.hour < 24
        && dt.minute < 60
        && dt.second < 60
        && year_in_century < 100;
    valid.then_some(dt)
}

/// Seconds since 1970-01-01T00:00:00Z (Howard Hinnant's days-from-civil algorithm).
pub fn unix_seconds(dt: &DateTime) -> u64 {
    let y = dt.year as i64 - if dt.month <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = dt.month as i64;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + dt.day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + dt.hour as i64 * 3600 + dt.minute as i64 * 60 + dt.second as i64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(status_b: u8, h: u8, rest: [u8; 6]) -> RtcRegisters {
        let [seconds, minutes, day, month, year, century] = rest;
        RtcRegisters {
            seconds,
            minutes,
            hours: h,
            day,
            month,
            year,
            century,
            status_b,
        }
    }

    #[test]
    fn decodes_bcd_24h() {
        let r = regs(0x02, 0x23, [0x59, 0x58, 0x27, 0x11, 0x26, 0x20]);
        let dt = decode(&r).unwrap();
        assert_eq!(
            (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second),
            (2026, 11, 27, 23, 58, 59)
        );
    }

    #[test]
    fn decodes_binary_12h_with_pm_and_midnight() {
        let pm = regs(0x04, 0x80 | 3, [7, 8, 1, 2, 24, 20]);
        assert_eq!(decode(&pm).unwrap().hour, 15);
        let noon = regs(0x04, 0x80 | 12, [0, 0, 1, 2, 24, 20]);
        assert_eq!(decode(&noon).unwrap().hour, 12);
        let midnight = regs(0x04, 12, [0, 0, 1, 2, 24, 20]);
        assert_eq!(decode(&midnight).unwrap().hour, 0);
        // BCD 12-hour: 11 PM.
        let bcd = regs(0x00, 0x80 | 0x11, [0, 0, 1, 2, 0x24, 0x20]);
        assert_eq!(decode(&bcd).unwrap().hour, 23);
    }

    #[test]
    fn missing_century_register_means_2000s() {
        let r = regs(0x06, 1, [0, 0, 1, 1, 30, 0xff]);
        assert_eq!(decode(&r).unwrap().year, 2030);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(&regs(0x02, 0x25, [0, 0, 1, 1, 0x26, 0x20])), None); // hour 25
        assert_eq!(decode(&regs(0x02, 0x1a, [0, 0, 1, 1, 0x26, 0x20])), None); // not BCD
        assert_eq!(decode(&regs(0x06, 1, [0, 0, 1, 13, 26, 20])), None); // month 13
        assert_eq!(decode(&regs(0x04, 0, [0, 0, 1, 1, 26, 20])), None); // 12h hour 0
    }

    #[test]
    fn unix_time_of_known_dates() {
        let dt = |year, month, day, hour, minute, second| DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        assert_eq!(unix_seconds(&dt(1970, 1, 1, 0, 0, 0)), 0);
        assert_eq!(unix_seconds(&dt(2000, 3, 1, 0, 0, 0)), 951_868_800);
        assert_eq!(unix_seconds(&dt(2024, 2, 29, 12, 34, 56)), 1_709_210_096);
        assert_eq!(unix_seconds(&dt(2026, 11, 27, 15, 7, 31)), 1_795_792_051);
    }
}
