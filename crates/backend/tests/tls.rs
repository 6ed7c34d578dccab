//! The client over real TLS on loopback: it trusts a private federation CA given as PEM,
//! presents its client certificate to a server that requires one (mutual TLS, how the hub
//! authenticates members), and fails closed without either.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use backend::http::client::{BiClient, ClientConfig, ClientError, Delivery, PeerEndpoint};
use backend::Codec;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
    client_identity_pem: String,
    client_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let mut server_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    server_params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let server_key = KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &ca).unwrap();

    let client_params = CertificateParams::new(vec!["ns.operator-a.example".to_owned()]).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = client_params.signed_by(&client_key, &ca).unwrap();

    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_der: server.der().clone(),
        server_key: server_key.serialize_der(),
        client_identity_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
        client_der: client.der().clone(),
    }
}

/// A TLS server on loopback that requires a client certificate from the CA, answers every
/// HTTP request with an empty 200, and records the certificate each client presented.
async fn mutual_tls_server(pki: &Pki) -> (String, Arc<Mutex<Vec<CertificateDer<'static>>>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server_der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/bi", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let record = record.clone();
            tokio::spawn(async move {
                // A client without an acceptable certificate fails here: that is the point.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(certs) = tls.get_ref().1.peer_certificates() {
                    record.lock().unwrap().extend(certs.iter().cloned());
                }
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn client(ca_pem: Option<&str>, identity_pem: Option<&str>) -> BiClient {
    let config = ClientConfig {
        ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
        identity_pem: identity_pem.map(|p| p.as_bytes().to_vec()),
        ..ClientConfig::default()
    };
    BiClient::new(&config, Arc::new(Codec::new().unwrap())).unwrap()
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate_and_fails_closed_without_it() {
    let pki = pki();
    let (url, seen) = mutual_tls_server(&pki).await;
    let peer = PeerEndpoint::new(&url, None).expect("a valid url");
    let body = br#"{"ProtocolVersion":"1.1"}"#.to_vec();

    let delivery = client(Some(&pki.ca_pem), Some(&pki.client_identity_pem))
        .post(&peer, body.clone())
        .await
        .unwrap();
    assert!(matches!(delivery, Delivery::Accepted));
    assert_eq!(
        seen.lock().unwrap().first(),
        Some(&pki.client_der),
        "server saw our certificate"
    );

    // No client certificate: the server refuses the handshake.
    let err = client(Some(&pki.ca_pem), None)
        .post(&peer, body.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");

    // The federation CA not trusted: we refuse the server.
    let err = client(None, Some(&pki.client_identity_pem))
        .post(&peer, body)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the authenticated client got through"
    );
}
