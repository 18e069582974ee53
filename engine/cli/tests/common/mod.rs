//! Helpers shared by the process tests that drive `memlayer` with Python
//! clients: the MCP SDK venv and `memlayer serve` processes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use memlayer_models::{CachedModel, models_dir};

/// The MCP Python SDK version the tests pin.
pub const MCP_SDK: &str = "mcp==2.3.0";

/// Fails the test when a model is missing (CI installs them).
pub fn need(models: &[CachedModel]) {
    for m in models {
        assert!(
            m.path().exists(),
            "{} is not installed: run scripts/fetch-models {}",
            m.name,
            m.alias()
        );
    }
}

/// A Python with the MCP SDK: a venv under the target directory, created
/// and filled from PyPI on first use.
pub fn python_with_mcp() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-venv");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import mcp, sys; sys.exit(0)"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed to create the MCP client venv");
        assert!(st.success(), "python3 -m venv {} failed", venv.display());
        let st = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MCP_SDK])
            .status()
            .unwrap();
        assert!(
            st.success(),
            "pip install {MCP_SDK} failed (PyPI reachable?)"
        );
    }
    python
}

/// A test script beside this file.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// `memlayer --db DB <args>` with a clean environment.
pub fn memlayer(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memlayer"));
    c.env_remove("MEMLAYER_DB")
        .env_remove("MEMLAYER_API_KEY")
        .env_remove("MEMLAYER_USER_ID")
        .env_remove("MEMLAYER_LOCK_TIMEOUT")
        .env_remove("MEMLAYER_SERVER")
        .env("MEMLAYER_LOG", "warn")
        .env("MEMLAYER_MODELS_DIR", models_dir())
        .arg("--db")
        .arg(db)
        .stdin(Stdio::null());
    c
}

/// A running `memlayer serve`; killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Served {
    /// Starts `memlayer --db DB serve --port 0 <args>` and reads the URL it
    /// prints.
    pub fn start(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut c = memlayer(db);
        c.args(["serve", "--port", "0"]).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("serve printed {line:?} ({e})"));
        Served {
            url: v["url"].as_str().unwrap().to_string(),
            child,
        }
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// SIGKILL and wait.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python script, prints its output, asserts exit 0, returns stdout.
pub fn run_py(python: &Path, args: &[&str]) -> String {
    let out = Command::new(python).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}
