//! `w2v`: the command-line tool. It does not link libtorch; see `app`.

mod app;
mod cli;

fn main() -> std::process::ExitCode {
    app::main_with(None)
}
