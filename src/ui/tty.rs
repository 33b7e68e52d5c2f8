//! The terminal's settings as relctl found them, put back on the way out.
//! A prompt puts the terminal in raw mode and hides the cursor; a run that
//! ends while one is up (a signal, a closed session) must not leave the
//! person's shell without echo.

use std::sync::OnceLock;

static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Remembers the settings of the terminal on stdin, if it is one.
pub fn save() {
    // SAFETY: isatty/tcgetattr only read the descriptor's settings into a
    // zeroed struct of the right type.
    unsafe {
        if libc::isatty(libc::STDIN_FILENO) == 1 {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &raw mut t) == 0 {
                let _ = SAVED.set(t);
            }
        }
    }
}

/// Puts the saved settings back and shows the cursor.
pub fn restore() {
    if let Some(t) = SAVED.get() {
        // SAFETY: writes back settings read from the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
        }
        eprint!("\x1b[?25h");
    }
}
