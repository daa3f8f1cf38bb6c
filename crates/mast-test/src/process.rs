//! Child processes that die with the test: killed on drop, their output kept so that a
//! failing test can print it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running child process; killed (and reaped) when dropped.
pub struct Proc {
    name: String,
    child: Child,
    log: std::path::PathBuf,
}

impl Proc {
    /// Starts `program` with `args`, its stdout and stderr going to a log file in the temp dir.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> std::io::Result<Proc> {
        let log = std::env::temp_dir().join(format!("mast-test-{}-{name}.log", std::process::id()));
        let file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- output of {} -----\n{}", self.name, self.output());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
