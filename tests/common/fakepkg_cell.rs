//! A matrix cell's build of the fake package on the H100's captured host
//! (torch 2.11.0+cu130, C++11 ABI; `tests/fixtures/fakepkg`,
//! [`super::h100_host`]), and what the tests read of the wheels it makes
//! with real tools (`python3`'s zipfile, `sha256sum`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::h100_host::{build_args, fakepkg_build, fakepkg_on_h100, FakepkgBuild};
use super::{run_ok, TestContext};

/// One cell: its context, the fake package's tree and state, and the real
/// Python the fake build runs under.
pub struct Cell {
    pub ctx: TestContext,
    pub build: FakepkgBuild,
    pub real_python: PathBuf,
}

impl Cell {
    pub fn new(real_python: PathBuf) -> Cell {
        let ctx = TestContext::new();
        let build = fakepkg_build(&ctx);
        Cell {
            ctx,
            build,
            real_python,
        }
    }

    /// The build's out dir.
    pub fn out(&self) -> PathBuf {
        self.ctx.path().join("out")
    }

    /// `wheelwright build` of the fake package at 4 jobs, on the H100 host.
    pub fn command(&self) -> Command {
        let mut cmd = self.ctx.wheelwright();
        fakepkg_on_h100(
            &mut cmd,
            &self.ctx,
            &self.build.state,
            "ok",
            &self.real_python,
        );
        build_args(
            &mut cmd,
            &self.ctx,
            &self.build.tree,
            &self.build.python,
            "4",
        );
        cmd
    }

    /// The last build's `report.json`.
    pub fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.out().join("report.json")).expect("report.json");
        serde_json::from_str(&text).unwrap()
    }

    /// `wheelwright publish --report <the last build's report> --wheelhouse HOUSE`.
    pub fn publish_to_wheelhouse(&self, house: &Path) -> std::process::Output {
        self.ctx
            .wheelwright()
            .arg("publish")
            .arg("--report")
            .arg(self.out().join("report.json"))
            .arg("--wheelhouse")
            .arg(house)
            .output()
            .unwrap()
    }

    /// The wheel the last build recorded, and its sha256.
    pub fn wheel(&self) -> (PathBuf, String) {
        let r = self.report();
        assert_eq!(r["outcome"], "ok", "{r}");
        (
            PathBuf::from(r["wheel"]["path"].as_str().unwrap()),
            r["wheel"]["sha256"].as_str().unwrap().to_string(),
        )
    }
}

/// The one member of a wheel (a zip) whose name ends in `suffix`, as text,
/// read with the real Python.
pub fn read_member(python: &Path, wheel: &Path, suffix: &str) -> String {
    String::from_utf8(member_bytes(python, wheel, suffix)).unwrap()
}

/// [`read_member`]'s bytes.
pub fn member_bytes(python: &Path, wheel: &Path, suffix: &str) -> Vec<u8> {
    let out = run_ok(
        Command::new(python)
            .arg("-c")
            .arg(
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
         names = [n for n in z.namelist() if n.endswith(sys.argv[2])]\n\
         assert len(names) == 1, names\n\
         sys.stdout.buffer.write(z.read(names[0]))",
            )
            .arg(wheel)
            .arg(suffix),
    );
    out.stdout
}

/// sha256 through the real `sha256sum`, not our own code.
pub fn sha256(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
