//! A registry of named child processes, each with a log file that keeps the output of every
//! run (restarts append), so that a failing test can show what its processes said.
//!
//! Nothing here knows about Blyan: CometBFT, `blyand`, and later Kubo nodes or workers are
//! all just a [`ProcSpec`] under a name such as `node0/cometbft`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// How to start one process.
#[derive(Debug, Clone)]
pub struct ProcSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables.
    pub envs: Vec<(OsString, OsString)>,
    /// Working directory (default: inherited).
    pub cwd: Option<PathBuf>,
    /// File that receives stdout and stderr (appended to on every start).
    pub log: PathBuf,
}

impl ProcSpec {
    /// A spec running `program args...`, logging to `log`.
    pub fn new<I, S>(program: impl Into<PathBuf>, args: I, log: impl Into<PathBuf>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        ProcSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            envs: Vec::new(),
            cwd: None,
            log: log.into(),
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

struct Proc {
    spec: ProcSpec,
    child: Option<Child>,
    /// How the last run ended, once reaped.
    exited: Option<ExitStatus>,
    starts: u32,
}

/// Named child processes. Dropping the registry kills (SIGKILL) and reaps every child.
#[derive(Default)]
pub struct Processes {
    procs: BTreeMap<String, Proc>,
}

impl Processes {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name` with `spec` and starts it. A name may be registered once.
    pub fn spawn(&mut self, name: &str, spec: ProcSpec) -> anyhow::Result<()> {
        if self.procs.contains_key(name) {
            bail!("a process named {name} is already registered");
        }
        self.procs.insert(
            name.to_string(),
            Proc {
                spec,
                child: None,
                exited: None,
                starts: 0,
            },
        );
        self.start(name)
    }

    /// Starts a registered process again with its spec; it must not be running.
    pub fn start(&mut self, name: &str) -> anyhow::Result<()> {
        if self.is_running(name) {
            bail!("{name} is already running");
        }
        let p = self.get_mut(name)?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.spec.log)
            .with_context(|| format!("opening log {}", p.spec.log.display()))?;
        p.starts += 1;
        writeln!(
            log,
            "===== harness: start #{} of {name}: {} =====",
            p.starts,
            p.spec.display()
        )?;
        let mut cmd = Command::new(&p.spec.program);
        cmd.args(&p.spec.args)
            .envs(p.spec.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(dir) = &p.spec.cwd {
            cmd.current_dir(dir);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {}", p.spec.display()))?;
        p.child = Some(child);
        p.exited = None;
        Ok(())
    }

    /// `kill -9` and reap; a process that already exited is just reaped.
    pub fn kill9(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.get_mut(name)?;
        if let Some(mut child) = p.child.take() {
            // Child::kill sends SIGKILL on Unix; it fails only if the child was reaped.
            let _ = child.kill();
            let status = child
                .wait()
                .with_context(|| format!("reaping {name} after kill -9"))?;
            p.exited = Some(status);
        }
        Ok(())
    }

    /// Replaces the executable a registered process starts with from its next start (a
    /// binary swap, as an operator does for a software upgrade).
    pub fn set_program(&mut self, name: &str, program: impl Into<PathBuf>) -> anyhow::Result<()> {
        self.get_mut(name)?.spec.program = program.into();
        Ok(())
    }

    /// Kills (if running) and starts again.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        self.kill9(name)?;
        self.start(name)
    }

    /// Whether the process is alive (reaps it if it exited).
    pub fn is_running(&mut self, name: &str) -> bool {
        let Some(p) = self.procs.get_mut(name) else {
            return false;
        };
        let Some(child) = p.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                p.exited = Some(status);
                p.child = None;
                false
            }
            Err(_) => false,
        }
    }

    /// How the last run ended, if it did (after [`Processes::is_running`] saw it exit or
    /// [`Processes::kill9`]).
    pub fn exit_status(&mut self, name: &str) -> Option<ExitStatus> {
        self.is_running(name);
        self.procs.get(name).and_then(|p| p.exited)
    }

    /// Waits up to `timeout` for the process to exit by itself; true if it did.
    pub fn wait_exit(&mut self, name: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.is_running(name) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// The process id of a running process.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs
            .get(name)
            .and_then(|p| p.child.as_ref())
            .map(Child::id)
    }

    /// The names of every registered process, sorted.
    pub fn names(&self) -> Vec<String> {
        self.procs.keys().cloned().collect()
    }

    /// The names of registered processes that are not running (they exited or were killed).
    pub fn not_running(&mut self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| !self.is_running(n))
            .collect()
    }

    /// The log file of a process.
    pub fn log_path(&self, name: &str) -> Option<&Path> {
        self.procs.get(name).map(|p| p.spec.log.as_path())
    }

    /// The last `lines` lines of a process's log.
    pub fn tail(&self, name: &str, lines: usize) -> String {
        self.log_path(name)
            .map(|p| tail_file(p, lines))
            .unwrap_or_default()
    }

    /// Prints the last `lines` lines of every log to stderr.
    pub fn dump_logs(&self, lines: usize) {
        for (name, p) in &self.procs {
            eprintln!(
                "----- {name}: last {lines} lines of {} -----",
                p.spec.log.display()
            );
            eprintln!("{}", tail_file(&p.spec.log, lines));
        }
    }

    /// Kills and reaps every child, in reverse name order.
    pub fn kill_all(&mut self) {
        for name in self.names().into_iter().rev() {
            let _ = self.kill9(&name);
        }
    }

    fn get_mut(&mut self, name: &str) -> anyhow::Result<&mut Proc> {
        self.procs
            .get_mut(name)
            .ok_or_else(|| anyhow!("no process named {name}"))
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.kill_all();
        if std::thread::panicking() {
            self.dump_logs(60);
        }
    }
}

/// The last `lines` lines of a text file (lossy UTF-8), or a note if it cannot be read.
pub fn tail_file(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
