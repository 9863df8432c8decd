//! Running a command on a pseudo-terminal, to see what pinsign prints when stderr *is* a
//! terminal (colours, progress bars): util-linux `script -qec CMD /dev/null` gives the child a
//! pty and copies everything it writes (stdout and stderr, merged) to its own stdout.

use std::process::Command;

/// Run `cmd` (its program, arguments and environment changes) on a pty; returns what it
/// wrote there and its exit status.
pub fn run(cmd: &Command) -> (String, i32) {
    let script = super::require_tool("script");
    let mut line = shell_quote(cmd.get_program().to_str().expect("UTF-8 program"));
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(arg.to_str().expect("UTF-8 argument")));
    }
    let mut outer = Command::new(script);
    outer.args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => outer.env(k, v),
            None => outer.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    let out = outer.output().expect("run script");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
