//! Where a webhook may go (server-side request forgery): http(s) URLs
//! only, and only to public addresses, unless the operator allows a
//! network (`webhooks.allow_networks`). The URL is checked when saved; its
//! host's addresses again at every attempt, since DNS can change between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Longest URL accepted.
pub const MOST_URL_BYTES: usize = 2000;

/// Networks reachable although not public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed(Vec<Network>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Allowed {
    /// Reads comma-separated CIDRs, e.g. `127.0.0.0/8, fd00::/8`.
    pub fn parse(text: &str) -> Result<Allowed, String> {
        let networks = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(network)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowed(networks))
    }

    /// Whether a webhook may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.0.iter().any(|n| n.contains(ip))
    }
}

fn network(text: &str) -> Result<Network, String> {
    let bad = || format!("{text:?} is not a network such as 10.0.0.0/8");
    let (base, prefix) = text.split_once('/').ok_or_else(bad)?;
    let base: IpAddr = base.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let most = if base.is_ipv4() { 32 } else { 128 };
    if prefix > most {
        return Err(bad());
    }
    Ok(Network { base, prefix })
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => same_prefix(
                u32::from(base).into(),
                u32::from(ip).into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                same_prefix(base.into(), ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    shift >= bits || (a >> shift) == (b >> shift)
}

/// An IPv4 address carried in IPv6 — mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) — is judged as itself.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        IpAddr::V4(v4)
    } else if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        embedded(s[6], s[7])
    } else if s[0] == 0x2002 {
        embedded(s[1], s[2])
    } else {
        ip
    }
}

/// Whether `ip` is on the public internet: not loopback, private, shared,
/// link-local, unspecified, multicast, broadcast, reserved or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let protocol = a == 192 && b == 0 && c == 0;
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || shared
        || benchmarking
        || protocol)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let second = ip.segments()[1];
    let documentation = first == 0x2001 && second == 0x0db8;
    // NAT64 (well-known and local-use) and Teredo reach IPv4 hosts we
    // cannot judge; site-local is deprecated but still routed inside.
    let nat64 = first == 0x0064 && (second == 0xff9b);
    let teredo = first == 0x2001 && second == 0;
    let site_local = first & 0xffc0 == 0xfec0;
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation
        || nat64
        || teredo
        || site_local)
}

/// Why `text` cannot be a webhook URL, if it cannot: not http(s), no host,
/// credentials in it, too long, or a literal address (or `localhost`) the
/// operator does not allow.
pub fn check_url(text: &str, allowed: &Allowed) -> Result<Url, String> {
    if text.len() > MOST_URL_BYTES {
        return Err(format!("must be at most {MOST_URL_BYTES} bytes"));
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err("must be an http or https URL".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let url = Url::parse(text).map_err(|err| format!("is not a URL: {err}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; sign with the endpoint's secret instead".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    let literal = match url.host() {
        None => return Err("must name a host".into()),
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(name)) if is_localhost(name) => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Some(Host::Domain(_)) => None,
    };
    match literal {
        Some(ip) if !allowed.permits(ip) => Err(format!(
            "points at {ip}, which is not a public address (the operator may allow its network)"
        )),
        _ => Ok(url),
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        let inside = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "192.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ];
        for private in inside {
            assert!(!is_public(ip(private)), "{private}");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_their_range() {
        let allowed = Allowed::parse("127.0.0.0/8, 10.20.0.0/16,fd00::/8").unwrap();
        for yes in [
            "127.0.0.1",
            "127.255.0.9",
            "10.20.3.4",
            "fd12::1",
            "::ffff:127.0.0.1",
            "8.8.8.8",
        ] {
            assert!(allowed.permits(ip(yes)), "{yes}");
        }
        for no in ["10.21.0.1", "192.168.0.1", "::1", "fe80::1"] {
            assert!(!allowed.permits(ip(no)), "{no}");
        }
        assert!(Allowed::parse("0.0.0.0/0").unwrap().permits(ip("10.0.0.1")));
        assert!(Allowed::default().permits(ip("8.8.8.8")));
        assert!(!Allowed::default().permits(ip("127.0.0.1")));
    }

    #[test]
    fn networks_must_be_cidrs() {
        for bad in ["10.0.0.0", "10.0.0.0/33", "::/129", "ten/8", "10.0.0.0/x"] {
            assert!(Allowed::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_public_http_without_credentials() {
        let none = Allowed::default();
        assert!(check_url("https://hooks.brand.example/questline", &none).is_ok());
        assert!(check_url("http://8.8.8.8:8080/in", &none).is_ok());
        let refused = [
            "ftp://hooks.brand.example/",
            "file:///etc/passwd",
            "https://user:pw@hooks.brand.example/",
            "https://hooks.brand.example/#x",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://api.localhost./",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "not a url",
            "",
            "HTTP://hooks.brand.example/",
            "https://hooks.brand.example/a b",
            "https://hooks.brand.example/\u{7}",
        ];
        for url in refused {
            assert!(check_url(url, &none).is_err(), "{url}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MOST_URL_BYTES));
        assert!(check_url(&long, &none).is_err());
        let loopback = Allowed::parse("127.0.0.0/8").unwrap();
        assert!(check_url("http://127.0.0.1:9000/", &loopback).is_ok());
        assert!(check_url("http://localhost:9000/", &loopback).is_ok());
    }
}
