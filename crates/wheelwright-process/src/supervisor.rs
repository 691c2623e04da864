//! The supervisor: a small process between wheelwright and a command it runs
//! (the build's `pip wheel`, the verification, the sdist download), so that
//! nothing the command started outlives wheelwright, however wheelwright ends,
//! `kill -9` included.
//!
//! The supervisor is the calling program run again with [`SUBCOMMAND`] (the
//! `wheelwright` binary has it as a hidden subcommand; any other program that
//! drives the library can answer it with [`SuperviseOptions::from_args`] and
//! [`supervise`]). Started by [`Supervisor::wrap`], it:
//! - makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every
//!   process of the tree whose parent dies, a double-forked `setsid` daemon
//!   included, becomes its child instead of init's: the whole tree stays
//!   below it, whatever its sessions, groups or environment;
//! - asks for a parent-death signal (`PR_SET_PDEATHSIG`, SIGTERM) and then
//!   checks that its parent is still the one that started it (the parent may
//!   have died before the request), and polls that too;
//! - runs the command with `/dev/null` as its standard input and its own
//!   stdout and stderr, and reaps every child it inherits;
//! - on its parent's death, and after the command exits (stragglers), stops
//!   the tree: SIGTERM to every descendant, a grace period, SIGKILL to what
//!   is left, reaping until no child is left; on SIGTERM, SIGINT or SIGHUP
//!   (a cancel, the parent alive) it relays SIGTERM and waits, leaving the
//!   SIGKILL to the parent, which names what it kills (and takes over
//!   should the parent die meanwhile);
//! - ends as the command ended (its exit code, or the same signal), so the
//!   caller reads an OOM kill's SIGKILL as before.
//!
//! Its own standard input is the caller's console (a duplicate of its stderr,
//! [`console_stdio`]): standard input is the one descriptor besides the
//! command's stdout and stderr that a parent can hand over without `pre_exec`
//! (the workspace has no `unsafe`). After its parent died, the supervisor says
//! there what it stopped and, when a GitHub Actions output fence was open
//! (`::stop-commands::TOKEN`, the token kept in a file named by
//! [`Supervisor::fence_file`]), ends it with `::TOKEN::`.
//!
//! All of it uses nix's safe `prctl`, `kill` and `waitpid` and signal-hook's
//! flags. Linux only (as `/proc` is).
//!
//! Without a supervisor (a library user whose program does not answer
//! [`SUBCOMMAND`]), a cancel still stops the tree by process group, parent
//! pid and the build's marker variable ([`wheelwright_base::env_vars::WHEELWRIGHT_BUILD_ID`]), but a
//! `setsid` daemon that cleared its environment is missed, and after
//! `kill -9` of the caller nothing is stopped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, getppid, Pid};

pub use crate::tree::names;
use crate::tree::{descendants, list_processes};

/// The first argument that makes a program act as the supervisor.
pub const SUBCOMMAND: &str = "__supervise";
/// How often the supervisor looks at its command, its parent and the signals.
const POLL: Duration = Duration::from_millis(50);
/// The grace the stragglers of a command that exited get (its own output
/// being done, what it left behind is stopped).
const STRAGGLER_GRACE: Duration = Duration::from_secs(2);
/// How long SIGKILL is repeated before giving up on a process that does not
/// die (one stuck in the kernel, state `D`).
const KILL_PATIENCE: Duration = Duration::from_secs(10);

/// How to start the supervisor: the program that answers [`SUBCOMMAND`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    /// Usually `std::env::current_exe()` of the `wheelwright` binary.
    pub program: PathBuf,
    /// A file holding the token of the GitHub Actions output fence open on
    /// the caller's console (32 hex digits), if one is.
    pub fence_file: Option<PathBuf>,
}

impl Supervisor {
    /// A supervisor that runs `program` (this executable) as `__supervise`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Supervisor {
            program: program.into(),
            fence_file: None,
        }
    }

    /// This executable as the supervisor (a program that answers
    /// [`SUBCOMMAND`]), with the caller's `fence_file`; `None` when its path
    /// is not a file (the binary was replaced or removed while running): the
    /// commands then run directly.
    pub fn this_program(fence_file: Option<PathBuf>) -> Option<Self> {
        let program = std::env::current_exe().ok().filter(|p| p.is_file())?;
        Some(Supervisor {
            program,
            fence_file,
        })
    }

    /// `cmd` (program, arguments, environment, working dir) run under the
    /// supervisor, which gives the tree `grace` between SIGTERM and SIGKILL.
    /// Stdio is the caller's to set: the command's stdout and stderr, and
    /// [`console_stdio`] as stdin. The parent-death signal follows the thread
    /// that spawns it: spawn and wait on one thread, as the library does.
    pub fn wrap(&self, cmd: &Command, grace: Duration) -> Command {
        let mut wrapped = Command::new(&self.program);
        wrapped
            .arg(SUBCOMMAND)
            .arg("--parent")
            .arg(std::process::id().to_string())
            .arg("--grace-ms")
            .arg(grace.as_millis().to_string());
        if let Some(f) = &self.fence_file {
            wrapped.arg("--fence-file").arg(f);
        }
        wrapped
            .arg("--")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

/// This process's stderr, duplicated, for the supervisor's stdin (where it
/// speaks after its parent died); `/dev/null` when it cannot be duplicated.
pub fn console_stdio() -> Stdio {
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// What the supervisor was asked to do: [`Supervisor::wrap`]'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperviseOptions {
    /// The pid of the process that started it.
    pub parent: u32,
    /// Time between SIGTERM and SIGKILL when the tree is stopped.
    pub grace: Duration,
    /// The caller's open output fence, to end if the caller dies.
    pub fence_file: Option<PathBuf>,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl SuperviseOptions {
    /// Parse the arguments after [`SUBCOMMAND`].
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let mut parent = None;
        let mut grace = None;
        let mut fence_file = None;
        loop {
            let Some(flag) = args.next() else {
                return Err("no `--` before the command".into());
            };
            let flag = flag.to_string_lossy().into_owned();
            if flag == "--" {
                break;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .to_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("{flag}: `{}` is not a number", value.to_string_lossy()))
            };
            match flag.as_str() {
                "--parent" => parent = Some(u32::try_from(number()?).map_err(|e| e.to_string())?),
                "--grace-ms" => grace = Some(Duration::from_millis(number()?)),
                "--fence-file" => fence_file = Some(PathBuf::from(&value)),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        let command: Vec<OsString> = args.collect();
        if command.is_empty() {
            return Err("no command after `--`".into());
        }
        Ok(SuperviseOptions {
            parent: parent.ok_or("--parent is required")?,
            grace: grace.ok_or("--grace-ms is required")?,
            fence_file,
            command,
        })
    }
}

/// How the supervised command ended.
#[derive(Debug)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// It could not be started (the caller says why, exits 127 as a shell does).
    NotStarted(std::io::Error),
    /// The parent was gone before the command started: nothing ran.
    Orphaned,
}

/// When [`stop_tree`] turns to SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escalate {
    /// After the grace.
    Always,
    /// After the grace that starts when the parent is gone.
    IfOrphaned,
}

/// What stopping a tree did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Processes sent SIGTERM.
    pub terminated: usize,
    /// Those still running after the grace, sent SIGKILL: pid and name.
    pub killed: BTreeMap<u32, String>,
}

/// Be the supervisor: run `opts.command`, stop its whole tree when asked to,
/// when the parent dies, or after it exits; `console` is where a message goes
/// when the parent died (the parent's stderr).
// The command is reaped with `waitpid` (with every orphan), not `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn supervise(opts: &SuperviseOptions, console: &mut dyn Write) -> Ending {
    // Signals first: a cancel that comes while starting is not lost.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let reaper = nix::sys::prctl::set_child_subreaper(true);
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    // The parent may have died before the request: then no signal comes.
    let parent = Pid::from_raw(opts.parent as i32);
    if getppid() != parent {
        return Ending::Orphaned;
    }
    if let Err(e) = reaper {
        let _ = writeln!(
            console,
            "wheelwright: warning: cannot become a child subreaper ({e}); processes that leave the build's tree may outlive it"
        );
    }
    let Some((program, args)) = opts.command.split_first() else {
        return Ending::NotStarted(std::io::Error::other("no command"));
    };
    let child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Ending::NotStarted(e),
    };
    // Reaped below with waitpid, never through `child`.
    let pid = Pid::from_raw(child.id() as i32);
    let mut ended = None;
    loop {
        reap(pid, &mut ended);
        let orphaned = getppid() != parent;
        let cancelled = stop.load(Ordering::SeqCst);
        if !(orphaned || cancelled || ended.is_some()) {
            std::thread::sleep(POLL);
            continue;
        }
        let (grace, escalate) = if orphaned {
            (opts.grace, Escalate::Always)
        } else if cancelled {
            (opts.grace, Escalate::IfOrphaned)
        } else {
            // The command exited: what it left behind goes.
            (STRAGGLER_GRACE.min(opts.grace), Escalate::Always)
        };
        let stopped = stop_tree(grace, escalate, parent, &mut ended, pid);
        // Checked again: a parent-death signal may come before the parent
        // pid changes, and the parent may die while the tree stops.
        if getppid() != parent {
            let _ = writeln!(console, "{}", orphan_message(opts, &stopped));
            if let Some(token) = opts.fence_file.as_deref().and_then(read_fence_token) {
                let _ = writeln!(console, "::{token}::");
            }
            if let Some(f) = &opts.fence_file {
                let _ = std::fs::remove_file(f);
            }
            let _ = console.flush();
        }
        return ended.unwrap_or(Ending::Signalled(Signal::SIGTERM as i32));
    }
}

/// What the supervisor says after its parent died.
fn orphan_message(opts: &SuperviseOptions, stopped: &Stopped) -> String {
    let mut text = format!(
        "wheelwright: the wheelwright process (pid {}) that ran `{}` is gone; stopped its {} process(es)",
        opts.parent,
        opts.command
            .first()
            .map_or_else(String::new, |p| p.to_string_lossy().into_owned()),
        stopped.terminated.max(stopped.killed.len()),
    );
    if !stopped.killed.is_empty() {
        text.push_str(&format!(
            "; {} did not stop within {:.0?} of SIGTERM and were killed with SIGKILL: {}",
            stopped.killed.len(),
            opts.grace,
            names(&stopped.killed)
        ));
    }
    text
}

/// The token in a fence file: exactly 32 lowercase hex digits (what
/// [`wheelwright_base::text::random_token`] makes), so a file the build
/// rewrote can never make the supervisor print a workflow command.
pub fn read_fence_token(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let token = text.trim();
    (token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| token.to_string())
}

/// Reap every child that has ended; the command's ending goes to `ended`.
fn reap(command: Pid, ended: &mut Option<Ending>) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == command => {
                *ended = Some(Ending::Exited(code));
            }
            Ok(WaitStatus::Signaled(p, sig, _)) if p == command => {
                *ended = Some(Ending::Signalled(sig as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Live descendants of this process, with their names.
fn live_descendants() -> BTreeMap<u32, String> {
    let procs = list_processes();
    let found = descendants(getpid().as_raw() as u32, &procs);
    procs
        .into_iter()
        .filter(|p| found.contains(&p.pid) && p.state != 'Z' && p.state != 'X')
        .map(|p| (p.pid, p.comm))
        .collect()
}

/// SIGTERM every descendant (those that appear meanwhile too), wait for
/// them to go, SIGKILL the rest `grace` after `escalate` (or after the parent
/// died, in a cancel), and reap until no child is left. While the parent
/// lives, a cancel is its to escalate (it names what it kills): this relays
/// SIGTERM and waits.
fn stop_tree(
    grace: Duration,
    escalate: Escalate,
    parent: Pid,
    ended: &mut Option<Ending>,
    command: Pid,
) -> Stopped {
    let mut stopped = Stopped::default();
    let mut termed = std::collections::BTreeSet::new();
    let mut deadline = match escalate {
        Escalate::Always => Some(Instant::now() + grace),
        Escalate::IfOrphaned => None,
    };
    loop {
        reap(command, ended);
        let live = live_descendants();
        if live.is_empty() {
            return stopped;
        }
        if deadline.is_none() && getppid() != parent {
            deadline = Some(Instant::now() + grace);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        for pid in live.keys() {
            if termed.insert(*pid) {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
                stopped.terminated += 1;
            }
        }
        std::thread::sleep(POLL);
    }
    let patience = Instant::now() + KILL_PATIENCE;
    loop {
        let live = live_descendants();
        if live.is_empty() || Instant::now() >= patience {
            break;
        }
        for (pid, comm) in live {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            stopped.killed.entry(pid).or_insert(comm);
        }
        std::thread::sleep(Duration::from_millis(20));
        reap(command, ended);
    }
    // Whatever is left of our own children (zombies) goes now.
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
        match status {
            WaitStatus::Exited(p, code) if p == command => *ended = Some(Ending::Exited(code)),
            WaitStatus::Signaled(p, sig, _) if p == command => {
                *ended = Some(Ending::Signalled(sig as i32))
            }
            _ => {}
        }
    }
    stopped
}

/// The exit code that ends the supervisor as the command ended: its code,
/// 127 when it did not start, 0 when nothing ran. A signal is raised again
/// on this process (its default action restored), so the caller sees the
/// same signal; should that return, 128 + the signal.
pub fn exit_code(ending: &Ending) -> u8 {
    match ending {
        Ending::Exited(code) => u8::try_from(*code).unwrap_or(1),
        Ending::NotStarted(_) => 127,
        Ending::Orphaned => 0,
        Ending::Signalled(sig) => {
            if *sig == Signal::SIGKILL as i32 {
                let _ = kill(getpid(), Signal::SIGKILL);
            }
            let _ = signal_hook::low_level::emulate_default_handler(*sig);
            128u8.saturating_add(u8::try_from(*sig).unwrap_or(0))
        }
    }
}

#[cfg(test)]
mod tests;
