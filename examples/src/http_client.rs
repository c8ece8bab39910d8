//! A tiny blocking HTTP/1.1 client for the demo and the tests: one request per
//! connection (`Connection: close`) or many over one keep-alive connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status code, body, and whether the server closes the connection.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// The server answered `Connection: close`: a keep-alive client must reconnect.
    pub closes: bool,
}

/// One request on a fresh connection, with a timeout on every read and write.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<Response> {
    KeepAlive::connect(addr, timeout)?.get_closing(path)
}

/// `get` with another method (`PUT`, `DELETE`...), without a body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> io::Result<Response> {
    KeepAlive::connect(addr, timeout)?.request(method, path, "close")
}

/// A keep-alive connection.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<KeepAlive> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(KeepAlive {
            reader: BufReader::new(stream),
        })
    }

    /// A request that keeps the connection open.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, "keep-alive")
    }

    /// A request that asks the server to close afterwards.
    pub fn get_closing(mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, "close")
    }

    fn request(&mut self, method: &str, path: &str, connection: &str) -> io::Result<Response> {
        // One write: pieces would wait on Nagle and the server's delayed ACK (40 ms).
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\
             Connection: {connection}\r\n\r\n"
        );
        let stream = self.reader.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.flush()?;
        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed status line"))?;
        let mut length = 0usize;
        let mut closes = false;
        loop {
            let mut header = String::new();
            self.reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    closes = value.trim().eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            closes,
        })
    }
}
