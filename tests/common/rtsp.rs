// SPDX-License-Identifier: MPL-2.0
//! A minimal RTSP/1.0 client over one TCP connection, to drive the server with exact request
//! sequences (quick reconnects, half-sent requests, unauthenticated methods) that rtspsrc and
//! ffprobe cannot be made to send. RTP arrives interleaved on the same connection (RFC 2326
//! §10.12: '$', channel, 16-bit length, packet). Needs only std.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One response: status code, header lines, body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A connection to `rtsp://host:port/path`.
pub struct Conn {
    pub stream: TcpStream,
    pub url: String,
    buf: Vec<u8>,
    cseq: u32,
    /// Interleaved packets received so far.
    pub packets: usize,
}

impl Conn {
    /// Connects to the host and port of `url` (rtsp://HOST:PORT/...), with a read timeout of
    /// `timeout` for every read.
    pub fn connect(url: &str, timeout: Duration) -> std::io::Result<Conn> {
        let rest = url.trim_start_matches("rtsp://");
        let hostport = rest.split('/').next().unwrap_or(rest);
        let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
        let stream = TcpStream::connect(hostport)?;
        stream.set_read_timeout(Some(timeout))?;
        Ok(Conn {
            stream,
            url: url.to_string(),
            buf: Vec::new(),
            cseq: 0,
            packets: 0,
        })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Drops complete interleaved packets at the head of the buffer; false if one is partial.
    fn skip_packets(&mut self) -> bool {
        while self.buf.first() == Some(&b'$') {
            if self.buf.len() < 4 {
                return false;
            }
            let n = 4 + u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < n {
                return false;
            }
            self.buf.drain(..n);
            self.packets += 1;
        }
        true
    }

    /// Reads the next response, skipping interleaved packets.
    pub fn response(&mut self) -> std::io::Result<Response> {
        loop {
            if self.skip_packets() {
                if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&self.buf[..i]).to_string();
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let mut r = Response {
                        status,
                        head,
                        body: String::new(),
                    };
                    let len: usize = r
                        .header("Content-Length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while self.buf.len() < i + 4 + len {
                        self.fill()?;
                    }
                    r.body = String::from_utf8_lossy(&self.buf[i + 4..i + 4 + len]).to_string();
                    self.buf.drain(..i + 4 + len);
                    return Ok(r);
                }
            }
            self.fill()?;
        }
    }

    /// Sends `METHOD uri` with a CSeq and `headers` (each "Name: value"), without reading.
    pub fn send(&mut self, method: &str, uri: &str, headers: &[&str]) -> std::io::Result<()> {
        self.cseq += 1;
        let mut req = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes())
    }

    /// Sends a request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[&str],
    ) -> std::io::Result<Response> {
        self.send(method, uri, headers)?;
        self.response()
    }

    /// DESCRIBE, SETUP of the first stream over TCP interleaved, PLAY: the session id.
    /// Errors name the request and the status.
    pub fn play(&mut self, headers: &[&str]) -> Result<String, String> {
        let url = self.url.clone();
        let mut h = vec!["Accept: application/sdp"];
        h.extend_from_slice(headers);
        let d = self
            .request("DESCRIBE", &url, &h)
            .map_err(|e| format!("DESCRIBE: {e}"))?;
        if d.status != 200 {
            return Err(format!("DESCRIBE: {}", d.head));
        }
        let control = d
            .body
            .split("m=video")
            .nth(1)
            .and_then(|m| m.lines().find_map(|l| l.strip_prefix("a=control:")))
            .ok_or_else(|| format!("no video control in the SDP: {}", d.body))?
            .trim()
            .to_string();
        let base = d
            .header("Content-Base")
            .unwrap_or_else(|| format!("{url}/"));
        let setup_url = if control.starts_with("rtsp://") {
            control
        } else {
            format!("{}{control}", base)
        };
        let mut h = vec!["Transport: RTP/AVP/TCP;unicast;interleaved=0-1"];
        h.extend_from_slice(headers);
        let s = self
            .request("SETUP", &setup_url, &h)
            .map_err(|e| format!("SETUP: {e}"))?;
        if s.status != 200 {
            return Err(format!("SETUP: {}", s.head));
        }
        let session = s
            .header("Session")
            .and_then(|v| v.split(';').next().map(str::to_string))
            .ok_or_else(|| format!("SETUP without a session: {}", s.head))?;
        let sh = format!("Session: {session}");
        let mut h = vec![sh.as_str()];
        h.extend_from_slice(headers);
        let p = self
            .request("PLAY", &url, &h)
            .map_err(|e| format!("PLAY: {e}"))?;
        if p.status != 200 {
            return Err(format!("PLAY: {}", p.head));
        }
        Ok(session)
    }

    /// Reads until `n` interleaved packets have arrived in total, or `limit` has passed.
    pub fn pump(&mut self, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        while self.packets < n && Instant::now() < deadline {
            if !self.skip_packets() || self.buf.is_empty() {
                if self.fill().is_err() {
                    break;
                }
            } else {
                // A response at the head of the buffer: nothing here expects one.
                break;
            }
        }
        self.packets
    }
}
