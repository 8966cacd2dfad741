//! Client addresses as the throttles count them.
//!
//! An IPv6 client usually holds a whole /64 (SLAAC, privacy addresses; many providers hand out
//! a /64 or more per customer), so counting each address apart would give one attacker 2^64
//! fresh buckets. Every address of a /64 counts as one client; an IPv4 address counts alone
//! (an IPv4-mapped IPv6 address as its IPv4 address).

use std::net::IpAddr;

/// The throttle bucket of a client address: `2001:db8:1:2::/64` for any address in that /64,
/// the address itself for IPv4, and whatever was given when it is not an address at all.
pub fn throttle_bucket(addr: &str) -> String {
    match addr.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => addr.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::throttle_bucket;

    #[test]
    fn a_slash_64_is_one_client_and_ipv4_addresses_count_alone() {
        let a = throttle_bucket("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(throttle_bucket("2001:0db8:0001:0002::1"), a, "another address of the same /64, written long");
        assert_ne!(throttle_bucket("2001:db8:1:3::1"), a, "the next /64 is another client");
        assert_eq!(throttle_bucket("203.0.113.7"), "203.0.113.7");
        assert_ne!(throttle_bucket("203.0.113.8"), throttle_bucket("203.0.113.7"));
        assert_eq!(throttle_bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(throttle_bucket("unknown"), "unknown");
    }
}
