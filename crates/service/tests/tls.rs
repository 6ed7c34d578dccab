//! `[server.tls]` on a real daemon start-up, on loopback: HTTPS with and without a client
//! certificate (optional, verified against `client_ca`, handed to handlers), a certificate
//! of another CA refused at the handshake, plain HTTP to the TLS port failing without
//! taking the server down, and every bad TLS setting refusing to start naming its key.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use service::daemon::{start, DaemonSpec, StartError};
use service::database::Migrations;
use service::server::ServerConfig;
use service::testing::{Engine, ScratchDatabase};
use service::tls::{ClientCertificate, TlsConfig};
use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("tests/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("tests/migrations/postgres");
const SPEC: DaemonSpec = DaemonSpec {
    name: "tlstest",
    migrations: Migrations {
        sqlite: &SQLITE,
        postgres: &POSTGRES,
    },
};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`;
/// the client's identity (certificate + key) and DER.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca_pem: String,
    client_identity: String,
    client_der: Vec<u8>,
}

fn pki(dir: &Path, name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let mut server_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    server_params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let server_key = KeyPair::generate().expect("key");
    let server = server_params.signed_by(&server_key, &ca).expect("server");
    let client_key = KeyPair::generate().expect("key");
    let client = CertificateParams::new(vec![format!("{name}.example")])
        .expect("params")
        .signed_by(&client_key, &ca)
        .expect("client");
    let write = |file: &str, text: String| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", server.pem()),
        key: write("key.pem", server_key.serialize_pem()),
        ca_pem: ca.pem(),
        client_identity: format!("{}{}", client.pem(), client_key.serialize_pem()),
        client_der: client.der().to_vec(),
    }
}

/// `/whoami`: the peer's address and verified certificate fingerprint (or `none`).
fn routes() -> Router {
    Router::new().route(
        "/whoami",
        get(
            |ConnectInfo(remote): ConnectInfo<SocketAddr>,
             certificate: Option<Extension<ClientCertificate>>| async move {
                let fingerprint = certificate.map_or("none".to_owned(), |c| c.0.sha256);
                format!("{} {fingerprint}", remote.ip())
            },
        ),
    )
}

fn client(pki: &Pki, identity: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(5))
        .add_root_certificate(
            reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA certificate"),
        );
    if let Some(identity) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(identity.as_bytes()).expect("id"));
    }
    builder.build().expect("client")
}

fn server(tls: TlsConfig) -> ServerConfig {
    ServerConfig {
        tls: Some(tls),
        ..ServerConfig::on(([127, 0, 0, 1], 0).into())
    }
}

#[tokio::test]
async fn serves_https_with_an_optional_verified_client_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let ours = pki(dir.path(), "ours");
    let theirs = pki(dir.path(), "theirs");
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let config = server(TlsConfig {
        cert: ours.cert.clone(),
        key: ours.key.clone(),
        client_ca: Some(ours.ca.clone()),
    });
    let running = start(SPEC, &config, &scratch.config, async |_| Ok(routes()))
        .await
        .expect("starts");
    let url = format!("https://{}/whoami", running.local_addr);

    let fingerprint = ClientCertificate::of(&ours.client_der).sha256;
    let whoami = |client: reqwest::Client| {
        let url = url.clone();
        async move {
            let response = client.get(&url).send().await?;
            response.text().await
        }
    };
    let with_certificate = whoami(client(&ours, Some(&ours.client_identity)))
        .await
        .expect("served with a certificate");
    assert_eq!(with_certificate, format!("127.0.0.1 {fingerprint}"));
    let without = whoami(client(&ours, None)).await.expect("served without");
    assert_eq!(
        without, "127.0.0.1 none",
        "a client certificate is optional"
    );

    // A certificate of another CA fails the handshake.
    assert!(whoami(client(&ours, Some(&theirs.client_identity)))
        .await
        .is_err());
    // Plain HTTP to the TLS port fails cleanly, and the server keeps serving.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(plain
        .get(format!("http://{}/whoami", running.local_addr))
        .send()
        .await
        .is_err());
    let after = whoami(client(&ours, Some(&ours.client_identity)))
        .await
        .expect("still serving");
    assert_eq!(after, format!("127.0.0.1 {fingerprint}"));
    let health = client(&ours, None)
        .get(format!("https://{}/health", running.local_addr))
        .send()
        .await
        .expect("health over https");
    assert!(health.status().is_success());
    running.stop().await.expect("stops");

    // Without client_ca no certificate is asked for: none reaches the handler.
    let config = server(TlsConfig {
        cert: ours.cert.clone(),
        key: ours.key.clone(),
        client_ca: None,
    });
    let running = start(SPEC, &config, &scratch.config, async |_| Ok(routes()))
        .await
        .expect("starts");
    let without_ca = client(&ours, Some(&ours.client_identity))
        .get(format!("https://{}/whoami", running.local_addr))
        .send()
        .await
        .expect("served")
        .text()
        .await
        .expect("body");
    assert_eq!(without_ca, "127.0.0.1 none");
    running.stop().await.expect("stops");
}

#[tokio::test]
async fn bad_tls_settings_refuse_to_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let ours = pki(dir.path(), "ours");
    let theirs = pki(dir.path(), "theirs");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").expect("write");
    let missing = dir.path().join("missing.pem");
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let tls = |cert: &Path, key: &Path, client_ca: Option<&Path>| TlsConfig {
        cert: cert.to_owned(),
        key: key.to_owned(),
        client_ca: client_ca.map(Path::to_owned),
    };
    for (config, key) in [
        (tls(&missing, &ours.key, None), "cert"),
        (tls(&garbage, &ours.key, None), "cert"),
        (tls(&ours.cert, &missing, None), "key"),
        (tls(&ours.cert, &garbage, None), "key"),
        // The key of another certificate.
        (tls(&ours.cert, &theirs.key, None), "key"),
        (tls(&ours.cert, &ours.key, Some(&missing)), "client_ca"),
        (tls(&ours.cert, &ours.key, Some(&garbage)), "client_ca"),
    ] {
        let started = start(SPEC, &server(config.clone()), &scratch.config, async |_| {
            Ok(routes())
        })
        .await;
        let Err(StartError::Tls(err)) = started else {
            panic!("{config:?} started or failed otherwise: {started:?}");
        };
        assert_eq!(err.key, key, "{config:?}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("[server.tls] {key}: ")),
            "{err}"
        );
    }
}
