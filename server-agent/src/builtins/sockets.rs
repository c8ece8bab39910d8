//! What a socket inode is: protocol, addresses and state, from `/proc/self/net/*`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::budget;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Socket {
    pub(crate) protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<&'static str>,
}

/// Every socket of this network namespace, by inode.
pub(crate) fn by_inode() -> HashMap<u64, Socket> {
    let mut sockets = HashMap::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp6"),
        ("udp", "udp"),
        ("udp6", "udp6"),
    ] {
        if let Ok(table) = std::fs::read_to_string(format!("/proc/self/net/{file}")) {
            sockets.extend(
                budget::within(table.lines().skip(1)).filter_map(|line| inet_row(line, protocol)),
            );
        }
    }
    if let Ok(table) = std::fs::read_to_string("/proc/self/net/unix") {
        sockets.extend(budget::within(table.lines().skip(1)).filter_map(unix_row));
    }
    sockets
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`
fn inet_row(line: &str, protocol: &'static str) -> Option<(u64, Socket)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let inode = fields.get(9)?.parse().ok()?;
    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    Some((
        inode,
        Socket {
            protocol,
            local: Some(address(fields.get(1)?)?),
            remote: Some(address(fields.get(2)?)?),
            state: protocol.starts_with("tcp").then(|| tcp_state(state)),
        },
    ))
}

/// `Num RefCount Protocol Flags Type St Inode [Path]`
fn unix_row(line: &str) -> Option<(u64, Socket)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let inode = fields.get(6)?.parse().ok()?;
    Some((
        inode,
        Socket {
            protocol: "unix",
            local: fields.get(7).map(|path| path.to_string()),
            remote: None,
            state: None,
        },
    ))
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6), each 32-bit word in
/// host (little-endian) order.
fn address(hex: &str) -> Option<String> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).map(u32::from_be))
        .collect::<Result<_, _>>()
        .ok()?;
    match words.as_slice() {
        [v4] => Some(format!("{}:{port}", Ipv4Addr::from(v4.to_be_bytes()))),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (chunk, word) in bytes.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            Some(format!("[{}]:{port}", Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "established",
        0x02 => "syn-sent",
        0x03 => "syn-recv",
        0x04 => "fin-wait-1",
        0x05 => "fin-wait-2",
        0x06 => "time-wait",
        0x07 => "close",
        0x08 => "close-wait",
        0x09 => "last-ack",
        0x0A => "listen",
        0x0B => "closing",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_kernel_address_notation() {
        assert_eq!(address("0100007F:1F90").unwrap(), "127.0.0.1:8080");
        assert_eq!(
            address("00000000000000000000000001000000:0050").unwrap(),
            "[::1]:80"
        );
    }

    #[test]
    fn finds_a_listening_socket_of_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = by_inode()
            .into_values()
            .any(|s| s.state == Some("listen") && s.local == Some(format!("127.0.0.1:{port}")));
        assert!(found);
    }
}
