//! The fuzz targets' shared harness: an allocation guard.
//!
//! libFuzzer's `-malloc_limit_mb` needs a sanitizer's malloc hooks, which
//! `--sanitizer none` does not install, and a huge `Vec::with_capacity` is
//! not even visible in the RSS until it is touched. So every target runs its
//! input under this global allocator, which aborts (a crash libFuzzer
//! reports and saves) on any single allocation above
//! `16 MiB + 1024 × input length`: decoders must size what they allocate by
//! the bytes actually present, never by a length field alone.
//!
//! (The one `unsafe` block of the project lives here, in the fuzzing
//! harness outside the workspace: `GlobalAlloc` cannot be implemented
//! without it. It only forwards to the system allocator.)

use std::alloc::{GlobalAlloc, Layout, System};

mod config_target;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation allowed for the current input (0: no limit,
/// e.g. while the seeded world is being built).
static LIMIT: AtomicUsize = AtomicUsize::new(0);

struct Guard;

// SAFETY: forwards every call to `System` unchanged; only adds a size check
// that aborts before allocating.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn check(size: usize) {
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit != 0 && size > limit {
        // No allocation here: write a fixed message and abort.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"fedhe-fuzz: single allocation over the input-proportional limit\n",
        );
        std::process::abort();
    }
}

#[global_allocator]
static GLOBAL: Guard = Guard;

/// Runs fuzz target `name` on `data` under the allocation guard.
pub fn run(name: &str, data: &[u8]) {
    // Build the shared world (not proportional to any input) unguarded.
    let keys = fedhe_keys::fuzzing::TARGETS.contains(&name);
    let config = name == config_target::CONFIG_TARGET;
    let learn = fedhe_learn::fuzzing::TARGETS.contains(&name);
    let node = fedhe_node::fuzzing::TARGETS.contains(&name);
    if keys {
        let _ = fedhe_keys::fuzzing::world();
    } else if node {
        let _ = fedhe_node::fuzzing::template();
    } else if !config && !learn {
        let _ = fedhe_protocols::fuzzing::world();
    }
    LIMIT.store((16 << 20) + 1024 * data.len(), Ordering::Relaxed);
    let known = if keys {
        fedhe_keys::fuzzing::run(name, data)
    } else if node {
        fedhe_node::fuzzing::run(name, data)
    } else if config {
        config_target::config(data);
        true
    } else if learn {
        fedhe_learn::fuzzing::run(name, data)
    } else {
        fedhe_protocols::fuzzing::run(name, data)
    };
    LIMIT.store(0, Ordering::Relaxed);
    assert!(known, "unknown fuzz target {name}");
}
