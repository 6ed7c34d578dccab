//! `[server.tls]`: HTTPS on the daemon's listener, and mutual TLS for peers that present a
//! client certificate.
//!
//! - [`TlsConfig`]: the keys (`cert`, `key`, optional `client_ca`), loaded and checked at
//!   start ([`TlsConfig::server_config`]); a bad file refuses to start naming the key.
//! - [`TlsListener`]: an [`axum::serve::Listener`] that accepts TCP and completes the TLS
//!   handshake off the accept path (a slow or failed handshake delays nobody else and never
//!   stops the server; failures are logged at debug level).
//! - [`ClientCertificate`]: the verified client certificate of a connection, put in every
//!   request's extensions beside `ConnectInfo<SocketAddr>`.
//!
//! With `client_ca` set, a client certificate is *requested but optional*: a client that
//! presents one must present one the CA issued (else the handshake fails), a client that
//! presents none still connects and authenticates some other way (a bearer token). Which
//! certificate may act as whom is the daemon's decision, by [`ClientCertificate::sha256`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A handshake not done after this long is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many handshakes run at once; connections beyond are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// `[server.tls]`: serve HTTPS instead of plain HTTP.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM file with the CA certificate(s) whose client certificates are accepted. When set,
    /// clients are asked for a certificate; presenting one is optional, but one presented
    /// must chain to these CAs or the handshake fails. Without it no client certificate is
    /// requested.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Why `[server.tls]` cannot be used: the key at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[server.tls] {key}: {reason}")]
pub struct TlsError {
    /// `cert`, `key` or `client_ca`.
    pub key: &'static str,
    /// What is wrong, with the file.
    pub reason: String,
}

impl TlsError {
    fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
            reason: reason.into(),
        }
    }
}

impl TlsConfig {
    /// Reads and checks the files: a rustls server config, or the key at fault.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = read_certificates("cert", &self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| TlsError::new("key", format!("{}: {e}", self.key.display())))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new("cert", e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in read_certificates("client_ca", path)? {
                    roots.add(ca).map_err(|e| {
                        TlsError::new("client_ca", format!("{}: {e}", path.display()))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                // Optional: members without a certificate authenticate by token.
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::new("client_ca", format!("{}: {e}", path.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            TlsError::new(
                "key",
                format!(
                    "{} does not go with {}: {e}",
                    self.key.display(),
                    self.cert.display()
                ),
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::new(key, format!("{}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(TlsError::new(
            key,
            format!("{}: no PEM certificate in the file", path.display()),
        ));
    }
    Ok(certificates)
}

/// The client certificate a connection presented and the TLS layer verified against
/// `[server.tls] client_ca`. Present in a request's extensions only then.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    /// SHA-256 of the leaf certificate's DER, lower-case hex (64 characters): what
    /// `openssl x509 -in cert.pem -outform der | sha256sum` prints.
    pub sha256: String,
}

impl ClientCertificate {
    /// The identity of the leaf certificate `der`.
    pub fn of(der: &[u8]) -> Self {
        Self {
            sha256: Sha256::digest(der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

/// Accepts TCP connections and completes their TLS handshakes concurrently.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("pending_handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Serves TLS with `config` on the connections `tcp` accepts.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, remote: SocketAddr) {
        if self.handshakes.len() >= MAX_PENDING_HANDSHAKES {
            tracing::info!(%remote, "too many TLS handshakes in progress; connection closed");
            return;
        }
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, remote)),
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Both branches are cancel-safe: a connection is never lost between them.
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, remote)) => self.start_handshake(stream, remote),
                    Err(e) => accept_error(e).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// As axum's own listener: connection errors concern one client; others (out of file
/// descriptors) call for a pause before accepting again.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What a TLS connection tells each of its requests: the peer's address and verified
/// client certificate. [`split_peer`] turns it into `ConnectInfo<SocketAddr>` and a
/// [`ClientCertificate`] extension, so handlers read the same types with or without TLS.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    /// The TCP peer.
    pub remote: SocketAddr,
    /// Its verified client certificate, if it presented one.
    pub certificate: Option<ClientCertificate>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        // The verifier checked the chain against client_ca during the handshake: a
        // certificate is only here if it passed.
        let certificate = stream
            .io()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| ClientCertificate::of(leaf.as_ref()));
        Self {
            remote: *stream.remote_addr(),
            certificate,
        }
    }
}

/// Middleware: the connection's [`TlsPeer`] as `ConnectInfo<SocketAddr>` plus, when there
/// is one, its [`ClientCertificate`].
pub async fn split_peer(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<TlsPeer>>().cloned() {
        request.extensions_mut().insert(ConnectInfo(peer.remote));
        if let Some(certificate) = peer.certificate {
            request.extensions_mut().insert(certificate);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_lower_case_sha256_hex() {
        let fingerprint = ClientCertificate::of(b"abc").sha256;
        assert_eq!(
            fingerprint,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn missing_files_are_named_with_their_key() {
        let config = TlsConfig {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            client_ca: None,
        };
        let err = config.server_config().expect_err("no such file");
        assert_eq!(err.key, "cert");
        assert!(err
            .to_string()
            .starts_with("[server.tls] cert: /nonexistent/cert.pem"));
    }
}
