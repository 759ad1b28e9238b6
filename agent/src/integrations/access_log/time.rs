//! The request times access logs write, as Unix nanoseconds: nginx's `$time_local` and Apache's
//! `%t` (`10/Oct/2000:13:55:36 -0700`), `$time_iso8601` (`2000-10-10T13:55:36-07:00`, also with
//! fractions and `Z`) and `$msec` (`971211336.123`, seconds since the epoch).

/// The time `text` names, in any of the three forms; `None` when it is none of them.
pub fn parse(text: &str) -> Option<u64> {
    let t = text.trim_matches(|c| c == '[' || c == ']');
    if t.bytes().next()?.is_ascii_digit() && t.contains('/') {
        clf(t)
    } else if t.contains('-') && t.contains('T') {
        iso(t)
    } else {
        epoch(t)
    }
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn to_ns(days: i64, h: i64, mi: i64, s: i64, frac_ns: i64, offset_s: i64) -> Option<u64> {
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    u64::try_from(secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)?).ok()
}

/// `+0300`, `-07:00` or `Z`, as seconds east of UTC.
fn offset(z: &str) -> Option<i64> {
    if z == "Z" {
        return Some(0);
    }
    let sign = match z.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    Some(sign * (num(&digits[..2])? * 3600 + num(&digits[2..])? * 60))
}

fn clf(t: &str) -> Option<u64> {
    let (stamp, zone) = t.split_once(' ')?;
    let (date, clock) = stamp.split_once(':')?;
    let mut d = date.split('/');
    let day = num(d.next()?)?;
    let name = d.next()?;
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == name)? as i64
        + 1;
    let year = num(d.next()?)?;
    let mut c = clock.split(':');
    let (h, mi, s) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
    if d.next().is_some() || c.next().is_some() {
        return None;
    }
    to_ns(days(year, mon, day)?, h, mi, s, 0, offset(zone)?)
}

fn iso(t: &str) -> Option<u64> {
    let (date, rest) = t.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let zone_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (clock, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = clock.split(':');
    let (h, mi, s) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
    let frac_ns = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        num(&digits)?
    };
    let zone = if zone.is_empty() { "Z" } else { zone };
    to_ns(days(y, m, day)?, h, mi, s, frac_ns, offset(zone)?)
}

fn epoch(t: &str) -> Option<u64> {
    let (s, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let frac_ns = if frac.is_empty() { 0 } else { num(&digits)? };
    u64::try_from(num(s)?.checked_mul(1_000_000_000)?.checked_add(frac_ns)?).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_three_forms_name_the_same_instant() {
        // 2000-10-10T20:55:36Z = 971211336 (date -d @971211336 -u).
        let want = Some(971_211_336_000_000_000);
        assert_eq!(parse("10/Oct/2000:13:55:36 -0700"), want);
        assert_eq!(parse("[10/Oct/2000:13:55:36 -0700]"), want);
        assert_eq!(parse("2000-10-10T13:55:36-07:00"), want);
        assert_eq!(parse("2000-10-10T20:55:36Z"), want);
        assert_eq!(parse("971211336"), want);
        assert_eq!(parse("971211336.123"), Some(971_211_336_123_000_000));
        assert_eq!(
            parse("2000-10-10T20:55:36.5+00:00"),
            Some(971_211_336_500_000_000)
        );
        assert_eq!(
            parse("29/Feb/2024:00:00:00 +0000"),
            Some(1_709_164_800_000_000_000)
        );
    }

    #[test]
    fn anything_else_is_none() {
        for bad in [
            "",
            "-",
            "10/Foo/2000:13:55:36 -0700",
            "10/Oct/2000:25:55:36 -0700",
            "10/Oct/2000:13:55:36",
            "10/Oct/2000:13:55:36 +07",
            "2000-13-10T13:55:36Z",
            "yesterday",
            "12.x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
