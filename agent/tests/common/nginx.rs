//! Real nginx (Debian's package) on 127.0.0.1 serving a directory over
//! HTTPS and HTTP, with certificates from a CA the test makes with openssl.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway CA with a server certificate for 127.0.0.1 and a client certificate.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (the tests install it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn make_pki(dir: &Path) -> Pki {
    fs::create_dir_all(dir).expect("pki dir");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3",
        "-subj",
        "/CN=uptree test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"),
        ("client", "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"),
    ] {
        let mut req = vec!["req"];
        req.extend(ec);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let extf = format!("{name}.ext");
        fs::write(dir.join(&extf), ext).expect("ext");
        req.extend(["-keyout", &key, "-out", &csr, "-subj", if name == "server" { "/CN=127.0.0.1" } else { "/CN=device-0001" }]);
        openssl(dir, &req);
        openssl(dir, &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", &pem, "-days", "3", "-extfile", &extf]);
    }
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running nginx; killed when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    pub http_port: u16,
    pub https_port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    /// Serve `root`. With `client_auth`, HTTPS requires a client certificate
    /// signed by the test CA. `/redir/…` on HTTPS redirects to plain HTTP.
    pub fn start(root: &Path, pki: &Pki, dir: &Path, client_auth: bool) -> Nginx {
        Self::run(&format!("root {};", root.display()), pki, dir, client_auth)
    }

    /// HTTPS (and HTTP) in front of a plain HTTP server at `upstream`, e.g.
    /// a [`super::http::TestServer`] whose faults and byte counter a test
    /// uses. Unbuffered, so the upstream's count follows what the client
    /// is sent; ranges and their answers (206, 416) pass through.
    pub fn proxy(upstream: std::net::SocketAddr, pki: &Pki, dir: &Path) -> Nginx {
        let serve = format!("location / {{ proxy_pass http://{upstream}; proxy_buffering off; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}");
        Self::run(&serve, pki, dir, false)
    }

    fn run(serve: &str, pki: &Pki, dir: &Path, client_auth: bool) -> Nginx {
        fs::create_dir_all(dir).expect("nginx dir");
        let (http_port, https_port) = (free_port(), free_port());
        let d = dir.display();
        let verify = if client_auth { format!("ssl_verify_client on; ssl_client_certificate {};", pki.ca.display()) } else { String::new() };
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{http_port};
        {serve}
    }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {verify}
        {serve}
        location /redir/ {{ rewrite ^/redir/(.*)$ http://127.0.0.1:{http_port}/$1 permanent; }}
    }}
}}
"#,
            cert = pki.server_cert.display(),
            key = pki.server_key.display(),
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).expect("nginx.conf");
        let child = Command::new("nginx")
            .args(["-p", &dir.display().to_string(), "-c", &conf_path.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx (the tests install nginx-light)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", https_port)).is_err() || std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start: {}", fs::read_to_string(dir.join("error.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, http_port, https_port, dir: dir.to_path_buf() }
    }

    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.https_port)
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn http_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.http_port))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
