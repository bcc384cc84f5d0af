//! `assay ab analyze --sql` against a real PostgreSQL server: this test starts a private
//! cluster (initdb + postgres on a free port, in a temporary directory, as the `postgres`
//! user when run as root), loads a generated experiment, and checks that the query's
//! analysis is the CSV file's, that errors are clear, and that the password in the
//! connection string never reaches the output. `scripts/test` installs PostgreSQL
//! (Debian's `postgresql`) when missing; `ASSAY_PG_BIN` names another bin directory.

use crate::common::experiment::{ANALYZE, assay, experiment, write_csv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("ASSAY_PG_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output()
        && o.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    found.sort();
    found.pop().expect(
        "no PostgreSQL server found: scripts/test installs it (apt-get install postgresql), or set ASSAY_PG_BIN",
    )
}

/// A command run as the `postgres` user when we are root (the server refuses root).
fn as_server_user(program: &Path) -> Command {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let bin = bin_dir();
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let data = dir.path().join("data");
    let o = as_server_user(&bin.join("initdb"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "assay",
            "--no-sync",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = as_server_user(&bin.join("postgres"))
        .args([
            "-D",
            data.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-k",
            dir.path().to_str().unwrap(),
        ])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while postgres::Client::connect(&url(port, ""), postgres::NoTls).is_err() {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

fn url(port: u16, password: &str) -> String {
    if password.is_empty() {
        format!("postgresql://assay@127.0.0.1:{port}/postgres")
    } else {
        format!("postgresql://assay:{password}@127.0.0.1:{port}/postgres")
    }
}

#[test]
fn a_postgresql_query_gives_the_files_analysis_and_keeps_the_password_out() {
    let server = start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("units.csv");
    write_csv(&experiment(8_000, 5, 0.0), &csv);
    let mut client = postgres::Client::connect(&url(server.port, ""), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE units (user_id text, variant text, converted integer, revenue double precision,
             pre_revenue double precision, latency_ms double precision, exposed_at timestamptz)",
        )
        .unwrap();
    let mut w = client
        .copy_in("COPY units FROM STDIN WITH (FORMAT csv, HEADER true)")
        .unwrap();
    std::io::copy(&mut std::fs::File::open(&csv).unwrap(), &mut w).unwrap();
    w.finish().unwrap();
    // Conversion as numeric, the type SUM() and AVG() give, to check it arrives as a number.
    let query = "SELECT variant, converted::numeric AS converted, revenue, pre_revenue, latency_ms, \
                 exposed_at FROM units ORDER BY user_id";
    let secret = "s3cret-pa55";
    let mut args = vec!["ab", "analyze", "--sql", query, "--format", "json"];
    args.extend_from_slice(ANALYZE);
    let with_url = url(server.port, secret);
    let mut from_db_args = args.clone();
    from_db_args.extend_from_slice(&["--database", &with_url]);
    let o = assay(&from_db_args);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(matches!(o.status.code(), Some(0 | 3)), "{out}");
    assert!(!out.contains(secret), "the password leaked: {out}");
    let mut db: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        db["source"],
        format!("postgresql://127.0.0.1:{}/postgres", server.port)
    );
    assert_eq!(db["rows"], 8000);

    // The same rows from the CSV file (ordered as the query, so sums run in one order).
    let mut sorted: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let header = sorted.remove(0);
    sorted.sort();
    let sorted_csv = dir.path().join("sorted.csv");
    std::fs::write(&sorted_csv, format!("{header}\n{}\n", sorted.join("\n"))).unwrap();
    let mut file_args = vec![
        "ab",
        "analyze",
        sorted_csv.to_str().unwrap(),
        "--format",
        "json",
    ];
    file_args.extend_from_slice(ANALYZE);
    let o = assay(&file_args);
    let mut file: Value = serde_json::from_slice(&o.stdout).unwrap();
    db["source"] = Value::Null;
    file["source"] = Value::Null;
    assert_eq!(db, file);

    // The URL may also come from the environment; a bad query and a wrong port are clear.
    let o = crate::common::command()
        .args([
            "ab",
            "analyze",
            "--sql",
            "SELECT variant, nope FROM units",
            "--control",
            "current",
            "--metrics",
            "nope",
        ])
        .env("ASSAY_AB_DATABASE_URL", &with_url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "query on postgresql://127.0.0.1:{}/postgres",
            server.port
        )),
        "{err}"
    );
    assert!(err.contains("nope"), "{err}");
    assert!(!err.contains(secret), "{err}");
    let dead = url(1, secret);
    let mut args = vec![
        "ab",
        "analyze",
        "--sql",
        "SELECT 1",
        "--control",
        "a",
        "--metrics",
        "x",
    ];
    args.extend_from_slice(&["--database", &dead]);
    let o = assay(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("cannot connect to postgresql://127.0.0.1:1/postgres"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");

    // A pipeline's A/B stage reads a candidate's experiment from the same query: its
    // decision is `assay ab analyze`'s, and the password stays out of every file.
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            "baseline = \"current\"\n[[candidate]]\nname = \"current\"\nmodel = \"default\"\n\
             [[candidate]]\nname = \"candidate\"\nmodel = \"default\"\n\
             [[stage]]\nkind = \"ab\"\nname = \"online\"\ncontrol = \"current\"\n\
             metrics = [\"revenue\"]\ndata = {{ candidate = {{ sql = \"{query}\" }} }}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("pipeline-out");
    let o = crate::common::command()
        .args([
            "pipeline",
            "run",
            pipeline.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("ASSAY_AB_DATABASE_URL", &with_url)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{said}");
    assert!(!said.contains(secret), "{said}");
    for f in [
        "results.json",
        "summary.md",
        "junit.xml",
        "run.json",
        "01-online/outcome.json",
    ] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!text.contains(secret), "{f}: {text}");
    }
    let analysis: Value = serde_json::from_slice(
        &std::fs::read(out.join("01-online/candidate/analysis.json")).unwrap(),
    )
    .unwrap();
    let o = assay(&[
        "ab",
        "analyze",
        "--sql",
        query,
        "--control",
        "current",
        "--metrics",
        "revenue",
        "--format",
        "json",
        "--database",
        &with_url,
    ]);
    let direct: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(analysis["metrics"], direct["metrics"]);
    assert_eq!(analysis["decision"], direct["decision"]);
}
