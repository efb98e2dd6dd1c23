//! Keeps key material out of crash dumps and swap, before anything secret is loaded: the
//! process is made non-dumpable (no core file, and `/proc/<pid>/mem` and ptrace closed to other
//! users of the same uid), its core size limit is 0, and its memory is locked (`mlockall`)
//! where the system allows it; where it does not, one warning says so and the server runs on,
//! as Vault does. Memory is locked on fault (`MCL_ONFAULT`), so locking costs no extra RSS.

/// What `apply` achieved, for the start-up log and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLock {
    Locked,
    Disabled,
    Unavailable,
}

/// Applies every protection this platform offers; failures are warnings, never fatal.
pub fn apply(mlock: bool) -> MemoryLock {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{
            set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit,
        };
        if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
            tracing::warn!(error = %e, "could not make the process non-dumpable");
        }
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(e) = setrlimit(Resource::Core, none) {
            tracing::warn!(error = %e, "could not set the core file size limit to 0");
        }
        if !mlock {
            return MemoryLock::Disabled;
        }
        lock_memory()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = mlock;
        tracing::warn!("memory locking and dump protection are only implemented on Linux");
        MemoryLock::Unavailable
    }
}

#[cfg(target_os = "linux")]
fn lock_memory() -> MemoryLock {
    use rustix::mm::{mlockall, MlockAllFlags};
    use rustix::process::{getrlimit, Resource};
    // With MCL_FUTURE every later mapping is locked too, so under a finite RLIMIT_MEMLOCK the
    // process would fail to allocate once it grew past it. Lock only when the limit cannot
    // bite: it is unlimited, or the process may exceed it (CAP_IPC_LOCK).
    let limit = getrlimit(Resource::Memlock).current;
    if limit.is_some() && !has_ipc_lock() {
        tracing::warn!(
            limit_bytes = limit,
            "memory is not locked: RLIMIT_MEMLOCK is finite and the process lacks CAP_IPC_LOCK, \
             so key material may be swapped to disk; raise the limit (ulimit -l unlimited, \
             LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK, or pass --disable-mlock to silence this"
        );
        return MemoryLock::Unavailable;
    }
    match mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT) {
        Ok(()) => MemoryLock::Locked,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "memory is not locked (mlockall failed), so key material may be swapped to disk; \
                 pass --disable-mlock to silence this"
            );
            MemoryLock::Unavailable
        }
    }
}

/// Whether CAP_IPC_LOCK (capability 14) is in the effective set.
#[cfg(target_os = "linux")]
fn has_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}
