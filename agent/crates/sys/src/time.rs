//! Local time: the agent's maintenance window is in the board's local
//! time (`TZ`, `/etc/localtime`), which only the C library knows.

use std::io;

/// Seconds east of UTC of local time at `epoch` (seconds since 1970).
#[allow(unsafe_code)] // opt-in: localtime_r
pub fn utc_offset_at(epoch: i64) -> io::Result<i64> {
    // 32-bit ARM glibc may still have a 32-bit time_t. The libc crate
    // marks musl's alias deprecated (it plans to follow musl 1.2's 64-bit
    // time_t); localtime_r takes whatever it is, so it is named here.
    #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions, deprecated)]
    let t = libc::time_t::try_from(epoch).map_err(|_| io::Error::other(format!("time {epoch} out of range")))?;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct
    // (its `tm_zone` pointer is null, which nothing here reads).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned locals for the
    // duration of the call; localtime_r is the reentrant variant and
    // writes only `tm`. A null return means the time did not convert.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return Err(io::Error::other(format!("localtime_r failed for {epoch}")));
    }
    // c_long: 32 bits on 32-bit ARM.
    #[allow(clippy::useless_conversion)]
    Ok(i64::from(tm.tm_gmtoff))
}
