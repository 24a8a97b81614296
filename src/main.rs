//! `w2v`: the command-line tool. It does not link libtorch; see `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
