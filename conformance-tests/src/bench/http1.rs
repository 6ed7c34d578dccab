//! A minimal HTTP/1.1 client for load: one keep-alive connection, one request at a time.
//!
//! Why not reqwest: a load tool must cost far less CPU than the server it measures, and on a
//! two-core machine every cycle the tool spends is taken from the subject. Like wrk, this
//! client writes a request prepared in advance and reads just enough of the answer to find
//! its end (status line, `Content-Length` or chunked framing, `Connection: close`); no URL
//! parsing, header maps or pool bookkeeping per request. The same client measures the bare
//! relay and the hub, so its own cost cancels out of the comparison.
//!
//! Everything read is bounded: headers to [`MAX_HEAD`], bodies to [`MAX_BODY`].

use std::fmt;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Why an exchange got no usable answer.
#[derive(Debug)]
pub enum HttpError {
    /// Connecting, writing or reading failed.
    Io(io::Error),
    /// The peer closed the connection before the answer was complete.
    Closed,
    /// The answer is not HTTP/1.x as this client reads it.
    Malformed(&'static str),
    /// The head or the body is larger than this client accepts.
    TooLarge,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::Closed => f.write_str("connection closed before the answer was complete"),
            Self::Malformed(what) => write!(f, "malformed HTTP answer: {what}"),
            Self::TooLarge => f.write_str("HTTP answer too large"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// An answer; its body borrows the connection's buffer until the next request.
#[derive(Debug)]
pub struct Response<'a> {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: &'a [u8],
    /// Whether the connection cannot carry another request (`Connection: close`, HTTP/1.0
    /// without keep-alive, or a body delimited by the end of the connection).
    pub close: bool,
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet handed out; `buf[..consumed]` belongs to the last answer.
    buf: Vec<u8>,
    consumed: usize,
    /// The last answer's body when it was chunked.
    dechunked: Vec<u8>,
}

/// How a body ends.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed response head.
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    close: bool,
}

impl Connection {
    /// Connects to `addr`, with Nagle off (requests are written whole).
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(8 * 1024),
            consumed: 0,
            dechunked: Vec::new(),
        })
    }

    /// Writes `request` (a whole HTTP/1.1 request) and reads its answer.
    ///
    /// After an error, or an answer with [`Response::close`], the connection must be dropped.
    pub async fn send(&mut self, request: &[u8]) -> Result<Response<'_>, HttpError> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        self.stream.write_all(request).await?;
        loop {
            let head = self.read_head().await?;
            if (100..200).contains(&head.status) {
                // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                self.buf.drain(..head.len);
                continue;
            }
            let start = head.len;
            return match head.framing {
                Framing::Length(length) => {
                    if length > MAX_BODY {
                        return Err(HttpError::TooLarge);
                    }
                    self.fill_to(start + length).await?;
                    self.consumed = start + length;
                    Ok(Response {
                        status: head.status,
                        body: &self.buf[start..start + length],
                        close: head.close,
                    })
                }
                Framing::Chunked => {
                    let end = loop {
                        match dechunk(&self.buf[start..], &mut self.dechunked)? {
                            Some(used) => break start + used,
                            None => self.read_more(MAX_HEAD + 2 * MAX_BODY).await?,
                        }
                    };
                    self.consumed = end;
                    Ok(Response {
                        status: head.status,
                        body: &self.dechunked,
                        close: head.close,
                    })
                }
                Framing::UntilClose => {
                    while self.read_some(start + MAX_BODY).await? > 0 {}
                    self.consumed = self.buf.len();
                    Ok(Response {
                        status: head.status,
                        body: &self.buf[start..],
                        close: true,
                    })
                }
            };
        }
    }

    /// Reads until a whole head is buffered and parses it.
    async fn read_head(&mut self) -> Result<Head, HttpError> {
        let mut scanned: usize = 0;
        loop {
            let from = scanned.saturating_sub(3);
            if let Some(at) = find_crlfcrlf(&self.buf[from..]) {
                return parse_head(&self.buf[..from + at + 4]);
            }
            scanned = self.buf.len();
            if scanned > MAX_HEAD {
                return Err(HttpError::TooLarge);
            }
            self.read_more(MAX_HEAD + 4).await?;
        }
    }

    /// Reads until at least `len` bytes are buffered.
    async fn fill_to(&mut self, len: usize) -> Result<(), HttpError> {
        while self.buf.len() < len {
            self.read_more(len).await?;
        }
        Ok(())
    }

    /// Reads at least one more byte; the end of the connection is an error.
    async fn read_more(&mut self, limit: usize) -> Result<(), HttpError> {
        match self.read_some(limit).await? {
            0 => Err(HttpError::Closed),
            _ => Ok(()),
        }
    }

    /// One read into the buffer (0 at the end of the connection), refusing to grow it past
    /// `limit` bytes.
    async fn read_some(&mut self, limit: usize) -> Result<usize, HttpError> {
        if self.buf.len() >= limit {
            return Err(HttpError::TooLarge);
        }
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        Ok(self.stream.read_buf(&mut self.buf).await?)
    }
}

/// Where `\r\n\r\n` starts in `bytes`.
fn find_crlfcrlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Parses a head ending with its blank line (RFC 9112 §4, §6).
fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("head not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let (version, rest) = status_line
        .split_once(' ')
        .ok_or(HttpError::Malformed("status line"))?;
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(HttpError::Malformed("not HTTP/1.x")),
    };
    let code = rest.get(..3).ok_or(HttpError::Malformed("status code"))?;
    let status: u16 = code
        .parse()
        .map_err(|_| HttpError::Malformed("status code"))?;
    if !(100..1000).contains(&status) {
        return Err(HttpError::Malformed("status code"));
    }
    let mut length = None;
    let mut chunked = false;
    let mut close = http10;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| HttpError::Malformed("Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::Malformed("two Content-Lengths"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    // RFC 9112 §6.3: no body for 1xx, 204 and 304; chunked wins over Content-Length.
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        status,
        len: head.len(),
        framing,
        close,
    })
}

/// Decodes a chunked body from the start of `bytes` into `out` (RFC 9112 §7.1): how many
/// bytes it took, or `None` when it is not all there yet.
fn dechunk(bytes: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, HttpError> {
    out.clear();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&bytes[at..]) else {
            return Ok(None);
        };
        let line = &bytes[at..at + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| HttpError::Malformed("chunk size"))?
            .trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailer fields, then a blank line.
            loop {
                let Some(end) = find_crlf(&bytes[at..]) else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if size > MAX_BODY || out.len() + size > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        if bytes.len() < at + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&bytes[at..at + size]);
        if &bytes[at + size..at + size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
        at += size + 2;
    }
}

/// Where `\r\n` starts in `bytes`.
fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that reads one request per canned answer and writes the answer in pieces
    /// of `split` bytes, so that every partial-read path is taken.
    async fn canned(answers: Vec<&'static [u8]>, split: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            for answer in answers {
                let mut request = Vec::new();
                while find_crlfcrlf(&request).is_none() {
                    let mut chunk = [0u8; 1024];
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                for piece in answer.chunks(split) {
                    if socket.write_all(piece).await.is_err() {
                        return;
                    }
                    socket.flush().await.ok();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    #[tokio::test]
    async fn content_length_chunked_interim_and_close_answers_are_read() {
        for split in [1, 7, 4096] {
            let addr = canned(
                vec![
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
                    b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok",
                ],
                split,
            )
            .await;
            let mut c = Connection::connect(addr).await.expect("connect");
            let r = c.send(GET).await.expect("first");
            assert_eq!((r.status, r.body, r.close), (200, &b"hello"[..], false));
            let r = c.send(GET).await.expect("interim, then 502");
            assert_eq!((r.status, r.body), (502, &b""[..]));
            let r = c.send(GET).await.expect("chunked");
            assert_eq!((r.status, r.body, r.close), (200, &b"abcde"[..], false));
            let r = c.send(GET).await.expect("close");
            assert_eq!((r.status, r.body, r.close), (200, &b"ok"[..], true));
        }
    }

    #[tokio::test]
    async fn a_body_delimited_by_the_end_of_the_connection_is_read_whole() {
        let addr = canned(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil the end"], 3).await;
        let mut c = Connection::connect(addr).await.expect("connect");
        let r = c.send(GET).await.expect("answer");
        assert_eq!(
            (r.status, r.body, r.close),
            (200, &b"until the end"[..], true)
        );
    }

    #[tokio::test]
    async fn broken_answers_are_errors_not_panics() {
        for answer in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            let addr = canned(vec![answer], 4096).await;
            let mut c = Connection::connect(addr).await.expect("connect");
            let result = c.send(GET).await.map(|r| r.status);
            assert!(
                result.is_err(),
                "{:?} gave {result:?}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn chunked_bodies_wait_for_their_end() {
        let mut out = Vec::new();
        let whole = b"4\r\nwiki\r\n0\r\n\r\nNEXT";
        for cut in 0..whole.len() - 4 {
            assert_eq!(dechunk(&whole[..cut], &mut out).expect("partial"), None);
        }
        assert_eq!(
            dechunk(whole, &mut out).expect("whole"),
            Some(whole.len() - 4)
        );
        assert_eq!(out, b"wiki");
    }
}
