//! Stop signals for the binaries: SIGINT (Ctrl-C), SIGTERM (`kill`, a job
//! scheduler, `systemd stop`) and SIGHUP (the terminal or the SSH session
//! closed). Each binary decides what a stop does (remove temp files and
//! exit, or finish the block and checkpoint); this module records which
//! signal came, so that the exit code says it as shells do: 128 + the
//! signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The last stop signal received; 0 before any.
static LAST: AtomicI32 = AtomicI32::new(0);

/// Runs `f(signal)` on a background thread at every SIGINT, SIGTERM or SIGHUP, after
/// recording it for [`interrupted_exit_code`]. `f` runs outside signal
/// context, so it may allocate, print and exit. The handlers stay installed
/// for the life of the process.
pub fn on_stop(f: impl Fn(i32) + Send + 'static) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("w2v-signals".into())
        .spawn(move || {
            for s in signals.forever() {
                LAST.store(s, Ordering::Relaxed);
                f(s);
            }
        })?;
    Ok(())
}

/// A flag that the first stop signal sets: the training loop polls it,
/// finishes its block, checkpoints and returns [`crate::Error::Interrupted`].
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    on_stop(move |_| s2.store(true, Ordering::Relaxed))?;
    Ok(stop)
}

/// Like [`stop_flag`], and each stop signal after the first runs `again`:
/// a second Ctrl-C means the user will not wait for the checkpoint or the
/// final save (the binary removes its temp files and exits).
pub fn stop_flag_or(again: impl Fn(i32) + Send + 'static) -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    on_stop(move |sig| {
        if s2.swap(true, Ordering::Relaxed) {
            again(sig)
        }
    })?;
    Ok(stop)
}

/// Blocks the stop signals in the calling thread and in the threads it
/// starts from now on, so that the kernel hands them to the signal thread
/// [`on_stop`] started, which is always ready to take one. A thread in a
/// long write or `fsync` (a model's final save) takes a pending signal only
/// when the call returns, and a second signal sent meanwhile merges with
/// the first and is lost: a second Ctrl-C did nothing. Call it after
/// [`on_stop`], and not before starting a child process that must see the
/// signals (the mask is inherited across `exec`).
pub fn route_to_signal_thread() -> std::io::Result<()> {
    // SAFETY: sigemptyset/sigaddset fill a local set; pthread_sigmask
    // changes only this thread's mask. No memory is shared.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [SIGINT, SIGTERM, SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// A write past the file size limit (`ulimit -f`) fails with `EFBIG`
/// ("File too large"), which the writer reports as an error naming the
/// file, instead of SIGXFSZ killing the process with no word and its temp
/// file left behind.
pub fn fail_writes_past_the_size_limit() -> std::io::Result<()> {
    // A handler that does nothing but set a flag nobody reads: with one
    // installed the kernel no longer kills the process, and the write
    // returns EFBIG.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    )
    .map(|_| ())
}

/// The signal that stopped this process, if one did.
pub fn received() -> Option<i32> {
    match LAST.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code of an interrupted run: 128 + the signal received, and 130
/// (SIGINT's) when the stop came some other way (the test hooks).
pub fn interrupted_exit_code() -> u8 {
    received().map_or(130, |s| (128 + s).clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_sets_the_flag_and_the_exit_code_names_it() {
        assert_eq!(interrupted_exit_code(), 130, "nothing received yet");
        let stop = stop_flag().unwrap();
        // SAFETY: raise(3) sends a signal to this process, which has a
        // handler installed for it just above.
        assert_eq!(unsafe { libc::raise(SIGTERM) }, 0);
        let t = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            assert!(t.elapsed().as_secs() < 10, "the flag was never set");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(received(), Some(SIGTERM));
        assert_eq!(interrupted_exit_code(), 143);
    }
}
