//! Just enough HTTP/1.1 for the examples: request line, a few headers, a body by
//! Content-Length, keep-alive. Not a general-purpose server.

use std::io::{self, BufRead, Read, Write};

/// Longest request head we read before giving up on a client.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub keep_alive: bool,
}

impl Request {
    /// The value of `name` in the query string, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find_map(|(key, value)| (key == name).then_some(value))
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection cleanly.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed request line",
        ));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut keep_alive = version == "HTTP/1.1";
    let mut body_length = 0usize;
    let mut head_size = line.len();
    loop {
        let mut header = String::new();
        head_size += reader.read_line(&mut header)?;
        if head_size > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
                "content-length" => body_length = value.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    io::copy(&mut reader.take(body_length as u64), &mut io::sink())?;
    Ok(Some(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        keep_alive,
    }))
}

/// Writes a complete response with a body.
pub fn write_response(
    writer: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        writer,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )?;
    writer.write_all(body)?;
    writer.flush()
}
